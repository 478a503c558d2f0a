"""The upload preview: the sheets, the chosen sheet and column and why, the first rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsift.jobs.intake import IntakeError, UnknownChoice
from mailsift.jobs.preview import SheetInfo, preview_list
from tests.unit.test_intake_choices import write_book


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_book(
        tmp_path / "contacts.xlsx",
        {
            "Cover": [["Contacts export"], ["Questions: help@acme.example"]],
            "Contacts": [
                ["Name", "E-mail", "Phone"],
                ["Ann", "Ann Lee <ann@x.example>", "1"],
                [""],
                ["Bo", "bo@y.example", "2"],
            ],
            "Archive": [[f"old{n}@z.example"] for n in range(5)],
        },
        hidden=("Archive",),
    )


def test_preview_picks_the_visible_sheet_with_the_best_column(workbook: Path) -> None:
    preview = preview_list(workbook, filename="contacts.xlsx")
    assert preview.sheets == (
        SheetInfo("Cover", 1, False),
        SheetInfo("Contacts", 2, False),
        SheetInfo("Archive", 3, True),
    )
    assert preview.sheet == "Contacts"
    assert preview.headers == ("Name", "E-mail", "Phone")
    assert (preview.email_column, preview.email_column_name, preview.basis) == (
        1,
        "E-mail",
        "header",
    )
    assert "header 'E-mail'" in preview.reason
    assert "'Contacts' has the best email column" in preview.reason
    assert preview.rows == (("Ann", "Ann Lee <ann@x.example>", "1"), ("Bo", "bo@y.example", "2"))


def test_preview_follows_the_chosen_sheet_and_column(workbook: Path) -> None:
    hidden = preview_list(workbook, filename="contacts.xlsx", sheet="archive", max_rows=2)
    assert (hidden.sheet, hidden.has_header, hidden.headers) == ("Archive", False, ("email",))
    assert hidden.rows == (("old0@z.example",), ("old1@z.example",))
    assert "The sheet 'Archive' was chosen" in hidden.reason
    by_number = preview_list(workbook, filename="contacts.xlsx", sheet="2", column="3")
    assert (by_number.sheet, by_number.email_column_name, by_number.basis) == (
        "Contacts",
        "Phone",
        "chosen",
    )
    assert "0% of its sampled cells hold addresses" in by_number.reason


def test_preview_names_the_sheets_and_columns_there_are(workbook: Path) -> None:
    with pytest.raises(UnknownChoice) as sheet:
        preview_list(workbook, filename="contacts.xlsx", sheet="Leads")
    assert sheet.value.message == (
        "The workbook has no sheet 'Leads': its sheets are 'Cover', 'Contacts', "
        "'Archive' (hidden) (or by number, 1 to 3)."
    )
    with pytest.raises(UnknownChoice) as column:
        preview_list(workbook, filename="contacts.xlsx", sheet="Contacts", column="Mail")
    assert column.value.message == (
        "The sheet 'Contacts' has no column 'Mail': its columns are 'Name', 'E-mail', 'Phone' "
        "(or by number, columns 1 to 3)."
    )


def test_preview_of_a_text_list_without_header(tmp_path: Path) -> None:
    path = tmp_path / "people.txt"
    path.write_text('John Doe <john@x.example>\n"Smith, Jane" <jane@y.example>\n,\n')
    preview = preview_list(path, filename="people.txt")
    assert (preview.format, preview.encoding, preview.sheets, preview.sheet) == (
        "txt",
        "UTF-8",
        (),
        None,
    )
    assert (preview.headers, preview.has_header, preview.basis) == (("email",), False, "content")
    assert preview.rows == (("John Doe <john@x.example>",), ('"Smith, Jane" <jane@y.example>',))


def test_preview_refuses_what_intake_refuses(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("id,amount\n1,2\n")
    with pytest.raises(IntakeError) as refused:
        preview_list(path, filename="numbers.csv")
    assert refused.value.message.endswith("Looked at the columns of the first row: 'id', 'amount'.")
    with pytest.raises(UnknownChoice) as unknown:
        preview_list(path, filename="numbers.csv", column="Email")
    assert "its columns are 'id', 'amount' (or by number, columns 1 to 2)" in unknown.value.message
