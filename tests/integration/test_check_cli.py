"""``mailsift check`` as a user runs it: a real subprocess against the loopback mail world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mailworld.world import MailWorld

_KEYS = {
    "email",
    "normalized",
    "result",
    "reason",
    "free",
    "disposable",
    "role",
    "accept_all",
    "did_you_mean",
    "mx_host",
    "smtp_code",
    "smtp_message",
}


def _mailsift(
    world: MailWorld, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **world.env(), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mailsift", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_json_lines_one_object_per_address_in_input_order(mail_world: MailWorld) -> None:
    wanted = ["nobody@ok.test", "alice@ok.test", "not an address", "alice@nullmx.test"]
    done = _mailsift(mail_world, "check", "--json", *wanted)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["email"] for row in rows] == wanted
    assert all(set(row) >= _KEYS for row in rows)
    assert [(row["result"], row["reason"]) for row in rows] == [
        ("invalid", "rejected_email"),
        ("valid", "accepted_email"),
        ("invalid", "invalid_email"),
        ("invalid", "invalid_domain"),
    ]


def test_table_by_default(mail_world: MailWorld) -> None:
    done = _mailsift(mail_world, "check", "info@ok.test", extra_env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "info@ok.test" in done.stdout
    assert "valid" in done.stdout
    assert "role" in done.stdout


def test_file_from_stdin_and_from_disk(mail_world: MailWorld, tmp_path: Path) -> None:
    listing = "alice@ok.test\n\n  bob@ok.test  \ngmail-typo@gmial.com\n"
    from_stdin = _mailsift(mail_world, "check", "--json", "--file", "-", stdin=listing)
    path = tmp_path / "list.txt"
    path.write_text(listing, encoding="utf-8")
    from_disk = _mailsift(mail_world, "check", "--json", "--file", str(path))
    for done in (from_stdin, from_disk):
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [row["email"] for row in rows] == [
            "alice@ok.test",
            "bob@ok.test",
            "gmail-typo@gmial.com",
        ]
        assert rows[2]["did_you_mean"] == "gmail-typo@gmail.com"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "@",
        "a@b",
        "x" * 5000,
        "\x00\x01@\x7f",
        "тест@",
        "a@[127.0.0.1]",
        "🙂@🙂.test",
        "--help-me",
    ],
)
def test_any_string_gets_a_result_never_a_traceback(mail_world: MailWorld, junk: str) -> None:
    if "\x00" in junk:  # argv cannot carry NUL: the file path can
        done = _mailsift(mail_world, "check", "--json", "--file", "-", stdin=junk)
    else:
        done = _mailsift(mail_world, "check", "--json", "--", junk)
    assert "Traceback" not in done.stderr
    if done.returncode == 0:
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(rows) == 1
        assert rows[0]["result"] in {"invalid", "unknown"}
    else:
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1


def test_clear_errors(mail_world: MailWorld, tmp_path: Path) -> None:
    missing = _mailsift(mail_world, "check", "--file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    nothing = _mailsift(mail_world, "check")
    assert nothing.returncode == 2
    assert "no addresses given" in nothing.stderr
    bad = _mailsift(mail_world, "check", "a@ok.test", extra_env={"MAILSIFT_SMTP_PORT": "many"})
    assert bad.returncode == 2
    assert "MAILSIFT_SMTP_PORT" in bad.stderr
    assert "Traceback" not in bad.stderr
