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
    row = (json.dumps(cells), *_RESULT, "=2.1.5 Ok")
    line = _line(row, width=2)
    assert line[: len(expected)] == expected
    assert line[len(expected) : len(expected) + 9] == list(_RESULT)
    assert line[-1] == "'=2.1.5 Ok"  # the mail server's words are neutralised too
