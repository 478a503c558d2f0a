"""Intake of the lists people really have: address forms in cells, several addresses in one
cell, blank rows whatever the delimiter, every sheet of a workbook, and the sender's choice of
sheet and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from mailsift.jobs.intake import IntakeError, UnknownChoice, sniff_layout
from tests.unit.test_intake import emails, take, write_text


def test_display_names_mailto_and_trailing_dots_give_the_address(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "people.txt",
        "John Doe <john@example.org>\n"
        '"Smith, Jane" <jane@example.org>\n'
        "mailto:max@example.org?subject=Hi\n"
        "ann@example.org (Ann)\n"
        "<bo@example.org>;\n"
        "cy@example.org.\n",
    )
    layout, rows, stats = take(path)
    assert (layout.format, layout.header, layout.email_column) == ("txt", None, 0)
    assert emails(rows) == [
        "john@example.org", "jane@example.org", "max@example.org", "ann@example.org",
        "bo@example.org", "cy@example.org",
    ]  # fmt: skip
    assert rows[1].cells == ('"Smith, Jane" <jane@example.org>',)  # the cell as given
    assert (stats.unique, stats.syntax_invalid, stats.blank) == (6, 0, 0)


def test_a_cell_of_several_addresses_gives_a_row_for_each(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "team.csv",
        "name,email,team\n"
        'Ann,"ann@example.org; bo@example.org",red\n'
        'Cy,"cy@example.org, ann@example.org, bad@",blue\n',
    )
    _, rows, stats = take(path)
    assert [(row.row_no, row.parsed.given, row.cells[2]) for row in rows] == [
        (1, "ann@example.org", "red"),
        (1, "bo@example.org", "red"),
        (2, "cy@example.org", "blue"),
        (2, "bad@", "blue"),
    ]
    assert (stats.rows, stats.more_in_cell, stats.duplicates, stats.syntax_invalid) == (2, 3, 1, 1)


@pytest.mark.parametrize("blank", [",", ";;", ",,,", '"",""', "\t", "  ", "|"])
def test_rows_of_nothing_are_blank_whatever_the_delimiter(tmp_path: Path, blank: str) -> None:
    path = write_text(tmp_path / "list.csv", f"ann@example.org\n{blank}\nbo@example.org\n")
    _, rows, stats = take(path)
    assert emails(rows) == ["ann@example.org", "bo@example.org"]
    assert (stats.blank, stats.syntax_invalid) == (1, 0)


def test_a_file_without_an_email_column_says_what_was_looked_at(tmp_path: Path) -> None:
    path = write_text(tmp_path / "orders.csv", "order,amount,city\n1,2.50,Oslo\n")
    with pytest.raises(IntakeError) as refused:
        sniff_layout(path)
    assert refused.value.message == (
        "No column of email addresses was found: put the addresses in one column, ideally "
        "under a header named \"email\". Looked at the columns of the first row: 'order', "
        "'amount', 'city'."
    )


def test_the_column_chosen_by_name_or_number(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "two.csv", "Name,Work,Private\nAnn,ann@work.example,ann@home.example\n"
    )
    assert sniff_layout(path).email_column == 1
    assert sniff_layout(path, column="private").email_column == 2  # any case
    assert sniff_layout(path, column="3").email_column == 2
    _, rows, _ = take(path, column="Private")
    assert emails(rows) == ["ann@home.example"]
    with pytest.raises(UnknownChoice) as unknown:
        sniff_layout(path, column="Email")
    assert unknown.value.message == (
        "The file has no column 'Email': its columns are 'Name', 'Work', 'Private' "
        "(or by number, columns 1 to 3)."
    )
    headerless = write_text(tmp_path / "bare.csv", "ann@x.example,1\nbo@x.example,2\n")
    with pytest.raises(UnknownChoice) as unnamed:
        sniff_layout(headerless, column="email")
    assert unnamed.value.message == (
        "The file has no column 'email': it has no header row, so give a column number "
        "(columns 1 to 2)."
    )


def test_a_chosen_column_reads_a_file_where_none_was_found(tmp_path: Path) -> None:
    path = write_text(tmp_path / "ids.csv", "id,login\n1,ann\n2,bo\n")
    layout, rows, stats = take(path, column="login")
    assert (layout.header, layout.email_column) == (("id", "login"), 1)
    assert emails(rows) == ["ann", "bo"]  # reported invalid, as the sender asked
    assert stats.syntax_invalid == 2


def write_book(
    path: Path, sheets: dict[str, list[list[str]]], hidden: tuple[str, ...] = ()
) -> Path:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write_string(r, c, value)
        if name in hidden:
            sheet.hide()
    book.close()
    return path


def test_the_sheet_with_the_best_email_column_wins(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "book.xlsx",
        {
            "Cover": [["Our contacts"], ["Write to help@example.org"]],
            "Contacts": [["Name", "Email"], ["Ann", "Ann <ann@example.org>"], ["Bo", "bo@x.org"]],
            "Archive": [["Email"], *([f"old{n}@example.org"] for n in range(9))],
        },
        hidden=("Archive",),
    )
    layout, rows, _ = take(path)
    assert (layout.sheet, layout.header, layout.email_column) == ("Contacts", ("Name", "Email"), 1)
    assert emails(rows) == ["ann@example.org", "bo@x.org"]
    hidden, old, _ = take(path, sheet="archive")
    assert (hidden.sheet, len(old)) == ("Archive", 9)
    assert take(path, sheet="2")[0].sheet == "Contacts"
    with pytest.raises(IntakeError) as cover:
        sniff_layout(path, sheet="1")
    assert cover.value.message.endswith("Looked at the sheets 'Cover' (columns 'Our contacts').")


def test_a_sheet_too_wide_to_read_is_passed_over_unless_chosen(tmp_path: Path) -> None:
    wide = [["x"] * 201]
    path = write_book(tmp_path / "wide.xlsx", {"Wide": wide, "List": [["ann@example.org"]]})
    assert sniff_layout(path).sheet == "List"
    with pytest.raises(IntakeError) as refused:
        sniff_layout(path, sheet="Wide")
    assert refused.value.message == "The sheet 'Wide' has 201 columns, more than the 200 allowed."


def test_a_workbook_without_an_email_column_names_its_sheets_and_headers(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "none.xlsx",
        {"Orders": [["order", "total"], ["1", "2"]], "Empty": [], "Notes": [["n/a"]]},
        hidden=("Notes",),
    )
    with pytest.raises(IntakeError) as refused:
        sniff_layout(path)
    assert refused.value.message.endswith(
        "Looked at the sheets 'Orders' (columns 'order', 'total'); 'Empty' (empty); "
        "'Notes' (columns 'n/a', hidden)."
    )
    with pytest.raises(UnknownChoice) as unknown:
        sniff_layout(path, column="Email")
    assert unknown.value.message.startswith("No sheet of the workbook has a column 'Email'.")


def test_names_with_commas_do_not_make_a_list_of_lines_a_csv(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "pasted.txt",
        "Doe, John <john@example.org>\nRoe, Rita <rita@example.org>\nAnn <ann@example.org>\n",
    )
    layout, rows, _ = take(path)
    assert (layout.format, layout.delimiter) == ("txt", "")
    assert emails(rows) == ["john@example.org", "rita@example.org", "ann@example.org"]


def test_two_partly_filled_email_columns_stay_a_csv(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "two.csv",
        "name,work,home\nAnn,ann@work.example,\nBo,,bo@home.example\nCy,cy@work.example,\n",
    )
    layout, rows, stats = take(path)
    assert (layout.format, layout.delimiter, layout.email_column) == ("csv", ",", 1)
    assert emails(rows) == ["ann@work.example", "cy@work.example"]
    assert stats.blank == 1
