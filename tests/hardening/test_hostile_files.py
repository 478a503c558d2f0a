"""Hostile uploads through the live API: each refused with a clear 4xx, the server's memory
bounded (the bench sends a 200 MB line; this test a 20 MB one)."""

from __future__ import annotations

import openpyxl
from bench.hardening.hostile_files import refuse_hostile_files

PEAK_MB = 150


def test_openpyxl_parses_with_defusedxml() -> None:
    assert openpyxl.DEFUSEDXML is True


def test_hostile_files_are_refused_clearly_and_cheaply() -> None:
    result = refuse_hostile_files(line_mb=20, bomb_mb=10)
    messages = {r["name"]: (r["status"], r["message"]) for r in result["refusals"]}
    assert all(r["clear"] for r in result["refusals"]), messages
    assert "zip bomb" in messages["XLSX zip bomb (10 MB sheet)"][1]
    assert "damaged" in messages["billion laughs (entities 10 deep)"][1]
    assert "16384 columns" in messages["a row reaching column XFD"][1]
    assert "2 GB" in messages["lying ZIP sizes: 2 GB declared"][1]
    assert "longer than 64 KB" in messages["one 20 MB line"][1]
    assert "NUL bytes" in messages["NUL bytes in a CSV"][1]
    assert result["tracebacks_in_server_output"] == 0
    assert result["server_peak_rss_mb"] < PEAK_MB, result
