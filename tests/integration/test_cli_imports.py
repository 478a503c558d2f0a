"""Each command imports only what it uses: ``mailsift check`` starts without the web, database
and queue stack, ``mailsift verify`` without the web and queue stack.

Each case runs the real command in a fresh interpreter and reports which modules it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Run as ``python -c``: the command as ``python -m mailsift`` would run it, then sys.modules.
_REPORTER = """
import json, runpy, sys
sys.argv = ["mailsift", *sys.argv[1:]]
try:
    runpy.run_module("mailsift", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

WEB_AND_QUEUE = ("fastapi", "starlette", "uvicorn", "procrastinate", "mailsift.api")
DATABASE = ("sqlalchemy", "alembic", "psycopg", "mailsift.store", "mailsift.jobs")
SERVICE = ("mailsift.accounts", "mailsift.dispatch")


def _loaded(tmp_path: Path, *args: str) -> tuple[str, int, set[str]]:
    env = {
        **os.environ,
        "MAILSIFT_DATA_DIR": str(tmp_path / "data"),
        "MAILSIFT_DATABASE_URL": "",
        "MAILSIFT_DNS_NAMESERVERS": "127.0.0.1:9",  # never asked: nothing here needs DNS
    }
    done = subprocess.run(
        [sys.executable, "-c", _REPORTER, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, report["code"], set(report["modules"])


def _heavy(modules: set[str], families: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in families))


def test_check_answers_without_the_web_database_or_queue_stack(tmp_path: Path) -> None:
    out, code, modules = _loaded(tmp_path, "check", "--json", "not-an-address")
    assert code == 0
    answer = json.loads(out)
    assert (answer["result"], answer["reason"]) == ("invalid", "invalid_email")
    assert "mailsift.verify.engine" in modules  # the report does see what was imported
    assert _heavy(modules, WEB_AND_QUEUE + DATABASE + SERVICE) == []


def test_verify_runs_a_list_without_the_web_or_queue_stack(tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("email\nnot-an-address\n", encoding="utf-8")
    _, code, modules = _loaded(tmp_path, "verify", str(listed))
    assert code == 0
    assert (tmp_path / "list-invalid.csv").exists()
    assert "sqlalchemy" in modules
    assert _heavy(modules, WEB_AND_QUEUE) == []


@pytest.mark.parametrize("command", ["serve", "worker", "accounts", "db"])
def test_other_commands_still_have_their_help(tmp_path: Path, command: str) -> None:
    out, code, modules = _loaded(tmp_path, command, "--help")
    assert code == 0
    assert f"mailsift {command} [OPTIONS]" in out
    assert _heavy(modules, ("mailsift.cli.check",)) == []
