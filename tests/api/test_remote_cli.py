"""``mailsift remote verify`` against a live server, as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from mailsift.cli import remote
from tests.api.conftest import FakeEngine, Harness, ServerFactory

LIST = "name,email\nAnn,ok1@example.com\nBob,bad2@example.com\nCat,catch3@example.com\n"


def mailsift(*args: str, token: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILSIFT_TOKEN": token, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "mailsift", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_remote_verify_writes_the_three_csv_files(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(engine=FakeEngine(delay=0.05))
    token = server.account(api=50)
    (tmp_path / "customers.csv").write_text(LIST, encoding="utf-8")
    done = mailsift("remote", "verify", "customers.csv", "--url", server.url, token=token,
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "accepted by" in done.stderr
    for which, row in (
        ("valid", ["Ann", "ok1@example.com", "valid", "accepted_email"]),
        ("invalid", ["Bob", "bad2@example.com", "invalid", "rejected_email"]),
        ("unknown", ["Cat", "catch3@example.com", "risky", "low_deliverability"]),
    ):
        path = tmp_path / f"customers-{which}.csv"
        with path.open(encoding="utf-8", newline="") as file:
            table = list(csv.reader(file))
        assert [r[:4] for r in table[1:]] == [row]
        assert f"Wrote {path.name}" in done.stdout.replace(str(tmp_path) + "/", "")
    assert server.balances("acme") == (47, 0)


def test_remote_verify_as_json_lines(server: Harness, tmp_path: Path) -> None:
    token = server.account()
    listed = tmp_path / "in" / "customers.csv"
    listed.parent.mkdir()
    listed.write_text(LIST, encoding="utf-8")
    out = tmp_path / "out"
    done = mailsift("remote", "verify", str(listed), "--url", server.url, "--format", "jsonl",
                    "-o", str(out), token=token, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "customers-invalid.jsonl", "customers-unknown.jsonl", "customers-valid.jsonl",
    ]  # fmt: skip
    lines = (out / "customers-unknown.jsonl").read_text(encoding="utf-8").splitlines()
    [risky] = [json.loads(line) for line in lines]
    assert risky["name"] == "Cat"
    assert risky["email"] == "catch3@example.com"
    assert (risky["result"], risky["reason"]) == ("risky", "low_deliverability")
    assert (risky["accept_all"], risky["free"], risky["smtp_code"]) == (True, False, 250)
    assert "Wrote" in done.stdout
    assert "(1 row)" in done.stdout


def test_remote_verify_reports_a_refusal_and_exits_1(server: Harness, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "l.txt").write_text("ok@example.com\n", encoding="utf-8")
    done = mailsift("remote", "verify", "l.txt", "--url", server.url, token="wrong", cwd=work)
    assert done.returncode == 1
    assert "Invalid user_API_token." in done.stderr
    assert list(work.iterdir()) == [work / "l.txt"]


def test_jsonl_types_only_the_result_columns(tmp_path: Path) -> None:
    path = tmp_path / "x-valid.csv"
    header = ["free", "email", *["result", "reason", "free", "disposable", "role", "accept_all",
              "did_you_mean", "mx_host", "smtp_code", "smtp_message", "source_value"]]  # fmt: skip
    row = ["true", "a@b.test", "unknown", "no_connect", "false", "false", "true", "false", "",
           "", "", "", "a@b.test"]  # fmt: skip
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    written = remote.to_jsonl(path)
    record = json.loads(written.read_text(encoding="utf-8"))
    assert record["email"] == "a@b.test"
    assert (record["role"], record["smtp_code"]) == (True, None)
    assert record["free"] is False  # the result column, not the uploaded one of the same name
    assert record["source_value"] == "a@b.test"
    assert not path.exists()


def test_the_remote_command_imports_nothing_of_the_server() -> None:
    """Loaded without the rest of the CLI (whose other commands need the database)."""
    cli_dir = Path(remote.__file__).parent
    probe = (
        "import sys, types\n"
        "package = types.ModuleType('mailsift.cli')\n"
        f"package.__path__ = [{str(cli_dir)!r}]\n"
        "sys.modules['mailsift.cli'] = package\n"
        "import mailsift.cli.remote\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'uvicorn', 'alembic', 'mailsift.store')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_remote_verify_interrupted_says_the_job_goes_on(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server(workers=0)  # the job stays queued: the command keeps polling
    token = server.account()
    (tmp_path / "l.txt").write_text("ok@example.com\n", encoding="utf-8")
    # A background job of a non-interactive shell inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: install it, as an interactive terminal would have.
    launcher = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv[0] = 'mailsift'; runpy.run_module('mailsift', run_name='__main__')"
    )
    command = [sys.executable, "-c", launcher, "remote", "verify", "l.txt", "--url", server.url]
    env = {**os.environ, "MAILSIFT_TOKEN": token, "COLUMNS": "200"}
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        accepted = process.stderr.readline()  # printed once the upload is answered
        assert "accepted by" in accepted, accepted
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    [job] = server.jobs()
    assert process.returncode == 130
    assert f"Interrupted. Job {job.public_id} goes on on the server." in rest


def test_remote_check_prints_each_verdict(server: Harness, tmp_path: Path) -> None:
    token = server.account(api=10)
    done = mailsift("remote", "check", "ok1@example.com", "bad2@example.com", "--url", server.url,
                    token=token, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ok1@example.com: valid (accepted_email)",
        "bad2@example.com: invalid (rejected_email)",
    ]
    as_json = mailsift("remote", "check", "catch3@example.com", "--json", "--url", server.url,
                       token=token, cwd=tmp_path)  # fmt: skip
    [answer] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (answer["result"], answer["reason"], answer["accept_all"]) == (
        "risky", "low_deliverability", True,
    )  # fmt: skip
    assert server.balances("acme") == (7, 0)
    refused = mailsift("remote", "check", "ok@example.com", "--url", server.url, token="bad",
                       cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1
    assert "Invalid user_API_token." in refused.stderr
