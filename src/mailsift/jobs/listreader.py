"""Reading a list in a child process, so that reading and storing it use two cores.

Parsing a list is Python work that holds the GIL; storing it is mostly the database's own.
``batches_in_child`` starts ``python -m mailsift.jobs.listreader``, which reads the list with
``read_rows``, builds the ``job_items`` rows with ``item_batches`` and streams them back while
the parent stores the previous ones.

The protocol: the request goes to the child's stdin as JSON; the child answers on its stdout
with frames, each a 4-byte length and a ``marshal``-ed tuple:
``("batch", pending, final)`` any number of times, then one of ``("done", stats, counts)``,
``("refused", message)`` (an ``IntakeError``) or ``("failed", traceback)``.

The child never outlives the intake: the parent kills it when it stops reading early (an error,
a cancellation), and a child whose parent died gets a broken pipe at its next write and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import os
import signal
import struct
import sys
import traceback
from collections.abc import AsyncGenerator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from mailsift.jobs.intake import IntakeError, IntakeLimits, IntakeStats, ListLayout, read_rows
from mailsift.jobs.items import ItemBatch, ItemCounts, item_batches

__all__ = ["ListReaderError", "batches_in_child"]

_MODULE = "mailsift.jobs.listreader"
_HEADER = struct.Struct("<I")
_STREAM_LIMIT = 1 << 20  # the parent buffers up to about twice this before the child waits


class ListReaderError(RuntimeError):
    """The child process failed for a reason other than the list itself."""


# --- the parent's side -------------------------------------------------------------------------


async def batches_in_child(
    path: Path,
    layout: ListLayout,
    limits: IntakeLimits,
    *,
    job_id: int,
    chunk_size: int,
    stats: IntakeStats,
    counts: ItemCounts,
    expected_rows: int = 0,
) -> AsyncGenerator[ItemBatch, None]:
    """The batches of ``item_batches`` over ``read_rows``, read by a child process.

    ``stats`` and ``counts`` are filled in when the last batch has been yielded. Raises
    ``IntakeError`` as ``read_rows`` would, ``ListReaderError`` when the child fails otherwise.
    Close the generator (``contextlib.aclosing``) so that the child is stopped at once.
    """
    request = {
        "path": str(path),
        "layout": asdict(layout),
        "limits": asdict(limits),
        "job_id": job_id,
        "chunk_size": chunk_size,
        "expected_rows": expected_rows,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        _MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_STREAM_LIMIT,
    )
    finished = False
    try:
        await _send_request(child, request)
        while True:
            message = await _receive(child)
            kind = message[0]
            if kind == "batch":
                yield ItemBatch(message[1], message[2])
            elif kind == "done":
                _fill(stats, message[1])
                _fill(counts, message[2])
                finished = True
                return
            elif kind == "refused":
                raise IntakeError(message[1])
            else:
                raise ListReaderError(f"The list reader failed:\n{message[1]}")
    finally:
        if not finished and child.returncode is None:
            child.kill()
        await child.wait()


async def _send_request(child: asyncio.subprocess.Process, request: dict[str, Any]) -> None:
    assert child.stdin is not None
    child.stdin.write(json.dumps(request).encode())
    with contextlib.suppress(ConnectionError):  # a child that died at once is reported below
        await child.stdin.drain()
    child.stdin.close()


async def _receive(child: asyncio.subprocess.Process) -> tuple[Any, ...]:
    assert child.stdout is not None
    try:
        (size,) = _HEADER.unpack(await child.stdout.readexactly(_HEADER.size))
        payload = await child.stdout.readexactly(size)
    except asyncio.IncompleteReadError:
        status = await child.wait()
        raise ListReaderError(f"The list reader stopped early (exit status {status}).") from None
    message: tuple[Any, ...] = marshal.loads(payload)  # noqa: S302 (our own child's output)
    return message


def _fill(target: IntakeStats | ItemCounts, values: dict[str, int]) -> None:
    for name, value in values.items():
        setattr(target, name, value)


# --- the child's side --------------------------------------------------------------------------


def main() -> int:
    """Serve one request from stdin; frames go to what was stdout, stray prints to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a terminal is the parent's to handle
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    request = sys.stdin.buffer.read()
    if not request:  # the parent died before it asked
        return 1
    try:
        _serve(json.loads(request), frames)
    except BrokenPipeError:  # the parent is gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), frames.fileno())  # nothing left to flush to
        return 1
    frames.close()
    return 0


def _serve(request: dict[str, Any], frames: IO[bytes]) -> None:
    stats, counts = IntakeStats(), ItemCounts()
    try:
        layout = request["layout"]
        header = layout["header"]
        rows = read_rows(
            Path(request["path"]),
            ListLayout(**{**layout, "header": None if header is None else tuple(header)}),
            stats,
            limits=IntakeLimits(**request["limits"]),
        )
        batches = item_batches(
            rows,
            request["job_id"],
            request["chunk_size"],
            counts,
            expected_rows=request["expected_rows"],
        )
        for batch in batches:
            _send(frames, ("batch", batch.pending, batch.final))
    except BrokenPipeError:
        raise
    except IntakeError as exc:
        _send(frames, ("refused", exc.message))
    except Exception:
        _send(frames, ("failed", traceback.format_exc()))
    else:
        _send(frames, ("done", asdict(stats), asdict(counts)))


def _send(frames: IO[bytes], message: tuple[Any, ...]) -> None:
    payload = marshal.dumps(message)
    frames.write(_HEADER.pack(len(payload)))
    frames.write(payload)
    frames.flush()


if __name__ == "__main__":
    sys.exit(main())
