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
from mailsift.jobs.formats.cells import BARE_ADDRESS, cell_addresses, is_blank_cell
from mailsift.jobs.formats.columns import (
    Basis,
    EmailColumn,
    IsAddress,
    choose_delimiter,
    first_text_row,
    header_cells,
    header_for_choice,
    locate_email_column,
    resolve_column,
    split_by_shape,
)
from mailsift.jobs.formats.magic import detect_container
from mailsift.jobs.formats.text import iter_lines, iter_records, open_text, read_sample, scan_text
from mailsift.jobs.formats.xlsx import SAMPLE_ROWS, SheetInfo, Workbook, check_archive
from mailsift.verify.address import ParsedAddress, SyntaxProblem, parse_address

__all__ = [
    "IntakeError",
    "IntakeLimits",
    "IntakeRow",
    "IntakeStats",
    "ListLayout",
    "RawRow",
    "SheetInfo",
    "SniffedList",
    "UnknownChoice",
    "column_names",
    "read_list",
    "read_records",
    "read_rows",
    "sniff_layout",
    "sniff_list",
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


class UnknownChoice(IntakeError):
    """The sender named a sheet or column the file does not have; the message names those it has."""


@dataclass(frozen=True, slots=True)
class ListLayout:
    """How to read one list: what ``sniff_layout`` found and ``read_list`` follows."""

    format: str  # "csv" | "tsv" | "txt" | "xlsx"
    encoding: str  # a Python codec name ("utf-8", "utf-8-sig", "utf-16", "cp1252"); "" for xlsx
    delimiter: str  # "," ";" "\t" "|", or "" for txt and xlsx
    header: tuple[str, ...] | None  # the header row's cells, or None when the file has none
    email_column: int  # 0-based
    sheet: str = ""  # the worksheet read (xlsx); "" for text, or the first sheet


@dataclass(frozen=True, slots=True)
class SniffedList:
    """What sniffing learned beyond the layout: for previews and for messages."""

    layout: ListLayout
    sheets: tuple[SheetInfo, ...]  # every worksheet of a workbook, in order; () for text
    sample: list[list[str]]  # the first rows of the table read (header and blank rows included)
    header_row: int | None  # index of the header in ``sample``
    basis: Basis  # why the email column is the one: "header", "content" or "chosen"


class IntakeRow(NamedTuple):
    """One data row worth verifying: the first with its address, or one whose address is bad.

    A cell holding several addresses gives one row per address, with the same ``row_no`` and
    ``cells``. A named tuple: one is made per row, several times faster than a frozen dataclass.
    """

    row_no: int  # 1-based data row number in the file (header not counted, blank rows counted)
    cells: tuple[str, ...]  # every original cell, in order
    parsed: ParsedAddress | SyntaxProblem  # ``given`` is the address taken from the cell


RawRow = tuple[int, Sequence[str], ParsedAddress | SyntaxProblem]
"""An ``IntakeRow`` as ``read_rows`` yields it: (row_no, cells, parsed)."""


@dataclass
class IntakeStats:
    """Counts kept up to date while ``read_list`` runs, per address found in the email column.

    ``rows + more_in_cell == unique + duplicates + blank + syntax_invalid``; ``unique`` counts
    the yielded valid addresses, ``syntax_invalid`` the yielded invalid ones, ``more_in_cell``
    the addresses beyond the first of cells that hold several.
    """

    rows: int = 0
    unique: int = 0
    duplicates: int = 0
    blank: int = 0
    syntax_invalid: int = 0
    more_in_cell: int = 0


def sniff_layout(
    path: Path,
    *,
    filename: str | None = None,
    limits: IntakeLimits = DEFAULT_LIMITS,
    sheet: str | None = None,
    column: str | None = None,
) -> ListLayout:
    """The layout of the list at ``path``; ``filename`` (as uploaded) only breaks ties.

    ``sheet`` (a name or 1-based number) and ``column`` (a header or 1-based number) override
    the guess. Raises IntakeError for any file that cannot be taken in, ``UnknownChoice`` (an
    IntakeError) for a sheet or column the file does not have.
    """
    return sniff_list(path, filename=filename, limits=limits, sheet=sheet, column=column).layout


def sniff_list(
    path: Path,
    *,
    filename: str | None = None,
    limits: IntakeLimits = DEFAULT_LIMITS,
    sheet: str | None = None,
    column: str | None = None,
) -> SniffedList:
    """``sniff_layout``, with the sheets, the sample and the reason for the column."""
    _check_size(path, limits)
    with path.open("rb") as fh:
        head = fh.read(16)
    if detect_container(head) == "zip":
        return _sniff_xlsx(path, limits, sheet, column)
    return _sniff_text(path, filename or "", limits, column)


def _check_size(path: Path, limits: IntakeLimits) -> None:
    size = path.stat().st_size
    if size == 0:
        raise IntakeError(EMPTY)
    if size > limits.max_bytes:
        raise IntakeError(
            f"The file is {describe_size(size)}, more than the "
            f"{describe_size(limits.max_bytes)} allowed."
        )


def _sniff_text(path: Path, filename: str, limits: IntakeLimits, column: str | None) -> SniffedList:
    scan = scan_text(path, limits)
    if scan.blank:
        raise IntakeError(EMPTY)
    lines, complete = read_sample(path, scan.encoding, limits, _SAMPLE_LINES)
    _refuse_markup(lines)
    is_address = _address_test()
    candidates = _candidates(filename)
    table = choose_delimiter(lines, candidates, is_address, complete=complete)
    if table is not None:
        delimiter, rows, email = table.delimiter, table.rows, table.email
    else:
        delimiter, rows = split_by_shape(lines, candidates, complete=complete)
        email = None
    if column is not None:
        email = _chosen_column(rows, column, email, is_address, "The file")
    elif email is None:
        raise IntakeError(f"{NO_EMAIL_COLUMN} {_looked_at_text(rows)}")
    if complete:
        _refuse_addressless(rows, email)
    _check_width(max(len(row) for row in rows), limits)
    header_row = email.header_row
    # Without quotes every line is one record, so the count is known before reading.
    if not scan.has_quotes and scan.lines - 1 - (header_row is not None) > limits.max_rows:
        raise _too_many_rows(limits)
    layout = ListLayout(
        format="txt" if not delimiter else "tsv" if delimiter == "\t" else "csv",
        encoding=scan.encoding,
        delimiter=delimiter,
        header=None if header_row is None else tuple(rows[header_row]),
        email_column=email.column,
    )
    return SniffedList(layout, (), rows, header_row, email.basis)


def _chosen_column(
    rows: list[list[str]],
    column: str,
    detected: EmailColumn | None,
    is_address: IsAddress,
    where: str,
) -> EmailColumn:
    found = resolve_column(rows, column, detected, is_address)
    if found is None:
        raise UnknownChoice(
            f"{where} has no column {column!r}: {_columns_there(rows, detected, is_address)}."
        )
    return found


def _columns_there(
    rows: list[list[str]], detected: EmailColumn | None, is_address: IsAddress
) -> str:
    width = max((len(row) for row in rows), default=0)
    if not width:
        return "it has no columns"
    numbers = "column 1" if width == 1 else f"columns 1 to {width}"
    names = header_cells(rows, header_for_choice(rows, detected, is_address))
    if not names:
        return f"it has no header row, so give a column number ({numbers})"
    return f"its columns are {_quoted(names)} (or by number, {numbers})"


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names) if names else "none"


def _looked_at_text(rows: list[list[str]]) -> str:
    first = first_text_row(rows)
    names = header_cells(rows, first) if first is not None else []
    return f"Looked at the columns of the first row: {_quoted(names or [])}."


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


def _sniff_xlsx(
    path: Path, limits: IntakeLimits, sheet: str | None, column: str | None
) -> SniffedList:
    """Sample every sheet (only the named one, if any) and read the one with the best column."""
    check_archive(path, limits)
    is_address = _address_test()
    with Workbook(path) as book:
        infos = book.sheets
        wanted = infos if sheet is None else (_chosen_sheet(infos, sheet),)
        found: list[tuple[tuple[bool, int, bool, int], SheetInfo, list[list[str]], EmailColumn]]
        found, looked = [], []
        for info in wanted:
            rows = _sample_sheet(book, info, limits, must=len(wanted) == 1)
            email = locate_email_column(rows, is_address)
            if column is not None:
                if len(wanted) == 1:
                    where = f"The sheet {info.name!r}"
                    email = _chosen_column(rows, column, email, is_address, where)
                else:
                    email = resolve_column(rows, column, email, is_address)
            if email is None:
                looked.append((info, rows))
                continue
            hits = _addresses_below(rows, email, is_address)
            key = (not info.hidden, hits, email.basis != "content", -info.number)
            found.append((key, info, rows, email))
    if not found:
        raise _nothing_found(looked, column, is_address)
    _, info, rows, email = max(found, key=lambda candidate: candidate[0])
    if len(rows) < SAMPLE_ROWS:  # the whole sheet
        _refuse_addressless(rows, email)
    header_row = email.header_row
    layout = ListLayout(
        format="xlsx",
        encoding="",
        delimiter="",
        header=None if header_row is None else tuple(rows[header_row]),
        email_column=email.column,
        sheet=info.name,
    )
    return SniffedList(layout, infos, rows, header_row, email.basis)


def _chosen_sheet(infos: Sequence[SheetInfo], wanted: str) -> SheetInfo:
    """The sheet named ``wanted`` (exactly, else in any case), or numbered so (from 1)."""
    name = wanted.strip()
    for same in (_same_text, _same_folded_text):
        match = next((info for info in infos if same(info.name, name)), None)
        if match is not None:
            return match
    if name.isdigit() and 1 <= int(name) <= len(infos):
        return infos[int(name) - 1]
    listed = ", ".join(f"{info.name!r}" + (" (hidden)" if info.hidden else "") for info in infos)
    raise UnknownChoice(
        f"The workbook has no sheet {wanted!r}: its sheets are {listed} "
        f"(or by number, 1 to {len(infos)})."
    )


def _same_text(a: str, b: str) -> bool:
    return a.strip() == b


def _same_folded_text(a: str, b: str) -> bool:
    return a.strip().casefold() == b.casefold()


def _sample_sheet(
    book: Workbook, info: SheetInfo, limits: IntakeLimits, *, must: bool
) -> list[list[str]]:
    """The first rows of a sheet; a sheet too wide to read counts as empty unless ``must``."""
    sheet = book.sheet(info.name)
    try:
        width = sheet.width(limits)
    except IntakeError:
        if must:
            raise
        return []
    rows = list(sheet.rows(width, max_row=SAMPLE_ROWS)) if width else []
    if must and not rows:
        raise IntakeError(f"The sheet {info.name!r} of the workbook is empty.")
    return rows


def _addresses_below(rows: list[list[str]], email: EmailColumn, is_address: IsAddress) -> int:
    below = rows if email.header_row is None else rows[email.header_row + 1 :]
    column = email.column
    return sum(1 for row in below if column < len(row) and is_address(row[column]))


def _nothing_found(
    looked: list[tuple[SheetInfo, list[list[str]]]], column: str | None, is_address: IsAddress
) -> IntakeError:
    """No sheet has the (named) email column: say what each sheet's header holds."""
    described = []
    for info, rows in looked:
        names = header_cells(rows, header_for_choice(rows, None, is_address))
        hidden = ", hidden" if info.hidden else ""
        shown = f"columns {_quoted(names)}" if names else "no header row" if rows else "empty"
        described.append(f"{info.name!r} ({shown}{hidden})")
    sheets = "; ".join(described)
    if column is not None:
        return UnknownChoice(f"No sheet of the workbook has a column {column!r}. Sheets: {sheets}.")
    return IntakeError(f"{NO_EMAIL_COLUMN} Looked at the sheets {sheets}.")


def _refuse_addressless(rows: list[list[str]], email: EmailColumn) -> None:
    """Refuse a whole file whose email column is empty below its header."""
    below = rows if email.header_row is None else rows[email.header_row + 1 :]
    column = email.column
    if not any(column < len(row) and row[column].strip() for row in below):
        raise IntakeError("The file has no addresses: its email column is empty.")


def _address_test() -> IsAddress:
    """A cached "does this cell hold an address" for sampling, where cells repeat."""
    known: dict[str, bool] = {}

    def is_address(cell: str) -> bool:
        if "@" not in cell:
            return False
        if cell not in known:
            known[cell] = any(
                isinstance(parse_address(text), ParsedAddress) for text in cell_addresses(cell)
            )
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
    records = read_records(path, layout, limits=limits)
    yield from _intake_rows(records, layout.email_column, stats, limits)


def read_records(
    path: Path, layout: ListLayout, *, limits: IntakeLimits = DEFAULT_LIMITS
) -> Iterator[list[str]]:
    """The data records as they are in the file, header skipped, blank rows included."""
    _check_size(path, limits)
    if layout.format == "xlsx":
        return _xlsx_records(path, layout, limits)
    return _text_records(path, layout, limits)


def _text_records(path: Path, layout: ListLayout, limits: IntakeLimits) -> Iterator[list[str]]:
    with open_text(path, layout.encoding) as fh:
        lines = iter_lines(fh, layout.encoding, limits)
        yield from _after_header(iter_records(lines, layout.delimiter), layout)


def _xlsx_records(path: Path, layout: ListLayout, limits: IntakeLimits) -> Iterator[list[str]]:
    check_archive(path, limits)
    with Workbook(path) as book:
        sheet = book.sheet(layout.sheet)
        width = sheet.width(limits)
        if width:
            yield from _after_header(sheet.rows(width), layout)


def _after_header(records: Iterator[list[str]], layout: ListLayout) -> Iterator[list[str]]:
    """The data records: without the header row and the blank rows above it, if there is one."""
    if layout.header is None:
        return records
    for record in records:
        if not all(is_blank_cell(cell) for cell in record):
            break  # the header
    return records


def column_names(header: Sequence[str] | None, width: int, email_column: int) -> list[str]:
    """A name for each of ``width`` columns: the header's, else ``email`` or ``column_N``."""
    names = list(header or ())
    for n in range(len(names), max(width, email_column + 1)):
        names.append("email" if n == email_column and header is None else f"column_{n + 1}")
    return names


def _intake_rows(
    records: Iterator[list[str]], column: int, stats: IntakeStats, limits: IntakeLimits
) -> Iterator[RawRow]:
    """Dedupe and syntax-check the addresses of the data records; this loop runs once per row,
    so it is lean.

    Most cells are a bare address and are taken as they are; the others go through
    ``cell_addresses``. Seen addresses are kept as 128-bit hash keys, not strings: both the
    trimmed text (so that an exact repeat skips parsing) and the normalised address (so that
    ``a@X.com`` repeats ``a@x.com``). Normalising is idempotent, so a text equal to a normalised
    address is that address. The odds that two of five million distinct addresses share a key
    (and so that one is taken for a duplicate) are below 1 in 10^25.
    """
    seen: set[int] = set()
    max_rows = limits.max_rows
    bare = BARE_ADDRESS.fullmatch
    row_no = 0
    for cells in records:
        row_no += 1
        if row_no > max_rows:
            raise _too_many_rows(limits)
        if len(cells) > limits.max_columns:
            _check_width(len(cells), limits, row_no)
        stats.rows += 1
        text = cells[column].strip() if column < len(cells) else ""
        addresses = (text,) if bare(text) else cell_addresses(text) if text else ()
        if not addresses:
            stats.blank += 1
            continue
        stats.more_in_cell += len(addresses) - 1
        for address in addresses:
            key = _dedupe_key(address)
            if key in seen:
                stats.duplicates += 1
                continue
            parsed = parse_address(address)
            if isinstance(parsed, ParsedAddress):
                if parsed.normalized != address:
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
