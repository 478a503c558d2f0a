"""A look at an uploaded list before it is taken in: its sheets, its columns, its first rows.

``preview_list`` sniffs the file exactly as intake does (same sheet and column choice, same
errors), so what a person sees in a preview is what ``create_job`` will read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailsift.jobs.formats.base import DEFAULT_LIMITS, IntakeLimits
from mailsift.jobs.formats.cells import cell_addresses, is_blank_cell
from mailsift.jobs.formats.columns import Basis
from mailsift.jobs.formats.text import display_name
from mailsift.jobs.intake import (
    ListLayout,
    SheetInfo,
    SniffedList,
    column_names,
    sniff_list,
)
from mailsift.verify.address import ParsedAddress, parse_address

__all__ = ["ListPreview", "SheetInfo", "preview_list"]


@dataclass(frozen=True, slots=True)
class ListPreview:
    """What intake would read from a list, for a person to check before submitting it."""

    format: str  # "csv" | "tsv" | "txt" | "xlsx"
    encoding: str  # as people know it ("UTF-8", "Windows-1252"); "" for xlsx
    delimiter: str  # "," ";" "\t" "|", or "" for txt and xlsx
    sheets: tuple[SheetInfo, ...]  # every worksheet of a workbook, in order; () for text
    sheet: str | None  # the worksheet read; None for text
    headers: tuple[str, ...]  # a name per column: the header row's, else "email"/"column_N"
    has_header: bool  # False: the file has no header row and ``headers`` are made up
    email_column: int  # 0-based index into ``headers`` and each row
    email_column_name: str
    basis: Basis  # why this column: "header" (its name), "content" (its cells) or "chosen"
    reason: str  # the same, as one or two sentences for a person
    rows: tuple[tuple[str, ...], ...]  # the first non-blank data rows, each ``len(headers)`` wide
    layout: ListLayout  # what intake will follow


def preview_list(
    path: Path,
    *,
    filename: str,
    sheet: str | None = None,
    column: str | None = None,
    max_rows: int = 10,
    limits: IntakeLimits = DEFAULT_LIMITS,
) -> ListPreview:
    """The preview of the list at ``path`` (``filename`` as uploaded).

    ``sheet`` (a name or 1-based number) and ``column`` (a header or 1-based number) are the
    sender's choice, as for intake. Raises ``IntakeError`` for a file intake would refuse, and
    ``UnknownChoice`` (an ``IntakeError``) naming the sheets or columns there are.
    """
    sniffed = sniff_list(path, filename=filename, limits=limits, sheet=sheet, column=column)
    layout = sniffed.layout
    data = _data_rows(sniffed)
    width = max([len(row) for row in data] + [len(layout.header or ()), layout.email_column + 1])
    headers = tuple(column_names(layout.header, width, layout.email_column))
    rows = tuple(tuple(row) + ("",) * (width - len(row)) for row in data[:max_rows])
    return ListPreview(
        format=layout.format,
        encoding=display_name(layout.encoding) if layout.encoding else "",
        delimiter=layout.delimiter,
        sheets=sniffed.sheets,
        sheet=layout.sheet if layout.format == "xlsx" else None,
        headers=headers,
        has_header=layout.header is not None,
        email_column=layout.email_column,
        email_column_name=headers[layout.email_column],
        basis=sniffed.basis,
        reason=_reason(sniffed, headers[layout.email_column], data, chosen_sheet=sheet is not None),
        rows=rows,
        layout=layout,
    )


def _data_rows(sniffed: SniffedList) -> list[list[str]]:
    start = 0 if sniffed.header_row is None else sniffed.header_row + 1
    return [row for row in sniffed.sample[start:] if not all(map(is_blank_cell, row))]


def _reason(sniffed: SniffedList, name: str, data: list[list[str]], *, chosen_sheet: bool) -> str:
    column = sniffed.layout.email_column
    cells = [row[column] for row in data if column < len(row) and row[column].strip()]
    hits = sum(1 for cell in cells if _holds_address(cell))
    share = f"{round(100 * hits / len(cells))}%" if cells else "none"
    if sniffed.basis == "chosen":
        why = f"The column {name!r} was chosen; {share} of its sampled cells hold addresses."
    elif sniffed.basis == "header":
        why = (
            f"Its header {name!r} names an email column, and {share} of its sampled cells "
            "hold addresses."
        )
    else:
        why = f"{share} of its sampled cells hold addresses, more than any other column's."
    if len(sniffed.sheets) > 1:
        sheet = sniffed.layout.sheet
        if chosen_sheet:
            why += f" The sheet {sheet!r} was chosen."
        else:
            why += f" Of the {len(sniffed.sheets)} sheets, {sheet!r} has the best email column."
    return why


def _holds_address(cell: str) -> bool:
    return any(isinstance(parse_address(text), ParsedAddress) for text in cell_addresses(cell))
