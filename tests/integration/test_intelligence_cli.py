"""``mailsift suppress …``, ``mailsift jobs …`` and ``mailsift verify --retry-unknown``."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mailsift.cli import jobs, suppress, verify
from mailsift.settings import Settings
from mailsift.verify.model import Reason, Result, Verification
from tests.integration.conftest import fake_verdict

LIST = "name,email\nA,ok1@example.com\nB,later2@example.com\nC,quiet3@example.com\n"
LIST += "D,ok4@traps.test\n"


class ChangingVerifier:
    """``fake_verdict``, except that ``later…`` addresses are valid from their second time."""

    def __init__(self, times: dict[str, int]) -> None:
        self.times = times

    async def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        for address in addresses:
            self.times[address] = self.times.get(address, 0) + 1
            if address.startswith("later") and self.times[address] > 1:
                yield Verification(address, address, Result.VALID, Reason.ACCEPTED_EMAIL)
            else:
                yield fake_verdict(address)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[typer.Typer, dict[str, int]]:
    monkeypatch.setenv("MAILSIFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAILSIFT_DATABASE_URL", raising=False)
    times: dict[str, int] = {}
    app = typer.Typer(add_completion=False)

    @app.callback()
    def root() -> None:
        """mailsift, with a fake verifier."""

    def factory(settings: Settings) -> ChangingVerifier:
        return ChangingVerifier(times)

    verify.register(app, verifier_factory=factory, chunk_size=2, workers=2)
    suppress.register(app)
    jobs.register(app)
    return app, times


def run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_suppress_import_list_remove(
    cli: tuple[typer.Typer, dict[str, int]], tmp_path: Path
) -> None:
    app, _ = cli
    listing = tmp_path / "traps.csv"
    listing.write_text("address,source\nTrap@Example.com,honeypot\n@traps.test,feed\nnot one\n")
    output = run(app, "suppress", "import", str(listing), "--name", "traps")
    assert "traps: 2 new entries of 4 lines read." in output
    assert "not one" in output  # the skipped line is shown
    assert "traps" in run(app, "suppress", "list")
    assert "global" in run(app, "suppress", "list")
    output = run(app, "suppress", "remove", "traps", "--entry", "trap@example.com")
    assert "(1 entries)" in output
    failed = CliRunner().invoke(app, ["suppress", "remove", "nothing"])
    assert failed.exit_code == 2
    assert "no suppression list 'nothing'" in failed.output


def test_verify_marks_suppressed_rows_and_retry_unknown_moves_them(
    cli: tuple[typer.Typer, dict[str, int]], tmp_path: Path
) -> None:
    app, times = cli
    listing = tmp_path / "traps.txt"
    listing.write_text("traps.test\n")
    run(app, "suppress", "import", str(listing), "--name", "traps")
    source = tmp_path / "people.csv"
    source.write_text(LIST)
    out = tmp_path / "out"
    run(app, "verify", str(source), "-o", str(out))
    valid = {row["email"]: row for row in rows(out / "people-valid.csv")}
    assert valid["ok4@traps.test"]["bad_address"] == "true"
    assert valid["ok4@traps.test"]["suppression_list"] == "traps"
    assert valid["ok1@example.com"]["bad_address"] == "false"
    unknown = [row["email"] for row in rows(out / "people-unknown.csv")]
    assert unknown == ["later2@example.com", "quiet3@example.com"]

    output = run(app, "verify", "--retry-unknown", str(source), "-o", str(out))
    assert "Verifying again" in output
    assert [row["email"] for row in rows(out / "people-valid.csv")] == [
        "ok1@example.com", "later2@example.com", "ok4@traps.test",
    ]  # fmt: skip
    assert [row["email"] for row in rows(out / "people-unknown.csv")] == ["quiet3@example.com"]
    assert times == {
        "ok1@example.com": 1, "later2@example.com": 2, "quiet3@example.com": 2,
        "ok4@traps.test": 1,
    }  # fmt: skip


def test_retry_unknown_needs_a_completed_run(
    cli: tuple[typer.Typer, dict[str, int]], tmp_path: Path
) -> None:
    app, _ = cli
    source = tmp_path / "fresh.csv"
    source.write_text(LIST)
    failed = CliRunner().invoke(app, ["verify", "--retry-unknown", str(source)])
    assert failed.exit_code == 2
    assert "no completed run of this file" in failed.output


def test_jobs_delete_and_expire(cli: tuple[typer.Typer, dict[str, int]], tmp_path: Path) -> None:
    app, _ = cli
    source = tmp_path / "people.csv"
    source.write_text(LIST)
    run(app, "verify", str(source), "-o", str(tmp_path / "out"))
    failed = CliRunner().invoke(app, ["jobs", "delete", "no-such-job"])
    assert failed.exit_code == 2
    assert "Deleted 0 job(s)" in run(app, "jobs", "expire")  # finished just now: kept
    database = sqlite3.connect(tmp_path / "data" / "mailsift.db")
    try:
        (public_id,) = database.execute("SELECT public_id FROM jobs").fetchone()
        assert f"Deleted job {public_id}." in run(app, "jobs", "delete", public_id)
        counts = [database.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("jobs", "job_items", "chunks")]  # fmt: skip
    finally:
        database.close()
    assert counts == [0, 0, 0]
