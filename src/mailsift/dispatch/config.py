"""Settings of the PostgreSQL queue and of cluster workers, read from ``MAILSIFT_*``."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class QueueSettings(BaseSettings):
    """How workers share chunks through procrastinate, and connections through host slots."""

    model_config = SettingsConfigDict(env_prefix="MAILSIFT_", extra="ignore")

    # How often an idle worker looks for due chunks. New chunks wake it at once (LISTEN);
    # greylist retries scheduled for later are found by this polling.
    queue_poll_interval: float = Field(default=1.0, gt=0)
    # A worker process proves it is alive this often...
    worker_heartbeat: float = Field(default=10.0, gt=0)
    # ...and after this long without a sign of life its chunks are run by others.
    worker_stalled_after: float = Field(default=60.0, gt=0)
    # A stopping worker lets the chunks it runs finish this long, then queues them again.
    worker_shutdown_grace: float = Field(default=10.0, ge=0)
    # Finished queue entries are kept this many hours, then deleted (0: at the next sweep).
    queue_keep_hours: int = Field(default=24, ge=0)
    # A worker's claim on a connection to a mail server lasts this long unless renewed; a
    # worker that dies keeps its connections' slots this long at most.
    host_slot_ttl: float = Field(default=30.0, gt=0)

    @field_validator("worker_stalled_after")
    @classmethod
    def _longer_than_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("worker_heartbeat")
        if heartbeat is not None and value <= 2 * heartbeat:
            raise ValueError("must be more than twice MAILSIFT_WORKER_HEARTBEAT")
        return value

    @property
    def sweep_interval(self) -> float:
        """How often a worker looks for stalled and orphaned chunks."""
        return min(self.worker_stalled_after / 2, 60.0)

    @property
    def prune_interval(self) -> float:
        """How often finished queue entries are deleted: a quarter of the keep time, at most
        hourly, at least every sweep."""
        return max(self.sweep_interval, min(3600.0, self.queue_keep_hours * 900.0))
