"""CSV result files that spreadsheets open safely.

A cell that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``, tab or
carriage return) gets a leading ``'``, as OWASP advises against CSV injection: Excel and
LibreOffice then show it as text.

Files are UTF-8 without byte-order mark (``bom=True`` adds one, which older Excel needs to see
accents right), fields quoted only when needed, lines ending in CRLF as RFC 4180 and Excel have it.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LINE_END = "\r\n"


def neutralize(cell: str) -> str:
    """``cell``, prefixed with ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def safe_cells(cells: Iterable[object]) -> list[str]:
    """Cells as neutralised text; None is an empty cell."""
    return [neutralize("" if cell is None else str(cell)) for cell in cells]


def write_rows(
    fh: TextIO, rows: Iterable[Iterable[object]], *, header: Iterable[object] | None = None
) -> int:
    """Write ``header`` (if any) and ``rows`` as CSV to ``fh``; returns the data rows written.

    ``fh`` is a text file opened with ``newline=""`` and ``encoding="utf-8"`` (``"utf-8-sig"``
    for a byte-order mark).
    """
    writer = csv.writer(fh, lineterminator=LINE_END)
    if header is not None:
        writer.writerow(safe_cells(header))
    written = 0
    for row in rows:
        writer.writerow(safe_cells(row))
        written += 1
    return written


def iter_csv_bytes(
    rows: Iterable[Iterable[object]],
    *,
    header: Iterable[object] | None = None,
    bom: bool = False,
    batch_rows: int = 1000,
) -> Iterator[bytes]:
    """The CSV ``write_rows`` writes, as UTF-8 chunks of ``batch_rows`` rows, for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    if bom:
        yield codecs.BOM_UTF8
    if header is not None:
        writer.writerow(safe_cells(header))
    pending = 0
    for row in rows:
        writer.writerow(safe_cells(row))
        pending += 1
        if pending >= batch_rows:
            yield _drain(buffer)
            pending = 0
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data
