"""Intake rows turned into ``job_items`` rows, numbered and batched for bulk inserts.

Rows hold plain values only (str, int, bool): they cross a process boundary as they are, and
the cells arrive already as JSON text. ``finished_at`` is not in the final rows; whoever stores
them adds it.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
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
    chunk_ids: list[int] = field(default_factory=list)  # the chunk numbers dealt


@dataclass(slots=True)
class DomainChunks:
    """Deals addresses into chunks of at most ``size`` by domain, as they stream in.

    Each domain hashes to one of about ``expected_rows / size`` buckets, and each bucket fills
    one chunk at a time: a chunk holds addresses of its bucket's domains only, so a domain
    travels in one chunk with few others, and a large domain fills chunks of its own. The SMTP
    sessions a chunk opens are then full, whatever the order of the list.

    Chunks run in the order of their numbers, so ``plan`` first reserves numbers from a sample
    of the list: each bucket's chunks spread evenly over the numbers, those of the large
    buckets, which set a list's pace, from the very first. One bucket (a small list, or no
    estimate) deals the addresses in file order.
    """

    size: int
    expected_rows: int = 0  # an estimate of the addresses to deal
    ids: list[int] = field(default_factory=list)  # every chunk number dealt, in dealing order
    buckets: int = field(init=False)
    _open: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [chunk, its rows]
    _opened: Counter[int] = field(default_factory=Counter)  # bucket -> chunks opened
    _reserved: dict[int, list[int]] = field(default_factory=dict)  # bucket -> its numbers
    _next: int = 0  # the lowest number neither reserved nor dealt

    def __post_init__(self) -> None:
        self.buckets = max(1, round(self.expected_rows / self.size))

    def bucket(self, domain: str) -> int:
        return zlib.crc32(domain.encode()) % self.buckets if self.buckets > 1 else 0

    def plan(self, sample: Iterable[str]) -> None:
        """Reserve chunk numbers from the domains of the list's first addresses: a bucket
        expected to fill g > 1 chunks gets the places (i + 1/2) / g, i < g, in one shared
        order, and the s buckets of one chunk the places (j + 1/2) / s."""
        if self.buckets == 1 or self.ids or self._reserved:
            return
        seen = Counter(self.bucket(domain) for domain in sample)
        total = sum(seen.values())
        places, singles = [], []
        for bucket, count in sorted(seen.items()):
            chunks = max(1, math.ceil(count / total * self.expected_rows / self.size))
            if chunks == 1:
                singles.append(bucket)
            places += [((i + 0.5) / chunks, -chunks, bucket) for i in range(chunks) if chunks > 1]
        # Buckets of one chunk spread over the order as one group would, not all in its middle.
        places += [((i + 0.5) / len(singles), -1, b) for i, b in enumerate(singles)]
        for number, (_, _, bucket) in enumerate(sorted(places)):
            self._reserved.setdefault(bucket, []).append(number)
        self._next = len(places)

    def chunk_for(self, domain: str) -> int:
        bucket = self.bucket(domain)
        slot = self._open.get(bucket)
        if slot is None or slot[1] >= self.size:
            slot = self._open[bucket] = [self._number_for(bucket), 0]
        slot[1] += 1
        return slot[0]

    def _number_for(self, bucket: int) -> int:
        reserved, nth = self._reserved.get(bucket, []), self._opened[bucket]
        self._opened[bucket] += 1
        if nth < len(reserved):
            number = reserved[nth]
        else:  # more than the sample promised, or a bucket it did not show
            number, self._next = self._next, self._next + 1
        self.ids.append(number)
        return number


def estimated_rows(path: Path, *, text: bool) -> int:
    """About how many rows the list at ``path`` has: its size over the bytes per row of its
    first lines (for a text list) or of a typical spreadsheet row."""
    size = path.stat().st_size
    per_row: float = _XLSX_BYTES_PER_ROW
    if text:
        with path.open("rb") as file:
            head = file.read(_SAMPLE_BYTES)
        per_row = max(1.0, len(head) / max(1, head.count(b"\n")))
    return round(size / per_row)


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
    expected_rows: int = 0,
) -> Generator[ItemBatch, None, None]:
    """``rows`` numbered in file order (``seq``), valid ones dealt into chunks by domain
    (``DomainChunks``, planned on the first batch), ``size`` a batch.

    ``counts`` is brought up to date before each batch is yielded.
    """
    rows = iter(rows)
    chunks = DomainChunks(chunk_size, expected_rows)
    first = list(islice(rows, size))
    chunks.plan(parsed.domain for _, _, parsed in first if isinstance(parsed, ParsedAddress))
    batch = _next_batch(first, job_id, chunks, counts)
    while batch:
        yield batch
        batch = _next_batch(islice(rows, size), job_id, chunks, counts)


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
    counts.chunk_ids = chunks.ids
    return ItemBatch(pending, final)
