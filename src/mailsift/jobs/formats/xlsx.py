"""XLSX lists: the ZIP container checked before opening, then its worksheets read as streams.

The sheet's declared dimension is not trusted (a sheet may claim A1:XFD1048576): the width read is
the one the first rows really use (cells right of it in later rows are not read), and rows are
read until the sheet ends or the row limit.
"""

from __future__ import annotations

import datetime as dt
import struct
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from mailsift.jobs.formats.base import IntakeError, IntakeLimits, describe_size

SAMPLE_ROWS = 500

# A real workbook has a few dozen parts; its XML compresses maybe 5-20 times, rarely 100.
_MAX_PARTS = 10_000
_MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
_MAX_RATIO = 200
_RATIO_FLOOR = 1024 * 1024  # small parts may compress as well as they like

_END_OF_DIRECTORY = b"PK\x05\x06"

DAMAGED = (
    "The XLSX file is damaged or is not an Excel workbook: open it in Excel and save it again."
)


def check_archive(path: Path, limits: IntakeLimits) -> None:
    """Refuse a damaged ZIP, a ZIP that is not a workbook, and a ZIP bomb, before unpacking."""
    _check_directory_size(path)
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise IntakeError(DAMAGED) from None
    names = {part.filename for part in parts}
    if "xl/workbook.xml" not in names:
        raise IntakeError(_not_a_workbook(names))
    # zipfile never inflates a part beyond its declared size, so the declared sizes bound the work.
    total = sum(part.file_size for part in parts)
    if total > limits.max_xlsx_uncompressed_bytes:
        raise IntakeError(
            f"The XLSX file unpacks to {describe_size(total)}, more than the "
            f"{describe_size(limits.max_xlsx_uncompressed_bytes)} allowed."
        )
    for part in parts:
        if part.file_size > _RATIO_FLOOR and part.file_size > _MAX_RATIO * part.compress_size:
            raise IntakeError(
                "The XLSX file is compressed to an implausible degree (a 'zip bomb'): refused."
            )


def _check_directory_size(path: Path) -> None:
    """Refuse a ZIP whose table of contents alone would take a lot of memory to list."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65_557))  # the end record plus the longest comment
        tail = fh.read()
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < 22:
        raise IntakeError(DAMAGED)
    entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
    if entries > _MAX_PARTS or directory_bytes > _MAX_DIRECTORY_BYTES:
        raise IntakeError("The file is a ZIP archive with far too many parts to be a workbook.")


def _not_a_workbook(names: set[str]) -> str:
    if "content.xml" in names and "mimetype" in names:
        return "This is an OpenDocument spreadsheet (.ods): save it as .xlsx or CSV."
    if "word/document.xml" in names:
        return "This is a Word document, not a list: upload a CSV, TXT or XLSX file."
    return "This is a ZIP archive, not an Excel workbook: upload the CSV, TXT or XLSX file itself."


def cell_text(value: object) -> str:
    """A cell value as the text a person sees in the sheet."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers and ids, not "4915112345678.0"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class SheetInfo:
    """One worksheet of a workbook: its name, 1-based position and whether it is hidden."""

    name: str
    number: int
    hidden: bool


class Workbook:
    """A workbook open for reading, one worksheet at a time; close it (or use ``with``)."""

    def __init__(self, path: Path) -> None:
        # Opened here, not by openpyxl: it leaves its file open when a damaged part stops it.
        self._file = path.open("rb")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions
                self._book: Any = load_workbook(self._file, read_only=True, data_only=True)
                self._sheets: list[Any] = list(self._book.worksheets)
        except Exception:  # openpyxl raises many kinds on bad input: all mean "damaged"
            self._file.close()
            raise IntakeError(DAMAGED) from None
        if not self._sheets:
            self.close()
            raise IntakeError("The XLSX file has no worksheet.")
        self.sheets = tuple(
            SheetInfo(str(sheet.title), n, sheet.sheet_state != "visible")
            for n, sheet in enumerate(self._sheets, 1)
        )

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._book.close()
        finally:
            self._file.close()

    def sheet(self, name: str) -> Sheet:
        """The worksheet called ``name`` (the first one for "", as older layouts say)."""
        if not name:
            return Sheet(self._sheets[0])
        for info, sheet in zip(self.sheets, self._sheets, strict=True):
            if info.name == name:
                return Sheet(sheet)
        raise IntakeError(f"The workbook has no sheet named {name!r} any more.")


class Sheet:
    """One worksheet of an open ``Workbook``, read as a stream of rows."""

    def __init__(self, sheet: Any) -> None:
        self.name = str(sheet.title)
        self._sheet = sheet
        self._sheet.reset_dimensions()

    def width(self, limits: IntakeLimits) -> int:
        """Columns the first rows use (up to their last non-empty cell); refuses too many."""
        width = 0
        for values in self._values(max_row=SAMPLE_ROWS, max_col=None):
            used = len(values)
            while used and values[used - 1] is None:
                used -= 1
            width = max(width, used)
        if width > limits.max_columns:
            raise IntakeError(
                f"The sheet {self.name!r} has {width} columns, more than the "
                f"{limits.max_columns} allowed."
            )
        return width

    def rows(self, width: int, max_row: int | None = None) -> Iterator[list[str]]:
        """Rows up to ``max_row`` as ``width`` texts each; missing rows come as blank rows."""
        for values in self._values(max_row=max_row, max_col=width):
            if values.count(None) == width:
                yield [""] * width
            else:
                yield [cell_text(value) for value in values]

    def _values(self, max_row: int | None, max_col: int | None) -> Iterator[Sequence[object]]:
        """Cell values by row; with ``max_col`` None, each row ends at its own last cell."""
        rows = self._sheet.iter_rows(max_row=max_row, max_col=max_col, values_only=True)
        try:
            yield from rows
        except Exception:  # damaged XML or cell references surface only while reading
            raise IntakeError(DAMAGED) from None
