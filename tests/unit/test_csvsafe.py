"""Result CSVs: formula-looking cells neutralised, Excel-style CSV, streamed or written."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import openpyxl
import pytest

from mailsift.jobs.csvsafe import iter_csv_bytes, neutralize, safe_cells, write_rows


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1",
        "\r=1",
        "=",
    ],
)
def test_formula_starts_are_neutralised(cell: str) -> None:
    assert neutralize(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell",
    ["", "ann@example.com", " =1", "'=1", "a=b", "1-2", "Zoë", "100", "john+tag@example.com"],
)
def test_other_cells_are_left_alone(cell: str) -> None:
    assert neutralize(cell) == cell


def test_safe_cells_turns_values_into_neutral_text() -> None:
    assert safe_cells(["=1", None, 25, True, -3]) == ["'=1", "", "25", "True", "'-3"]


ROWS = [
    ["ann@example.com", "Ann, Jr.", 'say "hi"', "two\nlines", "=cmd|' /C calc'!A0"],
    ["bo@example.com", None, "", "-1", "@x"],
]
EXPECTED = (
    "email,name,quote,note,payload\r\n"
    'ann@example.com,"Ann, Jr.","say ""hi""","two\nlines",\'=cmd|\' /C calc\'!A0\r\n'
    "bo@example.com,,,'-1,'@x\r\n"
)
HEADER = ["email", "name", "quote", "note", "payload"]


def test_write_rows_writes_excel_style_csv(tmp_path: Path) -> None:
    path = tmp_path / "valid.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        assert write_rows(fh, ROWS, header=HEADER) == 2
    assert path.read_bytes() == EXPECTED.encode()
    with path.open(encoding="utf-8", newline="") as fh:
        back = list(csv.reader(fh))
    assert back[1] == [
        "ann@example.com",
        "Ann, Jr.",
        'say "hi"',
        "two\nlines",
        "'=cmd|' /C calc'!A0",
    ]


def test_streamed_bytes_equal_the_written_file_in_batches() -> None:
    rows = [[f"u{i}@example.com", "=x" if i % 2 else "ok"] for i in range(25)]
    chunks = list(iter_csv_bytes(rows, header=["email", "v"], batch_rows=10))
    assert len(chunks) == 3
    buffer = io.StringIO(newline="")
    write_rows(buffer, rows, header=["email", "v"])
    assert b"".join(chunks) == buffer.getvalue().encode()
    assert chunks[0].startswith(b"email,v\r\nu0@example.com,ok\r\nu1@example.com,'=x\r\n")


def test_bom_and_non_ascii_text() -> None:
    data = b"".join(iter_csv_bytes([["zoë@exämple.com", "€"]], bom=True))
    assert data == codecs.BOM_UTF8 + "zoë@exämple.com,€\r\n".encode()


def test_no_rows_no_header_streams_nothing() -> None:
    assert list(iter_csv_bytes([])) == []


def test_a_spreadsheet_reads_neutralised_cells_as_text(tmp_path: Path) -> None:
    # What Excel would evaluate stays a plain string when the cells go into a workbook.
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(safe_cells(["=1+2", "+SUM(A1)", "ok"]))
    path = tmp_path / "check.xlsx"
    book.save(path)
    row = openpyxl.load_workbook(path).active[1]
    assert [(cell.value, cell.data_type) for cell in row] == [
        ("'=1+2", "s"),
        ("'+SUM(A1)", "s"),
        ("ok", "s"),
    ]
