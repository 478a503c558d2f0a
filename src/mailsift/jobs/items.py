"""Intake rows turned into ``job_items`` rows, numbered and batched for bulk inserts.

Rows hold plain values only (str, int, bool): they cross a process boundary as they are, and
the cells arrive already as JSON text. ``finished_at`` is not in the final rows; whoever stores
them adds it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from mailsift.jobs.intake import RawRow
from mailsift.verify.address import ParsedAddress
from mailsift.verify.model import Reason, Result

BATCH_ROWS = 5_000
MAX_PROBLEM_CHARS = 500
_SAMPLE_BYTES = 256 * 1024  # of a text list, to learn its bytes per row
_XLSX_BYTES_PER_ROW = 16  # compressed: a rough figure is enough

# Rows to verify, and rows final at intake (bad syntax); the columns in row order.
PENDING_COLUMNS = (
    "job_id", "seq", "row_no", "cells", "email", "normalized", "domain", "chunk", "free",
    "disposable", "role", "did_you_mean",
)  # fmt: skip
FINAL_COLUMNS = (
    "job_id", "seq", "row_no", "cells", "email", "result", "reason", "did_you_mean",
    "smtp_message",
)  # fmt: skip

# Plain str, not the enums: the rows must be marshallable.
_INVALID = Result.INVALID.value
_INVALID_EMAIL = Reason.INVALID_EMAIL.value
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(slots=True)
class ItemBatch:
    """Consecutive rows of one job, split by the statement that stores them."""

    pending: list[tuple[Any, ...]]
    final: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.pending) + len(self.final)


@dataclass(slots=True)
class ItemCounts:
    """What the batches held so far."""

    rows: int = 0
    pending: int = 0  # syntactically valid: they go to the workers
    columns: int = 0  # the widest row: result files need a name for every column
    chunks: int = 0  # chunk numbers dealt: 0 to chunks - 1


@dataclass(slots=True)
class DomainChunks:
    """Deals addresses into chunks of at most ``size`` by domain, as they stream in.

    A domain hashes to one of ``buckets`` buckets, and each bucket fills one chunk at a time:
    a chunk holds addresses of its bucket's domains only. With about one chunk's worth of
    addresses per bucket, a domain travels in one chunk with few others, and a large domain in
    chunks of its own, dealt as the list goes, so they spread over the queue. The SMTP
    sessions a chunk opens are then full, whatever the order of the list. One bucket deals the
    addresses in file order.
    """

    size: int
    buckets: int = 1
    dealt: int = 0  # chunk numbers handed out so far
    _open: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [chunk, its rows]

    def chunk_for(self, domain: str) -> int:
        bucket = zlib.crc32(domain.encode()) % self.buckets if self.buckets > 1 else 0
        slot = self._open.get(bucket)
        if slot is None or slot[1] >= self.size:
            slot = self._open[bucket] = [self.dealt, 0]
            self.dealt += 1
        slot[1] += 1
        return slot[0]


def chunk_buckets(path: Path, chunk_size: int, *, text: bool) -> int:
    """How many buckets ``DomainChunks`` should use for the list at ``path``: about one chunk's
    worth of addresses each, estimated from the file's size (and a text list's first lines)."""
    size = path.stat().st_size
    per_row: float = _XLSX_BYTES_PER_ROW
    if text:
        with path.open("rb") as file:
            head = file.read(_SAMPLE_BYTES)
        per_row = max(1.0, len(head) / max(1, head.count(b"\n")))
    return max(1, round(size / per_row / chunk_size))


def cells_json(cells: Sequence[str]) -> str:
    """``cells`` as a JSON array, built directly when no cell needs escaping (nearly always)."""
    joined = '","'.join(cells)
    # Printable (no control characters), no backslash, and the only quotes are the separators'
    # (there are none at all for no cells, hence the encoder's "[]").
    if joined.isprintable() and "\\" not in joined and joined.count('"') == 2 * len(cells) - 2:
        return f'["{joined}"]'
    return _encode_json(list(cells))


def item_batches(
    rows: Iterable[RawRow],
    job_id: int,
    chunk_size: int,
    counts: ItemCounts,
    *,
    size: int = BATCH_ROWS,
    buckets: int = 1,
) -> Generator[ItemBatch, None, None]:
    """``rows`` numbered in file order (``seq``), valid ones dealt into chunks by domain
    (``DomainChunks`` with ``buckets``), ``size`` a batch.

    ``counts`` is brought up to date before each batch is yielded.
    """
    rows = iter(rows)
    chunks = DomainChunks(chunk_size, buckets)
    while batch := _next_batch(islice(rows, size), job_id, chunks, counts):
        yield batch


def _next_batch(
    rows: Iterable[RawRow], job_id: int, chunks: DomainChunks, counts: ItemCounts
) -> ItemBatch:
    """One batch of ``rows``; this loop runs once per row, so it counts in local variables."""
    pending: list[tuple[Any, ...]] = []
    final: list[tuple[Any, ...]] = []
    seq, n_pending, widest = counts.rows, counts.pending, counts.columns
    chunk_for = chunks.chunk_for
    for row_no, cells, parsed in rows:
        if len(cells) > widest:
            widest = len(cells)
        if isinstance(parsed, ParsedAddress):
            pending.append((
                job_id, seq, row_no, cells_json(cells), parsed.given, parsed.normalized,
                parsed.domain, chunk_for(parsed.domain), parsed.free, parsed.disposable,
                parsed.role, parsed.did_you_mean,
            ))  # fmt: skip
            n_pending += 1
        else:
            final.append((
                job_id, seq, row_no, cells_json(cells), parsed.given, _INVALID, _INVALID_EMAIL,
                parsed.did_you_mean, parsed.message[:MAX_PROBLEM_CHARS],
            ))  # fmt: skip
        seq += 1
    counts.rows, counts.pending, counts.columns = seq, n_pending, widest
    counts.chunks = chunks.dealt
    return ItemBatch(pending, final)
