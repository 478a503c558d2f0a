"""Result rows: original cells first, and no cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import json

import pytest

from mailsift.jobs.results import _line

_RESULT = ("valid", "accepted_email", "false", "false", "false", "false", "", "mx.x.test", "250")


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["a@x.test", "plain"], ["a@x.test", "plain"]),
        (["a@x.test", "=SUM(A1)"], ["a@x.test", "'=SUM(A1)"]),
        (["a@x.test", "+1"], ["a@x.test", "'+1"]),
        (["a@x.test", "-1"], ["a@x.test", "'-1"]),
        (["a@x.test", "@cmd"], ["a@x.test", "'@cmd"]),
        (["a@x.test", "\tx"], ["a@x.test", "'\tx"]),
        (["a@x.test", "\rx"], ["a@x.test", "'\rx"]),
        (["a@x.test", 'say "-hi"'], ["a@x.test", 'say "-hi"']),  # a quote inside: not a start
        (["a@x.test", "ok", "=1"], ["a@x.test", "ok", "'=1"]),
        (["a@x.test"], ["a@x.test", ""]),  # a short row is padded to the header's width
    ],
)
def test_cells_are_kept_and_neutralised(cells: list[str], expected: list[str]) -> None:
    row = (json.dumps(cells), "a@x.test", *_RESULT, "=2.1.5 Ok", "false", "", 100)
    line = _line(row, width=2, email_column=0)
    assert line[: len(expected)] == expected
    assert line[len(expected) : len(expected) + 9] == list(_RESULT)
    assert line[-5] == "'=2.1.5 Ok"  # the mail server's words are neutralised too
    assert line[-4] == ""  # the cell was the address: no source value
    assert line[-3:] == ["false", "", "100"]


def test_a_suppressed_row_names_its_list_and_a_row_without_a_score_gets_its_own() -> None:
    row = (json.dumps(["a@gmial.com"]), "a@gmial.com", "invalid", "invalid_email", "false",
           "false", "false", "false", "a@gmail.com", "", "", "bad syntax", "true", "=traps",
           None)  # fmt: skip
    line = _line(row, width=1, email_column=0)
    assert line[-3:] == ["true", "'=traps", "0"]  # invalid_email (5) less the typo, floored


@pytest.mark.parametrize(
    ("cell", "email", "source_value"),
    [
        (" a@x.test ", "a@x.test", ""),  # surrounding whitespace is not worth repeating
        ("Ann <a@x.test>", "a@x.test", "Ann <a@x.test>"),
        ("a@x.test; b@x.test", "b@x.test", "a@x.test; b@x.test"),
        ("=1 <=a@x.test>", "=a@x.test", "'=1 <=a@x.test>"),  # both neutralised
    ],
)
def test_email_column_holds_the_address_and_source_value_the_cell(
    cell: str, email: str, source_value: str
) -> None:
    row = (json.dumps(["Ann", cell]), email, *_RESULT, "ok", "false", "", 100)
    line = _line(row, width=2, email_column=1)
    assert line[:2] == ["Ann", "'" + email if email.startswith("=") else email]
    assert line[-4] == source_value
