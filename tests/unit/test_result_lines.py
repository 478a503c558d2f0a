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
    row = (json.dumps(cells), "a@x.test", *_RESULT, "=2.1.5 Ok")
    line = _line(row, width=2, email_column=0)
    assert line[: len(expected)] == expected
    assert line[len(expected) : len(expected) + 9] == list(_RESULT)
    assert line[-2] == "'=2.1.5 Ok"  # the mail server's words are neutralised too
    assert line[-1] == ""  # the cell was the address: no source value


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
    row = (json.dumps(["Ann", cell]), email, *_RESULT, "ok")
    line = _line(row, width=2, email_column=1)
    assert line[:2] == ["Ann", "'" + email if email.startswith("=") else email]
    assert line[-1] == source_value
