"""The addresses in one cell, in the forms mail clients, CRMs and spreadsheets write them."""

from __future__ import annotations

import pytest

from mailsift.jobs.formats.cells import BARE_ADDRESS, cell_addresses, is_blank_cell


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("ann@example.com", ["ann@example.com"]),
        ("  ann@example.com\t", ["ann@example.com"]),
        ("John Doe <john.doe@example.org>", ["john.doe@example.org"]),
        ('"Smith, Jane" <jane@example.org>', ["jane@example.org"]),
        ("Smith, Jane <jane@example.org>", ["jane@example.org"]),  # unquoted comma in the name
        ("<jane@example.org>", ["jane@example.org"]),
        ("jane@example.org (Jane Smith)", ["jane@example.org"]),
        ("mailto:jane@example.org", ["jane@example.org"]),
        ("mailto:jane@example.org?subject=Hello%20there&body=x", ["jane@example.org"]),
        ("MAILTO:a%2Bb@example.org", ["a+b@example.org"]),  # percent-decoded
        ("Jane <mailto:jane@example.org>", ["jane@example.org"]),
        ('"jane@example.org"', ["jane@example.org"]),
        ("'jane@example.org'", ["jane@example.org"]),
        ("jane@example.org;", ["jane@example.org"]),
        ("jane@example.org.", ["jane@example.org"]),  # the end of a sentence
        ("a@example.org; b@example.net", ["a@example.org", "b@example.net"]),
        ("a@example.org, b@example.net,", ["a@example.org", "b@example.net"]),
        ("a@example.org ::: b@example.net", ["a@example.org", "b@example.net"]),
        ("mailto:a@example.org,b@example.net?cc=c@example.com", ["a@example.org", "b@example.net"]),
        (
            'Doe, John <j@example.org>, "Roe, R." <r@example.net>',
            ["j@example.org", "r@example.net"],
        ),
        ("o'brien@example.org", ["o'brien@example.org"]),  # an apostrophe is part of the address
        ('"john smith"@example.org', ['"john smith"@example.org']),  # a quoted local part
        ("john(at)example.com", ["john(at)example.com"]),  # no address: kept whole, as written
        ("just a name", ["just a name"]),
        ("", []),
        (",", []),
        (";;", []),
        ('"",""', []),
        (" | ", []),
    ],
)
def test_cell_addresses(cell: str, expected: list[str]) -> None:
    assert cell_addresses(cell) == expected


@pytest.mark.parametrize("cell", ["ann@example.com", "a.b+c@sub.example.co.uk", "x@bücher.de"])
def test_bare_addresses_take_the_fast_path(cell: str) -> None:
    assert BARE_ADDRESS.fullmatch(cell)
    assert cell_addresses(cell) == [cell]


@pytest.mark.parametrize("cell", ["a@x.org.", "<a@x.org>", "a@x.org;", "mailto:a@x.org", "A <a@x>"])
def test_other_forms_do_not(cell: str) -> None:
    assert not BARE_ADDRESS.fullmatch(cell)


def test_blank_cells() -> None:
    assert all(is_blank_cell(cell) for cell in ("", "  ", ",", ";\t;", '""', "'|'"))
    assert not any(is_blank_cell(cell) for cell in ("a", "-", "0", "@"))


@pytest.mark.parametrize("cell", ["finn,thomas@example.com", "sales; ann@example.com"])
def test_a_name_piece_beside_a_bare_address_keeps_the_cell_whole(cell: str) -> None:
    # Taking ann@... out of "sales; ann@..." or thomas@... out of "finn,thomas@..." would
    # verify an address nobody wrote: the cell is reported as written, an invalid address.
    assert cell_addresses(cell) == [cell]
