"""A ``mailsift verify`` process killed outright (SIGKILL) mid-job, then run again.

No cleanup runs in the killed process: whatever it left (chunks marked running, results of
a half-written chunk, open transactions) must still end in every address once, counted once.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.integration.test_verify_cli import (
    Db,
    addresses,
    assert_complete_results,
    env_for,
    run,
    start,
    wait_for_progress,
    write_list,
)


def test_a_killed_run_resumes_and_every_address_ends_once(
    tmp_path: Path, empty_database_url: str
) -> None:
    emails = addresses(300)
    listing = write_list(tmp_path / "crm.csv", emails)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    slow = env_for(empty_database_url, delay="0.01", log=str(first_log), chunk_size="20")
    proc = start(["verify", str(listing)], cwd=tmp_path, env=slow)
    db = Db(empty_database_url)
    wait_for_progress(db, proc, at_least=40)
    # Kill it while a chunk is claimed: between two chunks there may briefly be none.
    deadline = time.monotonic() + 30
    while not db.scalar("SELECT count(*) FROM chunks WHERE state = 'running'"):
        assert time.monotonic() < deadline, "no chunk was ever running"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    kept = db.finished_emails()
    assert 40 <= len(kept) < len(emails)
    assert db.scalar("SELECT count(*) FROM chunks WHERE state = 'running'") > 0

    again = run(
        ["verify", str(listing)],
        cwd=tmp_path,
        env=env_for(empty_database_url, log=str(second_log), chunk_size="20"),
    )
    assert again.returncode == 0, again.stderr
    assert "Resuming crm.csv" in again.stderr

    asked_again = second_log.read_text().split()
    assert len(asked_again) == len(set(asked_again))
    assert not set(asked_again) & kept, "results stored before the kill were verified again"
    assert set(asked_again) | kept == set(emails)

    assert db.scalar("SELECT count(*) FROM jobs") == 1
    assert db.scalar("SELECT count(*) FROM job_items") == len(emails)
    assert db.scalar("SELECT count(*) FROM job_items WHERE result IS NULL") == 0
    assert db.scalar("SELECT done FROM jobs") == len(emails)
    assert db.scalar("SELECT total FROM jobs") == len(emails)
    assert db.scalar("SELECT count(*) FROM chunks WHERE state <> 'done'") == 0
    assert_complete_results(tmp_path, "crm", emails)
