"""``mailsift worker`` as an operator starts and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import LAUNCHER, Cluster


def run_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def plain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    return {**env, "MAILSIFT_DATA_DIR": str(tmp_path / "data"), **extra}


def test_a_worker_needs_postgresql(tmp_path: Path) -> None:
    done = run_worker(plain_env(tmp_path))
    assert done.returncode == 2
    assert "mailsift worker needs PostgreSQL" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was created on the way


def test_a_bad_queue_setting_is_named(tmp_path: Path) -> None:
    done = run_worker(
        plain_env(tmp_path, MAILSIFT_WORKER_HEARTBEAT="10", MAILSIFT_WORKER_STALLED_AFTER="15")
    )
    assert done.returncode == 2
    assert "bad setting: MAILSIFT_WORKER_STALLED_AFTER" in done.stderr
    assert "must be more than twice MAILSIFT_WORKER_HEARTBEAT" in done.stderr


@pytest.mark.postgres
def test_sigterm_stops_a_worker_cleanly(cluster: Cluster) -> None:
    worker = cluster.spawn_worker("worker", "--concurrency", "3")
    worker.wait_for("ready: up to 3 chunk(s) at once")
    registered = "SELECT count(*) FROM procrastinate.procrastinate_workers"
    deadline = time.monotonic() + 30
    while cluster.sql(registered) != [(1,)]:  # it registers just after saying it is ready
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.05)
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.popen.wait(30) == 0
    assert "stopping" in worker.output()
    # It said goodbye: no stalled worker is left for the others to clean up after.
    assert cluster.sql(registered) == [(0,)]
