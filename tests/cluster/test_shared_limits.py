"""Three ``mailsift serve --no-workers`` processes on one PostgreSQL database enforce one
real-time limit and one failed-token throttle."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cluster.conftest import Cluster

pytestmark = pytest.mark.postgres


def test_three_api_processes_enforce_one_limit(cluster: Cluster) -> None:
    cluster.env.update(MAILSIFT_REALTIME_RATE_PER_MINUTE="3", MAILSIFT_AUTH_FAILURES_PER_MINUTE="4")
    urls = []
    for _ in range(3):
        cluster.start_api()
        urls.append(cluster.api_url)
    token = cluster.account("acme", api_credits=100)

    def verify(n: int) -> httpx.Response:
        return httpx.post(
            f"{urls[n % 3]}/email_verification/",
            data={"user_API_token": token, "email": "alice@ok.test"},
            timeout=60,
        )

    started = time.monotonic()
    with ThreadPoolExecutor(9) as pool:
        answers = list(pool.map(verify, range(18)))
    elapsed = time.monotonic() - started
    passed = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(passed) + len(refused) == 18, [a.text for a in answers]
    # One bucket of 3 for the three servers (and one more per 20 s the burst took);
    # a bucket per process would have let 9 through.
    assert 3 <= len(passed) <= 3 + int(elapsed // 20)
    assert all(a.json()["status"] == "Valid" for a in passed)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    [(api_credits,)] = cluster.sql("SELECT api_credits FROM accounts WHERE name = 'acme'")
    assert api_credits == 100 - len(passed)

    def guess(n: int) -> int:
        answer = httpx.post(
            f"{urls[n % 3]}/job_progress/",
            data={"user_API_token": f"ms_wrong{n}", "job_id": "x"},
            timeout=30,
        )
        return answer.status_code

    statuses = [guess(n) for n in range(9)]
    assert statuses[:4] == [401] * 4
    assert set(statuses[4:]) == {429}
    for url in urls:  # each process saw the address fail; they share one bucket
        answer = httpx.post(
            f"{url}/job_progress/", data={"user_API_token": token, "job_id": "x"}, timeout=30
        )
        assert answer.status_code == 429
