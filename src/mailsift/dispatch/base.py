"""The dispatch port: how jobs hand their chunks to workers, whatever runs the workers.

A job's chunks are already in the ``chunks`` table when it is submitted. A dispatcher's
workers take them one at a time and call a ``ChunkRunner`` on each. The runner is
idempotent (a chunk run twice never counts twice), so a dispatcher may deliver a chunk more
than once; it must never drop one.
"""

from __future__ import annotations

from typing import Protocol

from mailsift.store.chunks import ChunkRef

__all__ = ["ChunkRef", "ChunkRunner", "Dispatcher"]


class ChunkRunner(Protocol):
    """Verifies the unfinished addresses of one chunk and stores their results.

    Returns ``None`` when the chunk is done, or the seconds after which to run it again: some
    addresses were handed back to be asked later (greylisting). Only a dispatcher that can
    schedule runs uses a runner that hands addresses back.
    """

    async def __call__(self, ref: ChunkRef) -> float | None: ...


class Dispatcher(Protocol):
    """Runs chunks of queued jobs on workers until stopped."""

    async def start(self) -> None:
        """Start the workers; chunks left unfinished by a previous run become claimable."""

    async def submit(self, job_id: int) -> None:
        """Tell the workers that ``job_id`` has chunks queued."""

    async def stop(self) -> None:
        """Stop the workers; an interrupted chunk stays in the queue for the next start."""
