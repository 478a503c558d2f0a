"""List intake over real files: every format, encoding and delimiter, and every bad file."""

from __future__ import annotations

import codecs
import datetime as dt
import gc
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import psutil
import pytest
import xlsxwriter

from mailsift.jobs.formats import text as text_format
from mailsift.jobs.intake import (
    IntakeError,
    IntakeLimits,
    IntakeRow,
    IntakeStats,
    ListLayout,
    read_list,
    sniff_layout,
)
from mailsift.jobs.items import (
    FINAL_COLUMNS,
    PENDING_COLUMNS,
    ItemCounts,
    cells_json,
    item_batches,
)
from mailsift.verify.address import ParsedAddress, SyntaxProblem

# --- helpers ------------------------------------------------------------------------------------


def write_text(path: Path, text: str, encoding: str = "utf-8", bom: bytes = b"") -> Path:
    path.write_bytes(bom + text.encode(encoding))
    return path


def take(path: Path, **sniff: object) -> tuple[ListLayout, list[IntakeRow], IntakeStats]:
    """Sniff and read the whole list, checking the stats add up."""
    layout = sniff_layout(path, **sniff)  # type: ignore[arg-type]
    stats = IntakeStats()
    rows = list(read_list(path, layout, stats))
    assert stats.rows + stats.more_in_cell == (
        stats.unique + stats.duplicates + stats.blank + stats.syntax_invalid
    )
    assert stats.unique + stats.syntax_invalid == len(rows)
    return layout, rows, stats


def emails(rows: Sequence[IntakeRow]) -> list[str]:
    return [row.parsed.given for row in rows]


def refused(path: Path, limits: IntakeLimits | None = None) -> str:
    """The message sniffing ``path`` is refused with."""
    with pytest.raises(IntakeError) as info:
        sniff_layout(path, limits=limits or IntakeLimits())
    assert info.value.message == str(info.value)
    return info.value.message


def refused_while_reading(
    path: Path, layout: ListLayout, limits: IntakeLimits | None = None
) -> str:
    with pytest.raises(IntakeError) as info:
        list(read_list(path, layout, IntakeStats(), limits=limits or IntakeLimits()))
    return info.value.message


PEOPLE = (
    "Name,Email,City\r\n"
    "Zoë Müller,zoe@example.com,Köln\r\n"
    "José Núñez,jose@example.org,Málaga\r\n"
    "Ann Lee,ann@example.net,€ zone\r\n"
)


# --- encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "bom", "detected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
        ("cp1252", b"", "cp1252"),
    ],
)
def test_every_encoding_is_detected_and_decoded(
    tmp_path: Path, codec: str, bom: bytes, detected: str
) -> None:
    path = write_text(tmp_path / "people.csv", PEOPLE, codec, bom)
    layout, rows, stats = take(path)
    assert layout.encoding == detected
    assert layout.header == ("Name", "Email", "City")
    assert [row.cells for row in rows] == [
        ("Zoë Müller", "zoe@example.com", "Köln"),
        ("José Núñez", "jose@example.org", "Málaga"),
        ("Ann Lee", "ann@example.net", "€ zone"),
    ]
    assert stats.unique == 3


def test_utf8_is_chosen_only_when_the_whole_file_is_utf8(tmp_path: Path) -> None:
    # ASCII for the first 2 MB, then one Windows-1252 byte: the whole file is Windows-1252.
    head = "".join(f"user{i}@example.com,{'x' * 1000}\n" for i in range(2100))
    path = tmp_path / "late.csv"
    path.write_bytes(head.encode() + "renée@example.com,café\n".encode("cp1252"))
    layout, rows, _ = take(path)
    assert layout.encoding == "cp1252"
    assert rows[-1].cells == ("renée@example.com", "café")


# --- delimiters, header, email column -----------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "fmt"), [(",", "csv"), (";", "csv"), ("\t", "tsv"), ("|", "csv")]
)
def test_delimiters(tmp_path: Path, delimiter: str, fmt: str) -> None:
    lines = [["id", "first", "e-mail", "note"], ["1", "Ann", "ann@example.com", "x, y; z"]]
    lines += [[str(i), f"P{i}", f"p{i}@example.com", "1,5"] for i in range(2, 8)]
    text = "".join(delimiter.join(_quote(c, delimiter) for c in line) + "\n" for line in lines)
    layout, rows, _ = take(write_text(tmp_path / "list.txt", text))
    assert (layout.format, layout.delimiter, layout.email_column) == (fmt, delimiter, 2)
    assert rows[0].cells == ("1", "Ann", "ann@example.com", "x, y; z")
    assert len(rows) == 7


def _quote(cell: str, delimiter: str) -> str:
    return f'"{cell}"' if delimiter in cell else cell


@pytest.mark.parametrize(
    "name",
    [
        "Email",
        "E-Mail",
        "email_address",
        "Email Address",
        "E-Mail-Adresse",
        "correo electrónico",
        "Courriel",
        "Adresse e-mail",
        "Mail",
        "Work Email",
        "Электронная почта",
        "メールアドレス",
    ],
)
def test_email_column_found_by_header_name(tmp_path: Path, name: str) -> None:
    text = f"First,Last,{name},Phone\nAnn,Lee,ann@example.com,123\nBo,Ek,bo@example.com,456\n"
    layout, rows, _ = take(write_text(tmp_path / "list.csv", text))
    assert layout.header == ("First", "Last", name, "Phone")
    assert layout.email_column == 2
    assert [row.row_no for row in rows] == [1, 2]


def test_header_name_wins_over_other_address_columns(tmp_path: Path) -> None:
    text = "Manager,Email\nboss@example.com,ann@example.com\nboss@example.com,bo@example.com\n"
    layout, rows, _ = take(write_text(tmp_path / "list.csv", text))
    assert layout.email_column == 1
    assert emails(rows) == ["ann@example.com", "bo@example.com"]


def test_named_column_without_addresses_gives_way_to_the_address_column(tmp_path: Path) -> None:
    text = "Email opt-in,Contact\nyes,ann@example.com\nno,bo@example.com\n"
    layout, _, _ = take(write_text(tmp_path / "list.csv", text))
    assert (layout.header, layout.email_column) == (("Email opt-in", "Contact"), 1)


def test_unnamed_header_above_addresses_is_a_header(tmp_path: Path) -> None:
    text = "who,contact\nAnn,ann@example.com\nBo,bo@example.com\n"
    layout, rows, _ = take(write_text(tmp_path / "list.csv", text))
    assert (layout.header, layout.email_column) == (("who", "contact"), 1)
    assert emails(rows) == ["ann@example.com", "bo@example.com"]


def test_no_header_email_column_found_by_content(tmp_path: Path) -> None:
    text = "Ann,Lee,ann@example.com,Berlin\nBo,Ek,bo@example.com,Oslo\nCy,Oh,bad-address,Rome\n"
    layout, rows, stats = take(write_text(tmp_path / "list.csv", text))
    assert (layout.header, layout.email_column) == (None, 2)
    assert [row.row_no for row in rows] == [1, 2, 3]
    assert rows[0].cells == ("Ann", "Lee", "ann@example.com", "Berlin")
    assert (stats.unique, stats.syntax_invalid) == (2, 1)


def test_tab_hint_from_the_file_name_only_breaks_ties(tmp_path: Path) -> None:
    # Split at the tab or at the comma, this line is two columns with an address in one.
    path = write_text(tmp_path / "list.tsv", "a@example.com\tb@example.com,c@example.com\n")
    assert sniff_layout(path, filename="list.tsv").delimiter == "\t"
    assert sniff_layout(path, filename="list.csv").delimiter == ","
    content_decides = write_text(tmp_path / "named.tsv", "n,email\nAnn,ann@example.com\n")
    assert sniff_layout(content_decides, filename="named.tsv").delimiter == ","


# --- TXT ----------------------------------------------------------------------------------------


def test_txt_one_address_a_line(tmp_path: Path) -> None:
    text = "ann@example.com\n  bo@example.com  \n\nnot an address\ncy@example.com"
    layout, rows, stats = take(write_text(tmp_path / "list.txt", text))
    assert (layout.format, layout.delimiter, layout.header) == ("txt", "", None)
    assert [row.cells for row in rows] == [
        ("ann@example.com",),
        ("  bo@example.com  ",),
        ("not an address",),
        ("cy@example.com",),
    ]
    assert [row.row_no for row in rows] == [1, 2, 4, 5]
    assert stats.blank == 1


def test_txt_with_header_and_old_mac_line_ends(tmp_path: Path) -> None:
    layout, rows, _ = take(write_text(tmp_path / "l.txt", "E-mail\rann@example.com\rbo@x.org\r"))
    assert (layout.format, layout.header) == ("txt", ("E-mail",))
    assert emails(rows) == ["ann@example.com", "bo@x.org"]


def test_quoted_single_column_is_read_as_csv(tmp_path: Path) -> None:
    text = '"email"\n"ann@example.com"\n"bo@example.com"\n'
    layout, rows, _ = take(write_text(tmp_path / "export.csv", text))
    assert (layout.format, layout.delimiter, layout.header) == ("csv", ",", ("email",))
    assert [row.cells for row in rows] == [("ann@example.com",), ("bo@example.com",)]


# --- cells kept as they are ---------------------------------------------------------------------


def test_cells_are_kept_exactly_with_quoted_newlines_and_ragged_rows(tmp_path: Path) -> None:
    text = (
        "id,email,address,comment\r\n"
        '1,ann@example.com,"12 Main St\r\nApt 4","She said ""hi"", then left"\r\n'
        "2,bo@example.com\r\n"
        "3,cy@example.com,, trailing space ,extra,cells\r\n"
        '4, dee@example.com ,"=1+2",\r\n'
    )
    _, rows, _ = take(write_text(tmp_path / "list.csv", text))
    assert [row.cells for row in rows] == [
        ("1", "ann@example.com", "12 Main St\r\nApt 4", 'She said "hi", then left'),
        ("2", "bo@example.com"),
        ("3", "cy@example.com", "", " trailing space ", "extra", "cells"),
        ("4", " dee@example.com ", "=1+2", ""),
    ]
    assert [row.row_no for row in rows] == [1, 2, 3, 4]
    assert rows[3].parsed.given == "dee@example.com"


# --- dedupe, invalid and blank rows -------------------------------------------------------------


def test_dedupe_on_the_normalised_address_first_occurrence_wins(tmp_path: Path) -> None:
    text = (
        "n,email\n"
        "first,ann@Example.COM\n"
        "second,ann@example.com\n"
        "third,  ann@EXAMPLE.com \n"
        "fourth,Ann@example.com\n"
        "fifth,ann@example.com\n"
    )
    _, rows, stats = take(write_text(tmp_path / "list.csv", text))
    assert [(row.row_no, row.cells[0]) for row in rows] == [(1, "first"), (4, "fourth")]
    first = rows[0].parsed
    assert isinstance(first, ParsedAddress)
    assert first.normalized == "ann@example.com"
    assert (stats.rows, stats.unique, stats.duplicates) == (5, 2, 3)


def test_invalid_rows_are_yielded_with_their_problem_and_deduped_on_text(tmp_path: Path) -> None:
    text = "email\nann@example.com\njohn(at)example.com\nbo@@example.com\n john(at)example.com\n"
    _, rows, stats = take(write_text(tmp_path / "list.csv", text))
    problems = [row.parsed for row in rows if isinstance(row.parsed, SyntaxProblem)]
    assert [p.given for p in problems] == ["john(at)example.com", "bo@@example.com"]
    assert all(p.message for p in problems)
    assert (stats.unique, stats.syntax_invalid, stats.duplicates) == (1, 2, 1)


def test_blank_rows_are_counted_not_yielded(tmp_path: Path) -> None:
    text = "name,email\nAnn,ann@example.com\nBo,\nCy,   \n\nDee\nEd,ed@example.com\n"
    _, rows, stats = take(write_text(tmp_path / "list.csv", text))
    assert [(row.row_no, row.cells[0]) for row in rows] == [(1, "Ann"), (6, "Ed")]
    assert (stats.rows, stats.blank) == (6, 4)


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_written_by_xlsxwriter(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Contacts")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Customer", "Since", "VIP", "Phone", "E-Mail"])
    sheet.write_row(1, 0, ["Zoë", None, True, 4915112345678, "zoe@example.com"])
    sheet.write_datetime(1, 1, dt.datetime(2024, 5, 17), date_format)
    sheet.write_row(3, 0, ["Bo", None, False, 1.5, "bo@Example.com"])  # row 3 left empty
    sheet.write_row(4, 0, ["Bo again", None, False, 2, "bo@example.com"])
    book.add_worksheet("Other").write(0, 0, "x@example.com")
    book.close()
    layout, rows, stats = take(path, filename="list.xlsx")
    assert (layout.format, layout.encoding, layout.delimiter) == ("xlsx", "", "")
    assert (layout.header, layout.email_column) == (
        ("Customer", "Since", "VIP", "Phone", "E-Mail"),
        4,
    )
    assert [row.cells for row in rows] == [
        ("Zoë", "2024-05-17", "TRUE", "4915112345678", "zoe@example.com"),
        ("Bo", "", "FALSE", "1.5", "bo@Example.com"),
    ]
    assert [row.row_no for row in rows] == [1, 3]
    assert (stats.blank, stats.duplicates) == (1, 1)


def test_xlsx_written_by_openpyxl_without_header_after_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"] = "Ann"
    sheet["C3"] = "ann@example.com"
    sheet["B4"] = "Bo"
    sheet["C4"] = "bo@example.com"
    book.save(path)
    layout, rows, stats = take(path)
    assert (layout.header, layout.email_column) == (None, 2)
    assert [(row.row_no, row.cells) for row in rows] == [
        (3, ("", "Ann", "ann@example.com")),
        (4, ("", "Bo", "bo@example.com")),
    ]
    assert stats.blank == 2


def test_xlsx_header_below_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([])
    sheet.append(["Name", "Email"])
    sheet.append(["Ann", "ann@example.com"])
    book.save(path)
    layout, rows, _ = take(path)
    assert layout.header == ("Name", "Email")
    assert [(row.row_no, row.cells) for row in rows] == [(1, ("Ann", "ann@example.com"))]


# --- hand-built XLSX packages -------------------------------------------------------------------

_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_MAIN}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_MAIN}.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{_RELS}">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def write_package(path: Path, sheet_xml: str) -> Path:
    """A minimal XLSX whose only sheet is ``sheet_xml``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def sheet_xml(rows: dict[int, dict[str, str]], dimension: str = "A1") -> str:
    body = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{col}{r}" t="inlineStr"><is><t>{text}</t></is></c>'
            for col, text in cells.items()
        )
        + "</row>"
        for r, cells in rows.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{body}</sheetData></worksheet>'
    )


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


@pytest.mark.parametrize("dimension", ["A1:XFD1048576", "A1:B2"])
def test_huge_sparse_sheet_is_read_without_trusting_its_dimension(
    tmp_path: Path, dimension: str
) -> None:
    rows = {
        1: {"A": "Name", "B": "Email"},
        2: {"A": "Ann", "B": "ann@example.com"},
        3: {"A": "Bo", "B": "bo@example.com"},
        1_000_000: {"A": "Zed", "B": "zed@example.com"},
    }
    path = write_package(tmp_path / "sparse.xlsx", sheet_xml(rows, dimension))
    before = rss()
    layout, found, stats = take(path)
    assert rss() - before < 100 * 1024 * 1024
    assert (layout.header, layout.email_column) == (("Name", "Email"), 1)
    assert [(row.row_no, row.cells) for row in found] == [
        (1, ("Ann", "ann@example.com")),
        (2, ("Bo", "bo@example.com")),
        (999_999, ("Zed", "zed@example.com")),
    ]
    assert stats.blank == 999_996


def test_sheet_rows_beyond_the_row_limit_are_refused(tmp_path: Path) -> None:
    rows = {1: {"A": "email"}, 2: {"A": "ann@example.com"}, 900_000_000: {"A": "z@example.com"}}
    path = write_package(tmp_path / "far.xlsx", sheet_xml(rows))
    limits = IntakeLimits(max_rows=1000)
    layout = sniff_layout(path, limits=limits)
    assert "more than 1,000 rows" in refused_while_reading(path, layout, limits)


def test_sheet_without_addresses_is_refused(tmp_path: Path) -> None:
    path = write_package(tmp_path / "bare.xlsx", sheet_xml({1: {"A": "Name", "B": "Email"}}))
    assert refused(path) == "The file has no addresses: its email column is empty."
    empty = write_package(tmp_path / "empty.xlsx", sheet_xml({}))
    assert refused(empty) == "The sheet 'Sheet1' of the workbook is empty."


def test_sheet_with_too_many_columns_is_refused(tmp_path: Path) -> None:
    rows = {1: {"A": "email", "XFD": "far right"}, 2: {"A": "a@example.com"}}
    path = write_package(tmp_path / "wide.xlsx", sheet_xml(rows))
    assert refused(path) == "The sheet 'Sheet1' has 16384 columns, more than the 200 allowed."


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = write_overlapping_bomb(tmp_path / "bomb.xlsx", parts=300, part_size=8 * 1024 * 1024)
    assert path.stat().st_size < 64 * 1024  # a few KB that unpack to 2.5 GB
    before = rss()
    message = refused(path)
    assert rss() - before < 20 * 1024 * 1024
    assert "unpacks to 2.34 GB" in message


def test_extreme_compression_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dense.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (32 * 1024 * 1024))
    assert "zip bomb" in refused(path)


def write_overlapping_bomb(path: Path, parts: int, part_size: int) -> Path:
    """A ZIP whose every entry points at the same small deflate stream (a "non-recursive" bomb)."""
    plain = bytes(part_size)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = packer.compress(plain) + packer.flush()
    crc = zlib.crc32(plain)
    name = b"xl/workbook.xml"
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(kernel), part_size, len(name), 0
    )
    directory = b""
    for i in range(parts):
        entry = name if i == 0 else f"xl/worksheets/sheet{i}.xml".encode()
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(kernel), part_size,
            len(entry), 0, 0, 0, 0, 0, 0,
        ) + entry  # fmt: skip
    start = len(local) + len(name) + len(kernel)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, parts, parts, len(directory), start, 0)
    path.write_bytes(local + name + kernel + directory + end)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"PK\x03\x04" + bytes(range(256)) * 4, "damaged"),
        (b"PK\x05\x06" + bytes(18), "not an Excel workbook"),
    ],
)
def test_damaged_zip_is_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    assert expected in refused(write_bytes(tmp_path / "list.xlsx", content))


def test_truncated_workbook_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["email"])
    book.save(good)
    data = good.read_bytes()
    assert "damaged" in refused(write_bytes(tmp_path / "cut.xlsx", data[: len(data) // 2]))


def test_workbook_with_broken_sheet_xml_is_refused(tmp_path: Path) -> None:
    path = write_package(tmp_path / "broken.xlsx", sheet_xml({1: {"A": "a@x.com"}})[:-30])
    assert "damaged" in refused(path)


def test_zip_archive_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("list.csv", "email\nann@example.com\n")
    assert "ZIP archive, not an Excel workbook" in refused(path)


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# --- bad text files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "The file is empty."),
        (b" \r\n\t\n", "The file is empty."),
        (codecs.BOM_UTF8, "The file is empty."),
        (b"email\nann@example.com\x00\x00\x01\x02\n", "NUL bytes"),
        ("email\nann@example.com\n".encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"\xff\xd8\xff\xe0" + bytes(16), "JPEG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "old Excel (.xls)"),
        (b"<!DOCTYPE html><html><body>a@b.com</body></html>", "web page"),
        (b"name,city\nAnn,Rome\nBo,Oslo\n", "No column of email addresses"),
        (b"a,b\nc,d\n", "No column of email addresses"),
        (b"email\r\n", "no addresses: its email column is empty"),
        (b"name,email\nAnn,\nBo,  \n", "no addresses: its email column is empty"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    assert expected in refused(write_bytes(tmp_path / "upload.csv", content))


def test_named_column_of_bad_addresses_is_still_the_email_column(tmp_path: Path) -> None:
    _, rows, stats = take(write_text(tmp_path / "l.csv", "name,email\nAnn,nope\nBo,nada\n"))
    assert stats.syntax_invalid == 2
    assert all(isinstance(row.parsed, SyntaxProblem) for row in rows)


def test_too_large(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "email\n" + "ann@example.com\n" * 200)
    assert refused(path, IntakeLimits(max_bytes=1024)) == (
        "The file is 3.13 KB, more than the 1 KB allowed."
    )


def test_too_many_rows_is_refused_up_front_when_lines_are_records(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "email\n" + "".join(f"u{i}@x.com\n" for i in range(11)))
    assert sniff_layout(path, limits=IntakeLimits(max_rows=11)).header == ("email",)
    assert "more than 10 rows" in refused(path, IntakeLimits(max_rows=10))


def test_too_many_rows_is_refused_while_reading_when_records_may_span_lines(
    tmp_path: Path,
) -> None:
    text = 'email,note\n"a@x.com","two\nlines"\n' + "".join(f"u{i}@x.com,n\n" for i in range(11))
    path = write_text(tmp_path / "l.csv", text)
    limits = IntakeLimits(max_rows=10)
    layout = sniff_layout(path, limits=limits)
    assert "more than 10 rows" in refused_while_reading(path, layout, limits)


def test_too_many_columns(tmp_path: Path) -> None:
    wide = "email," + ",".join(f"c{i}" for i in range(10)) + "\n"
    path = write_text(tmp_path / "l.csv", wide + "a@x.com" + "," * 10 + "\n")
    assert refused(path, IntakeLimits(max_columns=10)) == (
        "The file has 11 columns, more than the 10 allowed."
    )
    late = write_text(
        tmp_path / "late.csv", "email,n\n" + "a@x.com,1\n" * 1500 + "b@x.com" + ",x" * 20
    )
    limits = IntakeLimits(max_columns=10)
    layout = sniff_layout(late, limits=limits)
    assert refused_while_reading(late, layout, limits) == (
        "Row 1501 has 21 columns, more than the 10 allowed."
    )


def test_overlong_line_is_refused_up_front(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "email\n" + "a@x.com\n" * 3000 + "b" * 2000 + "\n")
    assert "Line 3002 is longer than 1 KB" in refused(path, IntakeLimits(max_line_bytes=1024))


def test_overlong_line_counts_bytes_not_characters(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.csv", "email,name\na@x.com," + "é" * 600 + "\n")
    limits = IntakeLimits(max_line_bytes=1024)
    assert "Line 2 is longer than 1 KB" in refused(path, limits)
    layout = ListLayout("csv", "utf-8", ",", ("email", "name"), 0)
    assert "Line 2 is longer than 1 KB" in refused_while_reading(path, layout, limits)


def test_reading_alone_guards_against_overlong_lines_without_newlines(tmp_path: Path) -> None:
    path = write_text(tmp_path / "l.txt", "a@x.com\n" + "x" * 5_000_000)
    layout = ListLayout("txt", "utf-8", "", None, 0)
    limits = IntakeLimits(max_line_bytes=4096)
    assert "Line 2 is longer than 4 KB" in refused_while_reading(path, layout, limits)


def test_unclosed_quote_is_refused(tmp_path: Path) -> None:
    text = "email,note\n" + "a@x.com,ok\n" * 5 + 'b@x.com,"never closed\n' + "c@x.com,z\n" * 20_000
    path = write_text(tmp_path / "l.csv", text)
    layout = sniff_layout(path)
    assert "a quote" in refused_while_reading(path, layout)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "email\nzoë@example.com\n".encode() + "renée@example.com\n".encode("cp1252"),
            "mixes text encodings: it reads as UTF-8 until line 3",
        ),
        (
            b"email\na@x.com\nb\x81@x.com\n",
            "Line 3 has bytes that are neither UTF-8 nor Windows-1252",
        ),
        (
            codecs.BOM_UTF16_LE + "email\na@x.com\n".encode("utf-16-le") + b"\x00\xdc\n\x00",
            "announces UTF-16 (byte-order mark) but line 3 has bytes that are not valid UTF-16",
        ),
        (codecs.BOM_UTF8 + b"email\n\xff@x.com\n", "announces UTF-8 (byte-order mark) but line 2"),
    ],
)
def test_undecodable_bytes_are_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    assert expected in refused(write_bytes(tmp_path / "l.csv", content))


def test_reading_alone_refuses_undecodable_bytes(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "l.txt", b"a@x.com\n\xff\xfe@x.com\n")
    layout = ListLayout("txt", "utf-8", "", None, 0)
    assert "bytes that are not valid UTF-8 text" in refused_while_reading(path, layout)


# --- lines cut from blocks ----------------------------------------------------------------------

LINE_ENDS = (
    "email,note\r\n"
    "a@x.com,crlf\r\n"
    "b@x.com,cr\r"
    "c@x.com,lf\n"
    "\r\n"
    "\n"
    '"d@x.com","quoted\r\nacross lines"\r\n'
    "é@x.com,non-ascii ünïcödé\r"
    "\r"
    "e@x.com,no line end at the end"
)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8, 13, 1 << 18])
def test_lines_are_the_files_lines_wherever_the_blocks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(text_format, "_LINE_BLOCK", block)
    path = write_text(tmp_path / "l.csv", LINE_ENDS)
    with path.open(encoding="utf-8", newline="") as fh:
        expected = fh.readlines()  # what the file object itself calls lines
    with text_format.open_text(path, "utf-8") as fh:
        lines = list(text_format.iter_lines(fh, "utf-8", IntakeLimits()))
    assert lines == expected
    assert len(lines) == 11


@pytest.mark.parametrize("block", [7, 1 << 18])
def test_an_overlong_line_spread_over_blocks_is_refused_with_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(text_format, "_LINE_BLOCK", block)
    text = "email\r\n" + "a@x.com\r\n" * 50 + "b" * 1025 + "\r\nc@x.com\r\n"
    path = write_text(tmp_path / "l.csv", text)
    layout = ListLayout("csv", "utf-8", ",", ("email",), 0)
    message = refused_while_reading(path, layout, IntakeLimits(max_line_bytes=1024))
    assert "Line 52 is longer than 1 KB" in message


def test_a_line_just_within_the_limit_spread_over_blocks_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_format, "_LINE_BLOCK", 100)
    long_note = "é" * 511  # 1022 bytes: the line "b@x.com,…" is 1030 bytes long
    path = write_text(tmp_path / "l.csv", f"a@x.com,{long_note[:-4]}\r\nb@x.com,{long_note}\r\n")
    layout = ListLayout("csv", "utf-8", ",", None, 0)
    rows = list(read_list(path, layout, IntakeStats(), limits=IntakeLimits(max_line_bytes=1032)))
    assert [row.cells[1] for row in rows] == [long_note[:-4], long_note]


# --- rows for the store -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells",
    [
        ("a", "b@x.com", "Köln"),
        ('say "hi"', "x"),
        ("back\\slash",),
        ("tab\there", "new\nline", "cr\r", "nul\x00", "bell\x07"),
        ("\u2028", "\u00a0", "\x7f", "😀"),
        ("",),
        ("", ""),
        (),
    ],
)
def test_cells_become_the_json_array_the_json_module_writes(cells: tuple[str, ...]) -> None:
    encoded = cells_json(cells)
    assert encoded == json.dumps(list(cells), ensure_ascii=False, separators=(",", ":"))
    assert json.loads(encoded) == list(cells)


def test_item_batches_number_rows_deal_chunks_and_count(tmp_path: Path) -> None:
    text = "email,n\n" + "".join(
        f"{'bad' if i % 4 == 3 else 'ok'}{i}{'' if i % 4 == 3 else '@x.com'},{i}\n"
        for i in range(10)
    )
    _, rows, _ = take(write_text(tmp_path / "l.csv", text))
    counts = ItemCounts()
    batches = list(item_batches(rows, 7, 2, counts, size=4))

    assert [len(batch) for batch in batches] == [4, 4, 2]
    pending = [row for batch in batches for row in batch.pending]
    final = [row for batch in batches for row in batch.final]
    assert [dict(zip(PENDING_COLUMNS, row, strict=True)) for row in pending[:2]] == [
        {
            "job_id": 7, "seq": 0, "row_no": 1, "cells": '["ok0@x.com","0"]',
            "email": "ok0@x.com", "normalized": "ok0@x.com", "domain": "x.com", "chunk": 0,
            "free": False, "disposable": False, "role": False, "did_you_mean": "",
        },
        {
            "job_id": 7, "seq": 1, "row_no": 2, "cells": '["ok1@x.com","1"]',
            "email": "ok1@x.com", "normalized": "ok1@x.com", "domain": "x.com", "chunk": 0,
            "free": False, "disposable": False, "role": False, "did_you_mean": "",
        },
    ]  # fmt: skip
    assert [(row[1], row[7]) for row in pending] == [
        (0, 0), (1, 0), (2, 1), (4, 1), (5, 2), (6, 2), (8, 3), (9, 3),
    ]  # fmt: skip
    assert [row[:3] + row[4:7] for row in final] == [
        (7, 3, 4, "bad3", "invalid", "invalid_email"),
        (7, 7, 8, "bad7", "invalid", "invalid_email"),
    ]
    assert all(len(row) == len(FINAL_COLUMNS) and row[8] for row in final)
    assert (counts.rows, counts.pending, counts.columns, counts.chunks(2)) == (10, 8, 2, 4)
