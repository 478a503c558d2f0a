"""The three result files of a job — valid, invalid, unknown — streamed from the store.

Each row is the uploaded row, its original columns in order, followed by the result columns;
rows keep the file's order. The email column holds the address verified; where the cell said
more (``Jane <jane@example.com>``, two addresses), ``source_value`` holds the cell as given, and
a cell of several addresses gives a row for each. Risky addresses go to the unknown file with
``result`` saying ``risky``. Every cell goes through ``neutralize`` so no spreadsheet reads it
as a formula. Files are UTF-8 without a byte-order mark.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from mailsift.jobs.csvsafe import FORMULA_STARTS, LINE_END, neutralize, safe_cells
from mailsift.jobs.intake import column_names
from mailsift.store.engine import Store
from mailsift.store.models import Job
from mailsift.store.result_rows import local_reader, result_pieces

Which = Literal["valid", "invalid", "unknown"]
FILES: dict[Which, tuple[str, ...]] = {
    "valid": ("valid",),
    "invalid": ("invalid",),
    "unknown": ("unknown", "risky"),
}
RESULT_COLUMNS = (
    "result",
    "reason",
    "free",
    "disposable",
    "role",
    "accept_all",
    "did_you_mean",
    "mx_host",
    "smtp_code",
    "smtp_message",
    "source_value",
)


def result_filenames(job: Job) -> dict[Which, str]:
    """``<stem>-valid.csv`` and so on, from the uploaded file's name."""
    stem = Path(job.filename).stem or "list"
    return {which: f"{stem}-{which}.csv" for which in FILES}


def header_row(job: Job) -> list[str]:
    """The original header (``email`` / ``column_N`` where the file had none), then ours."""
    layout = job.layout or {}
    header = layout.get("header")
    email_column = int(layout.get("email_column", 0))
    width = max(int(layout.get("columns", 0)), len(header or ()))
    return [*column_names(header, width, email_column), *RESULT_COLUMNS]


def _email_column(job: Job) -> int:
    return int((job.layout or {}).get("email_column", 0))


ALL: Literal["all"] = "all"  # one more file: every address with its result, in file order


async def iter_result_csv(
    store: Store, job: Job, which: Which | Literal["all"]
) -> AsyncIterator[bytes]:
    """One result file as CSV bytes, a few thousand rows at a time, for HTTP downloads."""
    header = header_row(job)
    width, column = len(header) - len(RESULT_COLUMNS), _email_column(job)
    yield _encode([safe_cells(header)])
    chosen = None if which == ALL else FILES[which]
    async with result_pieces(store, job.id, chosen) as pieces:
        async for rows in pieces:
            yield _encode(_line(row, width, column) for row in rows)


async def write_results(store: Store, job: Job, out_dir: Path) -> dict[Which, Path]:
    """Write the three files into ``out_dir`` in one pass over the job; returns their paths.

    Each file appears complete or not at all (written aside, then renamed).
    """
    paths = {which: out_dir / name for which, name in result_filenames(job).items()}
    header = header_row(job)
    width = len(header) - len(RESULT_COLUMNS)
    sinks = await asyncio.to_thread(_Sinks.open, paths, _email_column(job))
    try:
        for which in FILES:
            sinks.writers[which].writerow(safe_cells(header))
        reader = local_reader(store, job.id)
        if reader is not None:  # SQLite: one thread reads and writes everything
            await asyncio.to_thread(_write_all, reader(), sinks, width)
        else:
            async with result_pieces(store, job.id) as pieces:
                async for rows in pieces:
                    sinks.write(rows, width)
                    await asyncio.to_thread(sinks.flush)
        await asyncio.to_thread(sinks.flush)
    finally:
        await asyncio.to_thread(sinks.close)
    await asyncio.to_thread(_publish, paths.values())
    return paths


_WHICH_OF: dict[str, Which] = {
    result: which for which, results in FILES.items() for result in results
}


def _write_all(pieces: Iterator[list[Any]], sinks: _Sinks, width: int) -> None:
    for rows in pieces:
        sinks.write(rows, width)
        sinks.flush()


class _Sinks:
    """One open ``.part`` file per result file, fed through in-memory CSV buffers."""

    def __init__(self, files: dict[Which, TextIO], email_column: int) -> None:
        self.files = files
        self.email_column = email_column
        self.buffers = {which: io.StringIO() for which in files}
        self.writers = {
            which: csv.writer(buffer, lineterminator=LINE_END)
            for which, buffer in self.buffers.items()
        }

    @classmethod
    def open(cls, paths: dict[Which, Path], email_column: int) -> _Sinks:
        next(iter(paths.values())).parent.mkdir(parents=True, exist_ok=True)
        files: dict[Which, TextIO] = {}
        try:
            for which, path in paths.items():
                files[which] = _part(path).open("w", encoding="utf-8", newline="")
        except BaseException:
            for file in files.values():
                file.close()
            raise
        return cls(files, email_column)

    def write(self, rows: Iterable[Sequence[Any]], width: int) -> None:
        writers, column = self.writers, self.email_column
        for row in rows:
            writers[_WHICH_OF[row[2]]].writerow(_line(row, width, column))

    def flush(self) -> None:
        for which, buffer in self.buffers.items():
            self.files[which].write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def _publish(paths: Iterable[Path]) -> None:
    for path in paths:
        os.replace(_part(path), path)


def _line(row: Sequence[Any], width: int, email_column: int) -> list[str]:
    """A result row. Result, reason, flags and code are our own words, never a formula;
    everything else comes from the file or a mail server and is neutralised."""
    cells, email, *verdict, suggestion, mx, code, message = row  # verdict: result .. accept_all
    line: list[str] = json.loads(cells)
    if len(line) < width:
        line.extend([""] * (width - len(line)))
    given = line[email_column]
    source = "" if given == email or given.strip() == email else neutralize(given)
    if _MAY_NEED_CARE.search(cells):  # one scan of the JSON text instead of one per cell
        line = _neutralized(line)
    line[email_column] = neutralize(email)
    line += verdict
    line += _neutralized((suggestion, mx))
    line += (code, neutralize(message), source)
    return line


# A JSON string starting with a formula character: `"=`, `"+`, `"-`, `"@`, or an escaped
# tab or CR. It may also match inside a string (after an escaped quote): then the slow path
# simply finds nothing to do.
_MAY_NEED_CARE = re.compile(r'"(?:[=+\-@]|\\[tr])')


def _neutralized(cells: Iterable[str]) -> list[str]:
    # ``neutralize`` for the few cells that need it: a million rows make the calls add up.
    return [neutralize(cell) if cell.startswith(FORMULA_STARTS) else cell for cell in cells]


def _encode(lines: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_END).writerows(lines)
    return buffer.getvalue().encode("utf-8")


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")
