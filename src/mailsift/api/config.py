"""Settings of the HTTP API, read from ``MAILSIFT_*`` like ``mailsift.settings.Settings``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DAY = 24 * 3600.0
# Pauses after each failed callback delivery, in seconds: about Standard Webhooks' own.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 86400.0)


class ApiSettings(BaseSettings):
    """What the API server needs beyond the engine's settings."""

    model_config = SettingsConfigDict(env_prefix="MAILSIFT_", extra="ignore")

    # Where users reach this server; empty: the address each request came in on.
    public_url: str = ""
    # How long a result link works, in seconds.
    link_ttl: float = Field(default=7 * DAY, gt=0)
    # Signs result links; empty: a random key kept in <data_dir>/secret.key. Servers that
    # share a database must share this key (or the file).
    secret_key: str = ""
    # The largest request body /batch_process/ takes (all files together), in bytes.
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # The largest body of the other calls (and of a JSON or url-encoded batch), in bytes.
    max_form_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_files_per_upload: int = Field(default=20, ge=1)
    # Real-time verifications one account may ask for per minute; 0: no limit.
    realtime_rate_per_minute: int = Field(default=120, ge=0)
    # The real-time call's answer time when the request sets no ``timeout``.
    realtime_timeout: float = Field(default=30.0, ge=2, le=60)
    # Unfinished jobs (queued or processing) one account may have at once; 0: no limit.
    max_jobs_in_flight: int = Field(default=10, ge=0)
    # Chunk workers inside ``mailsift serve``.
    workers: int = Field(default=4, ge=1)
    # One log line per request (costs about a tenth of the server's throughput).
    access_log: bool = False
    # --- callbacks (the outbox relay) ---------------------------------------------------
    # Pauses after each failed delivery, in seconds, comma-separated: one attempt more than
    # pauses in all.
    callback_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE)
    )
    callback_timeout: float = Field(default=15.0, gt=0)  # one attempt, connection included
    callback_poll_interval: float = Field(default=2.0, gt=0)  # how often a relay looks

    # --- limits shared by every API server (kept in the database) -----------------------
    # Failed token attempts one client address may make per minute (then 429); 0: no limit.
    auth_failures_per_minute: int = Field(default=20, ge=0)

    @field_validator("callback_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("callback_schedule")
    @classmethod
    def _pauses_are_positive(cls, value: list[float]) -> list[float]:
        if any(pause < 0 for pause in value):
            raise ValueError("pauses cannot be negative")
        return value

    # Web pages on these origins may call the API from a browser (comma-separated,
    # e.g. "https://tools.example.com"); empty: no cross-origin access. "*" allows any.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def url_host(host: str) -> str:
    """``host`` as it goes into a URL for a browser on this machine."""
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine answers locally
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
