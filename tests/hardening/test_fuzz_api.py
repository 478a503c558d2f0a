"""schemathesis against a live server, briefly (``make bench-hardening`` runs 200 cases an
operation); and the framework's own 422 answer, which must not repeat what was sent."""

from __future__ import annotations

from pathlib import Path

from bench.hardening.fuzz_api import fuzz_api
from fastapi.exceptions import RequestValidationError

from mailsift.api.errors import validation_message

CANARY = "ms_canary-0123456789abcdefghijklmnopqrstuv"


def test_the_live_api_survives_schemathesis_without_a_finding(tmp_path: Path) -> None:
    result = fuzz_api(8, workdir=tmp_path)
    assert result.operations == 13, result.summary  # every documented call
    assert result.test_cases > 13 * 8
    assert result.failures == 0, "\n\n".join(result.details)
    assert result.exit_code == 0, result.summary
    assert not result.token_in_server_output
    assert result.tracebacks_in_server_output == 0
    assert result.misplaced_token_echoes == []


def test_a_validation_error_names_the_field_but_not_the_value() -> None:
    exc = RequestValidationError(
        [{"type": "int_parsing", "loc": ("query", "expires"), "msg": "not a number",
          "input": CANARY}]
    )  # fmt: skip
    message = validation_message(exc)
    assert message == "Invalid request: query.expires: not a number."
    assert CANARY not in message
