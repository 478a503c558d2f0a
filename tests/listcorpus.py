"""The corpus of real export shapes in ``tests/data/lists/``, and what each must give.

Each case says, in its own words, every address the list holds (in file order, each once), the
rows intake must count as blank (no address in the email column: empty rows, footers) and as
duplicates, and the header the result files must repeat. The workbook is written by
``write_workbook`` (a cover sheet first, the contacts second, a hidden sheet of stale addresses
last). ``check_results`` holds three result files against a case and the mail world's verdicts.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import xlsxwriter

from mailsift.jobs.csvsafe import neutralize
from mailsift.jobs.formats.xlsx import cell_text
from mailsift.jobs.results import RESULT_COLUMNS

LISTS = Path(__file__).parent / "data" / "lists"
WORKBOOK = "workbook-cover-and-hidden-sheet.xlsx"
FILE_OF = {"valid": "valid", "invalid": "invalid", "risky": "unknown", "unknown": "unknown"}
BAD_SYNTAX = ("invalid", "invalid_email")


@dataclass(frozen=True)
class Case:
    file: str
    header: tuple[str, ...]  # as the result files repeat it ("email" for a list without one)
    email_column: int
    expected: tuple[str, ...]  # every address, in file order, each exactly once
    blank: int
    duplicates: int
    encoding: str = "utf-8"  # how the test itself reads the original rows back
    delimiter: str = ","
    bad_syntax: tuple[str, ...] = ()  # cells that are no address: reported invalid as written


_MAILCHIMP = (
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday",
    "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
    "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID", "EUID",
    "NOTES", "TAGS",
)  # fmt: skip
_HUBSPOT = (
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Contact owner",
    "Lead Status", "Marketing contact status", "Create Date", "Last Activity Date",
    "Associated Company",
)  # fmt: skip
_OUTLOOK = (
    "First Name", "Middle Name", "Last Name", "Title", "Suffix", "Nickname", "Given Yomi",
    "Surname Yomi", "E-mail Address", "E-mail 2 Address", "E-mail 3 Address", "Home Phone",
    "Home Phone 2", "Business Phone", "Business Phone 2", "Mobile Phone", "Car Phone",
    "Other Phone", "Primary Phone", "Pager", "Business Fax", "Home Fax", "Other Fax",
    "Company Main Telephone", "Callback", "Radio Phone", "Telex", "TTY/TDD Phone", "IMAddress",
    "Job Title", "Department", "Company", "Office Location", "Manager's Name",
    "Assistant's Name", "Assistant's Phone", "Company Yomi", "Business Street", "Business City",
    "Business State", "Business Postal Code", "Business Country/Region", "Home Street",
    "Home City", "Home State", "Home Postal Code", "Home Country/Region", "Other Street",
    "Other City", "Other State", "Other Postal Code", "Other Country/Region",
    "Personal Web Page", "Spouse", "Schools", "Hobby", "Location", "Web Page", "Birthday",
    "Anniversary", "Notes",
)  # fmt: skip
_GOOGLE = (
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
    "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As",
    "Organization Name", "Organization Title", "Organization Department", "Birthday", "Notes",
    "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value", "E-mail 2 - Label",
    "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value",
)  # fmt: skip
_SALESFORCE = (
    "Lead Owner", "First Name", "Last Name", "Title", "Company / Account", "Email",
    "Lead Source", "Lead Status", "Rating", "Create Date",
)  # fmt: skip

CASES = (
    Case(
        "mailchimp-audience-export.csv", _MAILCHIMP, 0,
        ("alice@ok.test", "bob@ok.test", "disabled@ok.test", "full@ok.test",
         "alice@mailinator.com", "alice@nxdomain.test"),
        blank=0, duplicates=1,  # alice@OK.TEST
    ),
    Case(
        "hubspot-contacts-export.csv", _HUBSPOT, 3,
        ("alice@backup.test", "nobody@backup.test", "info@ok.test", "alice@catchall.test",
         "alice@implicit-a.test", "alice@nullmx.test"),
        blank=1, duplicates=1,  # a record without email; INFO@ok.test (role names are caseless)
    ),
    Case(
        "outlook-contacts.csv", _OUTLOOK, 8,  # "E-mail Address", not the second or third
        ("alice@tls.test", "nobody@tls.test", "alice@tlsrefused.test", "bob@nopipelining.test",
         "alice@rcpt554.test"),
        blank=1, duplicates=0,  # the reception desk has no address
    ),
    Case(
        "google-contacts.csv", _GOOGLE, 18,  # "E-mail 1 - Value"; two joined by " ::: "
        ("alice@utf8.test", "josé@utf8.test", "josé@noutf8.test", "zoë@utf8.test",
         "alice@bücher.test"),
        blank=0, duplicates=1,
    ),
    Case(
        "salesforce-report.csv", _SALESFORCE, 5,
        ("user01@capped.test", "user02@capped.test", "user03@capped.test", "nobody@capped.test",
         "alice@refused.test"),
        blank=7, duplicates=1,  # two empty rows and five footer lines; user01 twice
    ),
    Case(
        "libreoffice-semicolon.csv", ("Name", "E-Mail", "Umsatz", "Rabatt", "Kommentar"), 1,
        ("alice@implicit-aaaa.test", "nobody@implicit-aaaa.test", "alice@greet554.test"),
        blank=1, duplicates=1, delimiter=";", bad_syntax=("kein-eintrag",),
    ),
    Case(
        "name-addr-lines.txt", ("email",), 0,
        ("alice@ok.test", "bob@ok.test", "disabled@ok.test", "overquota@ok.test",
         "alice@backup.test", "nobody@ok.test", "info@ok.test", "alice@implicit-a.test",
         "alice@drop.test"),
        blank=2, duplicates=1, delimiter="", bad_syntax=("just a name",),
    ),
    Case(
        "windows-1252-accents.csv", ("Prénom", "Nom", "Courriel", "Société", "Solde"), 2,
        ("alice@tls.test", "nobody@tls.test", "alice@norelay.test"),
        blank=1, duplicates=1, encoding="cp1252",
    ),
    Case(
        "utf8-bom-crlf.csv", ("Email", "Name", "City"), 0,
        ("alice@greet554.test", "alice@noaddress.test", "overquota@ok.test",
         "user04@capped.test"),
        blank=1, duplicates=0, encoding="utf-8-sig",
    ),
    Case(
        "sheets-trailing-empty-column.csv", ("Name", "Email", "Company", ""), 1,
        ("user05@capped.test", "user06@capped.test", "user07@capped.test"),
        blank=2, duplicates=1,
    ),
    Case(
        WORKBOOK, ("Name", "Email", "Phone", "Joined"), 1,
        ("alice@implicit-aaaa.test", "user08@capped.test", "user09@capped.test",
         "alice@rcpt554.test", "user10@capped.test"),
        blank=1, duplicates=1,
    ),
)  # fmt: skip

# The workbook: the contacts are on the second sheet, after a cover sheet that mentions an
# address; a hidden third sheet holds stale addresses no result may show.
_COVER = [["Customer list"], ["Exported", "2026-11-30"], ["Questions: alice@ok.test"]]
_CONTACTS: list[list[object]] = [
    ["Name", "Email", "Phone", "Joined"],
    ["Ann Imp", "Ann Imp <alice@implicit-aaaa.test>", 4915112345678, dt.date(2024, 5, 1)],
    ["Ulf", "user08@capped.test; user09@capped.test", 4930123456, dt.date(2024, 6, 2)],
    [None, None, None, None],
    ["Rcpt", "mailto:alice@rcpt554.test", None, dt.date(2025, 1, 3)],
    ["Ulf again", "user09@capped.test", None, None],
    ["Ute", "user10@capped.test.", 4940987654, dt.date(2025, 2, 4)],
]
HIDDEN_SHEET = "Old list"
_HIDDEN = [["Email"], ["bob@ok.test"], ["info@ok.test"], ["alice@backup.test"], ["nobody@ok.test"]]


def write_workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": dt.datetime(2026, 11, 30, tzinfo=dt.UTC)})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in (("Read me", _COVER), ("Contacts", _CONTACTS), (HIDDEN_SHEET, _HIDDEN)):
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
                elif value is not None:
                    sheet.write(r, c, value)
        if name == HIDDEN_SHEET:
            sheet.hide()
    book.close()
    return path


def case_path(case: Case, scratch: Path) -> Path:
    """The case's file: committed, or (the workbook) written into ``scratch``."""
    if case.file == WORKBOOK:
        return write_workbook(scratch / WORKBOOK)
    return LISTS / case.file


def original_rows(case: Case, path: Path) -> list[list[str]]:
    """The data rows as the test reads them itself (header dropped)."""
    if case.file == WORKBOOK:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book["Contacts"]
            rows = [[cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
        return rows[1:]
    with path.open(encoding=case.encoding, newline="") as fh:
        if not case.delimiter:
            return [[line.rstrip("\r\n")] for line in fh]
        rows = list(csv.reader(fh, delimiter=case.delimiter))
    return rows[1:]


def verdict(
    address: str, case: Case, world_expected: Mapping[str, tuple[str, str]]
) -> tuple[str, str]:
    if address in case.bad_syntax:
        return BAD_SYNTAX
    return world_expected[address]


def check_results(
    case: Case,
    path: Path,
    files: Mapping[str, Sequence[Sequence[str]]],
    world_expected: Mapping[str, tuple[str, str]],
) -> None:
    """Every expected address once, in the file the policy says, its row's cells kept."""
    header = [*case.header, *RESULT_COLUMNS]
    column, width = case.email_column, len(case.header)
    originals = original_rows(case, path)
    seen: Counter[str] = Counter()
    for which, table in files.items():
        assert list(table[0]) == header, (case.file, which)
        for row in table[1:]:
            assert len(row) == len(header), (case.file, row)
            email, source = row[column], row[header.index("source_value")]
            seen[email] += 1
            assert (FILE_OF[row[width]], row[width], row[width + 1]) == (
                which,
                *verdict(email, case, world_expected),
            ), (case.file, email)
            assert _has_original(row[:width], column, email, source, originals), (case.file, row)
    expected = [*case.expected, *case.bad_syntax]
    assert seen == Counter(expected), case.file  # each exactly once, nothing else


def _has_original(
    cells: Sequence[str], column: int, email: str, source: str, originals: list[list[str]]
) -> bool:
    """Whether some original row is this result row: the same other cells (neutralised as
    result files neutralise them), and an email cell that is the address or ``source_value``."""
    for original in originals:
        padded = [*original, *[""] * (len(cells) - len(original))]
        others = [neutralize(cell) for n, cell in enumerate(padded) if n != column]
        if others != [cell for n, cell in enumerate(cells) if n != column]:
            continue
        given = padded[column]
        if (neutralize(given) == source) if source else given.strip() == email:
            return True
    return False
