"""The service's settings handed to the engine as its own frozen options."""

from __future__ import annotations

import dataclasses

import pytest

from mailsift.settings import Settings
from mailsift.verify import EngineOptions


def test_settings_become_engine_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSIFT_MAX_RCPT_ERRORS_PER_SESSION", "3")
    monkeypatch.setenv("MAILSIFT_PROXIES", "socks5://a:b@127.0.0.1:1080, socks5://127.0.0.1:1081")
    monkeypatch.setenv("MAILSIFT_HELO_NAME", "probe.example.org")
    options = Settings().engine_options()

    assert options.max_rcpt_errors_per_session == 3
    assert options.proxies == ("socks5://a:b@127.0.0.1:1080", "socks5://127.0.0.1:1081")
    assert options.envelope_sender == "verify@probe.example.org"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_rcpt_per_session = 1  # type: ignore[misc]


def test_the_default_error_budget_is_below_postfix_soft_limit() -> None:
    assert Settings().max_rcpt_errors_per_session == EngineOptions().max_rcpt_errors_per_session
    assert EngineOptions().max_rcpt_errors_per_session < 10


@pytest.mark.parametrize("name", ["max_rcpt_errors_per_session", "max_connections_per_host"])
def test_caps_below_one_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        EngineOptions(helo_name="probe.example.org", **{name: 0})  # type: ignore[arg-type]
