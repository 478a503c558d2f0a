"""``mailsift verify`` and ``mailsift db upgrade`` end to end, in real subprocesses.

The subprocess runs this module (``python -m tests.integration.test_verify_cli verify …``): the
real ``verify`` command over the real store, with the network-free ``FakeVerifier``. Its
pace, its log of questions and the chunk size come from ``FAKE_*`` environment variables.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from mailsift.cli import db, verify
from mailsift.jobs.results import RESULT_COLUMNS
from mailsift.settings import Settings
from mailsift.store import sync_url
from mailsift.store.migrate import current_revision, head_revision
from tests.integration.conftest import FakeVerifier, fake_verdict

REPO = Path(__file__).resolve().parents[2]
HEADER = ["name", "email"]
KINDS = ("ok", "bad", "catch", "quiet")
EXPECTED_FILE = {"ok": "valid", "bad": "invalid", "catch": "unknown", "quiet": "unknown"}


def harness_app() -> typer.Typer:
    """The CLI as ``mailsift`` builds it, with the fake verifier plugged in."""
    delay = float(os.environ.get("FAKE_DELAY", "0"))
    log = os.environ.get("FAKE_LOG")

    def factory(settings: Settings) -> FakeVerifier:
        return FakeVerifier(delay=delay, log=Path(log) if log else None)

    app = typer.Typer(add_completion=False)

    @app.callback()
    def root() -> None:
        """mailsift, with a fake verifier."""

    verify.register(
        app,
        verifier_factory=factory,
        chunk_size=int(os.environ.get("FAKE_CHUNK_SIZE", "25")),
        workers=2,
    )
    db.register(app)
    return app


def addresses(n: int) -> list[str]:
    return [f"{KINDS[i % 4]}{i}@example.com" for i in range(n)]


def write_list(path: Path, emails: Sequence[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows([f"Person {i}", email] for i, email in enumerate(emails))
    return path


def env_for(database_url: str, **fake: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILSIFT_", "FAKE_"))}
    env["PYTHONPATH"] = str(REPO)
    if database_url:
        env["MAILSIFT_DATABASE_URL"] = database_url
    env.update({f"FAKE_{key.upper()}": value for key, value in fake.items()})
    return env


def start(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_verify_cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = start(args, cwd=cwd, env=env)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def results_by_file(out_dir: Path, stem: str) -> dict[str, list[list[str]]]:
    return {
        which: read_rows(out_dir / f"{stem}-{which}.csv")
        for which in ("valid", "invalid", "unknown")
    }


def assert_complete_results(out_dir: Path, stem: str, emails: Sequence[str]) -> None:
    """Every address exactly once, in the file its verdict sends it to, in file order."""
    for which, rows in results_by_file(out_dir, stem).items():
        assert rows[0] == [*HEADER, *RESULT_COLUMNS]
        assert [row[1] for row in rows[1:]] == [
            e for e in emails if EXPECTED_FILE[_kind(e)] == which
        ]
        for row in rows[1:]:
            assert row[2] == str(fake_verdict(row[1]).result)
            assert row[0] == f"Person {emails.index(row[1])}"


def _kind(email: str) -> str:
    return next(kind for kind in KINDS if email.startswith(kind))


class Db:
    """Reads the store of a CLI run from the test, while it runs."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(sync_url(url), poolclass=NullPool)

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar() or 0)

    def has_jobs_table(self) -> bool:
        with self.engine.connect() as connection:
            return bool(self.engine.dialect.has_table(connection, "jobs"))

    def done(self) -> int:
        return (
            self.scalar("SELECT coalesce(max(done), 0) FROM jobs") if self.has_jobs_table() else 0
        )

    def finished_emails(self) -> set[str]:
        with self.engine.connect() as connection:
            query = text("SELECT email FROM job_items WHERE result IS NOT NULL")
            return {row[0] for row in connection.execute(query)}


def wait_for_progress(db: Db, proc: subprocess.Popen[str], at_least: int) -> None:
    deadline = time.monotonic() + 30
    while db.done() < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.02)


# --- tests --------------------------------------------------------------------------------------


def test_a_list_is_verified_end_to_end(tmp_path: Path, empty_database_url: str) -> None:
    emails = addresses(60)
    listing = write_list(tmp_path / "leads.csv", emails)
    done = run(
        ["verify", str(listing), "-o", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env_for(empty_database_url, chunk_size="7"),
    )
    assert done.returncode == 0, done.stderr
    assert_complete_results(tmp_path / "out", "leads", emails)
    assert "accepted_email" in done.stdout
    assert "rejected_email" in done.stdout
    assert str(tmp_path / "out" / "leads-valid.csv") in done.stdout.replace("\n", "")
    assert "60/60" in done.stderr  # the progress bar's last state
    assert Db(empty_database_url).scalar("SELECT count(*) FROM jobs WHERE stage = 'Completed'") == 1


def test_by_default_the_store_is_under_data_and_files_go_next_to_the_list(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    emails = addresses(5)
    listing = write_list(lists / "crm.csv", emails)
    done = run(["verify", str(listing)], cwd=tmp_path, env=env_for(""))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "mailsift.db").is_file()
    assert_complete_results(lists, "crm", emails)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(b"", "The file is empty."), (b"name,phone\nAnn,1\nBob,2\n", "No column of email addresses")],
)
def test_a_bad_file_is_one_line_exit_2_and_nothing_stored(
    tmp_path: Path, content: bytes, complaint: str
) -> None:
    listing = tmp_path / "broken.csv"
    listing.write_bytes(content)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = run(["verify", str(listing)], cwd=tmp_path, env=env_for(url))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert complaint in done.stderr
    assert Db(url).scalar("SELECT count(*) FROM jobs") == 0
    assert not list(tmp_path.glob("broken-*.csv"))


def test_a_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    done = run(
        ["verify", str(tmp_path / "nowhere.csv")],
        cwd=tmp_path,
        env=env_for(f"sqlite:///{tmp_path / 'm.db'}"),
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "nowhere.csv" in done.stderr


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path: Path) -> None:
    emails = addresses(200)
    listing = write_list(tmp_path / "big.csv", emails)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    proc = start(
        ["verify", str(listing)],
        cwd=tmp_path,
        env=env_for(url, delay="0.01", log=str(first_log), chunk_size="10"),
    )
    db = Db(url)
    wait_for_progress(db, proc, at_least=20)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err
    kept = db.finished_emails()
    assert 20 <= len(kept) < len(emails)
    assert not list(tmp_path.glob("big-*.csv"))

    again = run(
        ["verify", str(listing)],
        cwd=tmp_path,
        env=env_for(url, log=str(second_log), chunk_size="10"),
    )
    assert again.returncode == 0, again.stderr
    assert "Resuming big.csv" in again.stderr
    asked_again = set(second_log.read_text().split())
    assert not asked_again & kept, "finished addresses were verified again"
    assert asked_again | kept == set(emails)
    assert db.scalar("SELECT count(*) FROM jobs") == 1
    assert_complete_results(tmp_path, "big", emails)


def test_db_upgrade_creates_the_schema(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILSIFT_DATABASE_URL", empty_database_url)
    app = harness_app()
    for _ in range(2):  # and again: nothing to do the second time
        result = CliRunner().invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"schema revision {head_revision()}" in result.output
    assert current_revision(empty_database_url) == head_revision()


if __name__ == "__main__":
    # Started as a background job of a non-interactive shell, a process inherits SIGINT
    # ignored and Python installs no KeyboardInterrupt handler: install it, as a terminal would.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    harness_app()(sys.argv[1:], prog_name="mailsift")
