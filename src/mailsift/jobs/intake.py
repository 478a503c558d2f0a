"""List intake: find an uploaded list's layout, then stream its rows, deduplicated and checked.

Two steps, both streaming (a file is never held whole in memory):

- ``sniff_layout`` checks the file (size, binary content, encoding, line lengths) and samples its
  first rows to find the format, the delimiter, the header row and the email column.
- ``read_list`` yields one ``IntakeRow`` per first occurrence of each address, syntax-invalid rows
  included, and counts everything it skips in an ``IntakeStats``; ``read_rows`` yields the same
  rows as plain tuples.

Every problem with the file itself is an ``IntakeError`` whose message is meant for its sender.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from mailsift.jobs.formats.base import DEFAULT_LIMITS, IntakeError, IntakeLimits, describe_size
from mailsift.jobs.formats.columns import (
    EmailColumn,
    IsAddress,
    choose_delimiter,
    locate_email_column,
)
from mailsift.jobs.formats.magic import detect_container
from mailsift.jobs.formats.text import iter_lines, iter_records, open_text, read_sample, scan_text
from mailsift.jobs.formats.xlsx import SAMPLE_ROWS, Sheet, check_archive
from mailsift.verify.address import ParsedAddress, SyntaxProblem, parse_address

__all__ = [
    "IntakeError",
    "IntakeLimits",
    "IntakeRow",
    "IntakeStats",
    "ListLayout",
    "RawRow",
    "read_list",
    "read_rows",
    "sniff_layout",
]

_SAMPLE_LINES = 1000
_DELIMITERS = (",", ";", "\t", "|")
_MARKUP_STARTS = ("<!doctype", "<html", "<?xml", "<table")
_KEY_MASK = (1 << 64) - 1


def _dedupe_key(text: str) -> int:
    """128 bits from two independent string hashes: compact, and never confused in practice."""
    return ((hash(text) & _KEY_MASK) << 64) | (hash(text + "\0") & _KEY_MASK)


EMPTY = "The file is empty."
NO_EMAIL_COLUMN = (
    "No column of email addresses was found: put the addresses in one column, "
    'ideally under a header named "email".'
)


@dataclass(frozen=True, slots=True)
class ListLayout:
    """How to read one list: what ``sniff_layout`` found and ``read_list`` follows."""

    format: str  # "csv" | "tsv" | "txt" | "xlsx"
    encoding: str  # a Python codec name ("utf-8", "utf-8-sig", "utf-16", "cp1252"); "" for xlsx
    delimiter: str  # "," ";" "\t" "|", or "" for txt and xlsx
    header: tuple[str, ...] | None  # the header row's cells, or None when the file has none
    email_column: int  # 0-based


class IntakeRow(NamedTuple):
    """One data row worth verifying: the first with its address, or one whose address is bad.

    A named tuple: one is made per row, several times faster than a frozen dataclass.
    """

    row_no: int  # 1-based data row number in the file (header not counted, blank rows counted)
    cells: tuple[str, ...]  # every original cell, in order
    parsed: ParsedAddress | SyntaxProblem


RawRow = tuple[int, Sequence[str], ParsedAddress | SyntaxProblem]
"""An ``IntakeRow`` as ``read_rows`` yields it: (row_no, cells, parsed)."""


@dataclass
class IntakeStats:
    """Counts kept up to date while ``read_list`` runs.

    ``rows == unique + duplicates + blank + syntax_invalid``; ``unique`` counts the yielded valid
    addresses, ``syntax_invalid`` the yielded invalid ones.
    """

    rows: int = 0
    unique: int = 0
    duplicates: int = 0
    blank: int = 0
    syntax_invalid: int = 0


def sniff_layout(
    path: Path, *, filename: str | None = None, limits: IntakeLimits = DEFAULT_LIMITS
) -> ListLayout:
    """The layout of the list at ``path``; ``filename`` (as uploaded) only breaks ties.

    Raises IntakeError for any file that cannot be taken in.
    """
    _check_size(path, limits)
    with path.open("rb") as fh:
        head = fh.read(16)
    if detect_container(head) == "zip":
        return _sniff_xlsx(path, limits)
    return _sniff_text(path, filename or "", limits)


def _check_size(path: Path, limits: IntakeLimits) -> None:
    size = path.stat().st_size
    if size == 0:
        raise IntakeError(EMPTY)
    if size > limits.max_bytes:
        raise IntakeError(
            f"The file is {describe_size(size)}, more than the "
            f"{describe_size(limits.max_bytes)} allowed."
        )


def _sniff_text(path: Path, filename: str, limits: IntakeLimits) -> ListLayout:
    scan = scan_text(path, limits)
    if scan.blank:
        raise IntakeError(EMPTY)
    lines, complete = read_sample(path, scan.encoding, limits, _SAMPLE_LINES)
    _refuse_markup(lines)
    table = choose_delimiter(lines, _candidates(filename), _address_test(), complete=complete)
    if table is None:
        raise IntakeError(NO_EMAIL_COLUMN)
    header_row = table.email.header_row
    if complete:
        _refuse_addressless(table.rows, table.email)
    _check_width(max(len(row) for row in table.rows), limits)
    # Without quotes every line is one record, so the count is known before reading.
    if not scan.has_quotes and scan.lines - 1 - (header_row is not None) > limits.max_rows:
        raise _too_many_rows(limits)
    return ListLayout(
        format="txt" if not table.delimiter else "tsv" if table.delimiter == "\t" else "csv",
        encoding=scan.encoding,
        delimiter=table.delimiter,
        header=None if header_row is None else tuple(table.rows[header_row]),
        email_column=table.email.column,
    )


def _candidates(filename: str) -> tuple[str, ...]:
    if filename.lower().endswith((".tsv", ".tab")):
        return ("\t", *(d for d in _DELIMITERS if d != "\t"))
    return _DELIMITERS


def _refuse_markup(lines: list[str]) -> None:
    first = next((line.strip().lower() for line in lines if line.strip()), "")
    if first.startswith(_MARKUP_STARTS):
        raise IntakeError(
            "This is a web page or XML document, not a list: upload a CSV, TXT or XLSX file."
        )


def _sniff_xlsx(path: Path, limits: IntakeLimits) -> ListLayout:
    check_archive(path, limits)
    with Sheet(path) as sheet:
        width = sheet.width(limits)
        rows = list(sheet.rows(width, max_row=SAMPLE_ROWS)) if width else []
    email = locate_email_column(rows, _address_test())
    if email is None:
        raise IntakeError(NO_EMAIL_COLUMN if rows else "The first sheet of the workbook is empty.")
    if len(rows) < SAMPLE_ROWS:  # the whole sheet
        _refuse_addressless(rows, email)
    header_row = email.header_row
    return ListLayout(
        format="xlsx",
        encoding="",
        delimiter="",
        header=None if header_row is None else tuple(rows[header_row]),
        email_column=email.column,
    )


def _refuse_addressless(rows: list[list[str]], email: EmailColumn) -> None:
    """Refuse a whole file whose email column is empty below its header."""
    below = rows if email.header_row is None else rows[email.header_row + 1 :]
    column = email.column
    if not any(column < len(row) and row[column].strip() for row in below):
        raise IntakeError("The file has no addresses: its email column is empty.")


def _address_test() -> IsAddress:
    """A cached "is this cell an address" for sampling, where cells repeat across candidates."""
    known: dict[str, bool] = {}

    def is_address(cell: str) -> bool:
        if "@" not in cell:
            return False
        if cell not in known:
            known[cell] = isinstance(parse_address(cell), ParsedAddress)
        return known[cell]

    return is_address


def _check_width(width: int, limits: IntakeLimits, row_no: int | None = None) -> None:
    if width > limits.max_columns:
        where = "The file" if row_no is None else f"Row {row_no}"
        raise IntakeError(
            f"{where} has {width} columns, more than the {limits.max_columns} allowed."
        )


def _too_many_rows(limits: IntakeLimits) -> IntakeError:
    return IntakeError(f"The list has more than {limits.max_rows:,} rows, the most allowed.")


def read_list(
    path: Path, layout: ListLayout, stats: IntakeStats, *, limits: IntakeLimits = DEFAULT_LIMITS
) -> Iterator[IntakeRow]:
    """The rows of the list at ``path`` read as ``layout`` says, as they stream from the file.

    Yields the first row of each normalised address and the first of each distinct invalid text;
    skips (and counts in ``stats``) later duplicates and rows whose email cell is blank. Raises
    IntakeError for a problem in the file, before the first row when it can be seen up front.
    """
    for row_no, cells, parsed in read_rows(path, layout, stats, limits=limits):
        yield IntakeRow(row_no, tuple(cells), parsed)


def read_rows(
    path: Path, layout: ListLayout, stats: IntakeStats, *, limits: IntakeLimits = DEFAULT_LIMITS
) -> Iterator[RawRow]:
    """The rows of ``read_list`` as plain tuples, for bulk readers: each costs less to make."""
    _check_size(path, limits)
    if layout.format == "xlsx":
        records = _xlsx_records(path, layout, limits)
    else:
        records = _text_records(path, layout, limits)
    yield from _intake_rows(records, layout.email_column, stats, limits)


def _text_records(path: Path, layout: ListLayout, limits: IntakeLimits) -> Iterator[list[str]]:
    with open_text(path, layout.encoding) as fh:
        lines = iter_lines(fh, layout.encoding, limits)
        yield from _after_header(iter_records(lines, layout.delimiter), layout)


def _xlsx_records(path: Path, layout: ListLayout, limits: IntakeLimits) -> Iterator[list[str]]:
    check_archive(path, limits)
    with Sheet(path) as sheet:
        width = sheet.width(limits)
        if width:
            yield from _after_header(sheet.rows(width), layout)


def _after_header(records: Iterator[list[str]], layout: ListLayout) -> Iterator[list[str]]:
    """The data records: without the header row and the blank rows above it, if there is one."""
    if layout.header is None:
        return records
    for record in records:
        if any(cell.strip() for cell in record):
            break  # the header
    return records


def _intake_rows(
    records: Iterator[list[str]], column: int, stats: IntakeStats, limits: IntakeLimits
) -> Iterator[RawRow]:
    """Dedupe and syntax-check the data records; this loop runs once per row, so it is lean.

    Seen addresses are kept as 128-bit hash keys, not strings: both the trimmed text (so that an
    exact repeat skips parsing) and the normalised address (so that ``a@X.com`` repeats
    ``a@x.com``). Normalising is idempotent, so a text equal to a normalised address is that
    address. The odds that two of five million distinct addresses share a key (and so that one
    is taken for a duplicate) are below 1 in 10^25.
    """
    seen: set[int] = set()
    max_rows = limits.max_rows
    row_no = 0
    for cells in records:
        row_no += 1
        if row_no > max_rows:
            raise _too_many_rows(limits)
        if len(cells) > limits.max_columns:
            _check_width(len(cells), limits, row_no)
        stats.rows += 1
        text = cells[column].strip() if column < len(cells) else ""
        if not text:
            stats.blank += 1
            continue
        key = _dedupe_key(text)
        if key in seen:
            stats.duplicates += 1
            continue
        parsed = parse_address(text)
        if isinstance(parsed, ParsedAddress):
            if parsed.normalized != text:
                normalized_key = _dedupe_key(parsed.normalized)
                if normalized_key in seen:
                    stats.duplicates += 1
                    continue
                seen.add(normalized_key)
            stats.unique += 1
        else:
            stats.syntax_invalid += 1
        seen.add(key)
        yield row_no, cells, parsed
