"""The engine as a library: its public names, and a start that loads no service stack."""

from __future__ import annotations

import json
import subprocess
import sys

import mailsift.verify

_SERVICE_MODULES = (
    "fastapi",
    "sqlalchemy",
    "procrastinate",
    "pydantic_settings",
    "mailsift.settings",
)


def test_importing_the_engine_loads_no_service_stack() -> None:
    """Run in a fresh interpreter: this one has long imported the rest of mailsift."""
    probe = "import json, sys, mailsift.verify; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert "mailsift.verify.engine" in loaded  # the probe did import the engine
    service = sorted(
        name
        for name in loaded
        if any(name == m or name.startswith(f"{m}.") for m in _SERVICE_MODULES)
    )
    assert service == []


def test_the_public_api_is_declared() -> None:
    for name in ("Verifier", "Verification", "Result", "Reason", "EngineOptions"):
        assert name in mailsift.verify.__all__
    for name in ("SmtpConnector", "SocketConnector", "ScriptedConnector", "ScriptedServer"):
        assert name in mailsift.verify.__all__
    for name in mailsift.verify.__all__:
        assert getattr(mailsift.verify, name).__module__.startswith("mailsift.verify.")
