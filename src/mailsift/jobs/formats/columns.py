"""Finding the header row and the email column of a sampled table, and the delimiter that makes one.

A first row is a header when none of its cells is an address and either one of its cells is named
like an email column (in several languages) or it carries a label above a column of addresses. The
email column is the named one when its cells are mostly addresses, else the column where most
sampled cells are addresses.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from mailsift.jobs.formats.cells import is_blank_cell

IsAddress = Callable[[str], bool]

# Header names an email column goes by, compared after folding (see ``_fold``).
_EXACT_NAMES = (
    "email", "emails", "mail", "email address", "email addresses", "mail address", "email id",
    "e-mail-adresse", "mailadresse", "e-mailadres", "e-postadress", "e-postadresse",
    "adresse e-mail", "adresse mail", "adresse courriel", "adresse électronique", "courriel",
    "mél", "correo", "correo electrónico", "dirección de correo", "dirección de correo electrónico",
    "posta", "posta elettronica", "indirizzo email", "endereço de email", "e-post", "e-posta",
    "sähköposti", "adres email", "почта", "электронная почта", "емейл", "имейл", "メール",
    "メールアドレス", "邮箱", "电子邮件",
)  # fmt: skip
_PARTIAL_NAMES = ("mail", "correo", "courriel", "epost", "eposta", "почт", "メール", "邮")
# A column counts as addresses when at least this share of its non-blank sampled cells are.
_CONTENT_SHARE = 0.5


Basis = Literal["header", "content", "chosen"]


@dataclass(frozen=True, slots=True)
class EmailColumn:
    """Where the addresses are: ``header_row`` indexes the sample (None: no header).

    ``basis`` says why: its header names an email column, its cells are addresses, or the
    sender chose it.
    """

    header_row: int | None
    column: int
    basis: Basis = "content"


def _fold(cell: str) -> str:
    """Lower case, without accents, spaces or punctuation: "E-Mail Address" -> "emailaddress"."""
    decomposed = unicodedata.normalize("NFKD", cell.strip().lower())
    return "".join(ch for ch in decomposed if ch.isalnum())


_FOLDED_EXACT = frozenset(_fold(name) for name in _EXACT_NAMES)
_FOLDED_PARTIAL = tuple(_fold(name) for name in _PARTIAL_NAMES)


def header_rank(cell: str) -> int | None:
    """0 for an exact email-column name, 1 for one containing "email", 2 for a weaker hint."""
    name = _fold(cell)
    if not name:
        return None
    if name in _FOLDED_EXACT:
        return 0
    if "email" in name:
        return 1
    if any(part in name for part in _FOLDED_PARTIAL):
        return 2
    return None


def locate_email_column(rows: Sequence[Sequence[str]], is_address: IsAddress) -> EmailColumn | None:
    """The header row and email column of ``rows`` (leading blank rows allowed), or None."""
    first_idx = first_text_row(rows)
    if first_idx is None:
        return None
    first, body = rows[first_idx], rows[first_idx + 1 :]
    if not any(is_address(cell) for cell in first):
        shares = _address_shares(body, is_address)
        content = _best_content_column(shares)
        named = {c: rank for c, cell in enumerate(first) if (rank := header_rank(cell)) is not None}
        if named:
            column = _pick_named(named, shares, content)
            return EmailColumn(first_idx, column, "header" if column in named else "content")
        if content is not None and _is_label(first, content):
            return EmailColumn(first_idx, content)
    content = _best_content_column(_address_shares(rows, is_address))
    return None if content is None else EmailColumn(None, content)


def _has_text(row: Sequence[str]) -> bool:
    return not all(is_blank_cell(cell) for cell in row)


def _is_label(row: Sequence[str], column: int) -> bool:
    cell = row[column].strip() if column < len(row) else ""
    return bool(cell) and "@" not in cell


def _address_shares(
    rows: Sequence[Sequence[str]], is_address: IsAddress
) -> dict[int, tuple[float, int]]:
    """Per column with text: (share of its non-blank cells that are addresses, address count)."""
    filled: Counter[int] = Counter()
    hits: Counter[int] = Counter()
    for row in rows:
        for column, cell in enumerate(row):
            if cell.strip():
                filled[column] += 1
                if is_address(cell):
                    hits[column] += 1
    return {column: (hits[column] / n, hits[column]) for column, n in filled.items()}


def _best_content_column(shares: dict[int, tuple[float, int]]) -> int | None:
    """The column with the most addresses, provided most of its cells are addresses."""
    eligible = {c: hits for c, (share, hits) in shares.items() if hits and share >= _CONTENT_SHARE}
    return max(eligible, key=lambda c: (eligible[c], -c)) if eligible else None


def _pick_named(
    named: dict[int, int], shares: dict[int, tuple[float, int]], content: int | None
) -> int:
    """A named column full of addresses; else the content column; else the best name."""
    full = [c for c in named if shares.get(c, (0.0, 0))[0] >= _CONTENT_SHARE]
    if full:
        return min(full, key=lambda c: (named[c], -shares[c][0], c))
    if content is not None:
        return content
    return min(named, key=lambda c: (named[c], c))


@dataclass(frozen=True, slots=True)
class DelimitedTable:
    """The sample split by the chosen delimiter ("" when each line is one value)."""

    delimiter: str
    rows: list[list[str]]
    email: EmailColumn


def choose_delimiter(
    lines: list[str], candidates: Sequence[str], is_address: IsAddress, *, complete: bool
) -> DelimitedTable | None:
    """The candidate whose split gives an email column and the most regular, widest table.

    A split that strands addresses (a tenth of the rows or more end before the email column but
    hold an address, as ``Doe, John <john@example.com>`` lines split at the comma do) loses to
    one that does not.

    ``complete``: ``lines`` is the whole file; otherwise the last record may be cut and is dropped.
    A table of one column is the one-value-a-line layout, delimiter "", unless its values are
    quoted as CSV quotes them: then it is a one-column CSV, delimiter ",", so that the quotes are
    read as quoting. (A line like ``"Smith, Jane" <jane@example.com>`` is not CSV: its quotes
    belong to the display name.)
    """
    quoted = any(line.startswith('"') for line in lines)
    best: tuple[tuple[bool, bool, float, int], DelimitedTable] | None = None
    for delimiter in (*candidates, ""):
        rows = _split(lines, delimiter, complete=complete)
        email = None if rows is None else locate_email_column(rows, is_address)
        if rows is None or email is None:
            continue
        regularity, width = _shape(rows)
        one_column_csv = delimiter == "," and quoted and _is_csv(lines, complete)
        if width <= 1 and delimiter and not one_column_csv:
            continue  # one column: the "" candidate's business
        key = (not _strands(rows, email, is_address), width > 1, regularity, width)
        if best is None or key > best[0]:
            best = (key, DelimitedTable(delimiter, rows, email))
    return None if best is None else best[1]


def _strands(rows: list[list[str]], email: EmailColumn, is_address: IsAddress) -> bool:
    """Whether a tenth or more of the rows below the header end before the email column yet
    hold an address: the sign of a delimiter that cuts through the addresses' cells."""
    below = rows if email.header_row is None else rows[email.header_row + 1 :]
    column = email.column
    filled = stranded = 0
    for row in below:
        if _has_text(row):
            filled += 1
            stranded += len(row) <= column and any(map(is_address, row))
    return filled > 0 and 10 * stranded >= filled


def _is_csv(lines: list[str], complete: bool) -> bool:
    """Whether ``lines`` are CSV with its quoting rules kept (nothing after a closing quote)."""
    try:
        for _ in csv.reader(lines if complete else lines[:-1], strict=True):
            pass
    except csv.Error:
        return False
    return True


def split_by_shape(
    lines: list[str], candidates: Sequence[str], *, complete: bool
) -> tuple[str, list[list[str]]]:
    """The candidate delimiter that makes the most regular, widest table, and that table.

    For a file where no email column is found: the table its headers are read from.
    """
    best: tuple[tuple[bool, float, int], str, list[list[str]]] = ((False, 0.0, 0), "", [])
    for delimiter in (*candidates, ""):
        rows = _split(lines, delimiter, complete=complete)
        if rows is not None:
            regularity, width = _shape(rows)
            key = (width > 1, regularity, width)
            if key > best[0]:
                best = (key, delimiter, rows)
    return best[1], best[2]


def resolve_column(
    rows: Sequence[Sequence[str]],
    wanted: str,
    detected: EmailColumn | None,
    is_address: IsAddress,
) -> EmailColumn | None:
    """The column the sender named ``wanted`` (a header, or a 1-based number), or None.

    The header row is the one found by detection (``detected``), else the first row with text
    when none of its cells is an address.
    """
    header_row = header_for_choice(rows, detected, is_address)
    wanted = wanted.strip()
    if header_row is not None:
        header = [cell.strip() for cell in rows[header_row]]
        exact = [c for c, cell in enumerate(header) if cell == wanted]
        folded = [c for c, cell in enumerate(header) if _fold(cell) == _fold(wanted) != ""]
        if exact or folded:
            return EmailColumn(header_row, (exact or folded)[0], "chosen")
    width = max((len(row) for row in rows), default=0)
    if wanted.isdigit() and 1 <= int(wanted) <= width:
        return EmailColumn(header_row, int(wanted) - 1, "chosen")
    return None


def header_for_choice(
    rows: Sequence[Sequence[str]], detected: EmailColumn | None, is_address: IsAddress
) -> int | None:
    if detected is not None:
        return detected.header_row
    first_idx = first_text_row(rows)
    if first_idx is None or any(is_address(cell) for cell in rows[first_idx]):
        return None
    return first_idx


def header_cells(rows: Sequence[Sequence[str]], header_row: int | None) -> list[str] | None:
    """The header's cells for a message (at most 20, each at most 40 characters), or None."""
    if header_row is None:
        return None
    cells = [cell.strip() for cell in rows[header_row]]
    while cells and not cells[-1]:
        cells.pop()
    return [cell if len(cell) <= 40 else cell[:39] + "…" for cell in cells[:20]]


def first_text_row(rows: Sequence[Sequence[str]]) -> int | None:
    """The index of the first row with text in it, or None."""
    return next((i for i, row in enumerate(rows) if _has_text(row)), None)


def _split(lines: list[str], delimiter: str, *, complete: bool) -> list[list[str]] | None:
    """The sample split by ``delimiter``, or None when it is not CSV that way."""
    if delimiter:
        try:
            rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            return None
    else:
        rows = [[line.rstrip("\r\n")] for line in lines]
    return rows if complete else rows[:-1]


def _shape(rows: list[list[str]]) -> tuple[float, int]:
    """(share of non-blank rows that have the most common width, that width)."""
    widths = Counter(len(row) for row in rows if _has_text(row))
    if not widths:
        return 0.0, 0
    width, count = widths.most_common(1)[0]
    return count / widths.total(), width
