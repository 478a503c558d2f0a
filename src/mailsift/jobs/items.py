"""Intake rows turned into ``job_items`` rows, numbered and batched for bulk inserts.

Rows hold plain values only (str, int, bool): they cross a process boundary as they are, and
the cells arrive already as JSON text. ``finished_at`` is not in the final rows; whoever stores
them adds it.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from mailsift.jobs.intake import RawRow
from mailsift.verify.address import ParsedAddress
from mailsift.verify.model import Reason, Result

BATCH_ROWS = 5_000
MAX_PROBLEM_CHARS = 500

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

    def chunks(self, chunk_size: int) -> int:
        return -(-self.pending // chunk_size)


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
) -> Generator[ItemBatch, None, None]:
    """``rows`` numbered in file order (``seq``), valid ones dealt into chunks, ``size`` a batch.

    ``counts`` is brought up to date before each batch is yielded.
    """
    rows = iter(rows)
    while batch := _next_batch(islice(rows, size), job_id, chunk_size, counts):
        yield batch


def _next_batch(
    rows: Iterable[RawRow], job_id: int, chunk_size: int, counts: ItemCounts
) -> ItemBatch:
    """One batch of ``rows``; this loop runs once per row, so it counts in local variables."""
    pending: list[tuple[Any, ...]] = []
    final: list[tuple[Any, ...]] = []
    seq, n_pending, widest = counts.rows, counts.pending, counts.columns
    for row_no, cells, parsed in rows:
        if len(cells) > widest:
            widest = len(cells)
        if isinstance(parsed, ParsedAddress):
            pending.append((
                job_id, seq, row_no, cells_json(cells), parsed.given, parsed.normalized,
                parsed.domain, n_pending // chunk_size, parsed.free, parsed.disposable,
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
    return ItemBatch(pending, final)
