"""Limits kept in the database: one real-time limit and one failed-token throttle, however
many API servers share the database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from mailsift.store import Store, open_store, upgrade
from mailsift.store.limits import Bucket, forget_idle_buckets, take, waiting
from tests.api.conftest import Harness, ServerFactory, api_test_settings

MINUTE_OF_3 = Bucket(capacity=3, per_second=3 / 60)
_KEYS = text("SELECT key FROM rate_buckets")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'limits.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    async with open_store(url) as opened:
        yield opened


async def test_a_bucket_gives_its_capacity_then_refills(store: Store) -> None:
    assert [await take(store, "k", MINUTE_OF_3, now=1000.0) for _ in range(3)] == [0, 0, 0]
    assert await take(store, "k", MINUTE_OF_3, now=1000.0) == pytest.approx(20.0)
    assert await waiting(store, "k", MINUTE_OF_3, now=1000.0) == pytest.approx(20.0)
    assert await take(store, "other", MINUTE_OF_3, now=1000.0) == 0  # a bucket per key
    assert await take(store, "k", MINUTE_OF_3, now=1010.0) == pytest.approx(10.0)
    assert await waiting(store, "k", MINUTE_OF_3, now=1020.0) == 0  # looking takes nothing
    assert await take(store, "k", MINUTE_OF_3, now=1020.0) == 0
    assert await take(store, "k", MINUTE_OF_3, now=1020.0) == pytest.approx(20.0)
    assert await take(store, "k", MINUTE_OF_3, now=9999.0) == 0  # full again, no more
    assert await take(store, "k", MINUTE_OF_3, now=9999.0) == 0
    assert await take(store, "k", MINUTE_OF_3, now=9999.0) == 0
    assert await take(store, "k", MINUTE_OF_3, now=9999.0) > 0
    assert await waiting(store, "never-used", MINUTE_OF_3) == 0


async def test_idle_buckets_are_forgotten(store: Store) -> None:
    await take(store, "old", MINUTE_OF_3, now=time.time() - 2 * 86400)
    await take(store, "new", MINUTE_OF_3)
    await forget_idle_buckets(store)
    async with store.read() as session:
        keys = set((await session.execute(_KEYS)).scalars())
    assert keys == {"new"}


def test_failed_tokens_are_throttled_per_client(make_server: ServerFactory) -> None:
    server = make_server(auth_failures_per_minute=3)
    token = server.account()
    client = server.client()
    params = {"job_id": "x"}
    answers = [
        client.post("/job_progress/", data={"user_API_token": f"ms_guess{n}", **params})
        for n in range(5)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert "Too many failed token attempts" in answers[3].json()["message"]
    # A right token from a throttled address is refused too: guesses learn nothing.
    right = client.post("/job_progress/", data={"user_API_token": token, **params})
    assert right.status_code == 429
    for call in ("/email_verification/", "/batch_process/", "/convert_credits/"):
        assert client.post(call, data={"user_API_token": token}).status_code == 429


@pytest.mark.postgres
def test_three_api_servers_enforce_one_limit(
    migrated_postgres_url: str,  # first: the database must outlive the servers
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    settings = api_test_settings(tmp_path / "pg", database_url=migrated_postgres_url)
    servers = [
        make_server(
            settings=settings, workers=1, realtime_rate_per_minute=3, auth_failures_per_minute=4
        )
        for _ in range(3)
    ]
    token = servers[0].account()

    def verify(n: int) -> httpx.Response:
        with httpx.Client(base_url=servers[n % 3].url, timeout=30, trust_env=False) as client:
            return client.post(
                "/email_verification/",
                data={"user_API_token": token, "email": f"ok{n}@example.com"},
            )

    started = time.monotonic()
    with ThreadPoolExecutor(9) as pool:
        answers = list(pool.map(verify, range(18)))
    elapsed = time.monotonic() - started
    passed = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(passed) + len(refused) == 18
    # One bucket of 3 for all three servers (plus one per 20 s the burst took to refill);
    # three buckets of their own would have let 9 through.
    assert 3 <= len(passed) <= 3 + int(elapsed // 20)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert servers[1].balances("acme") == (1_000 - len(passed), 0)

    def guess(n: int) -> int:
        return _post(servers[n % 3], "/job_progress/", f"ms_wrong{n}").status_code

    statuses = [guess(n) for n in range(9)]
    assert statuses.count(401) <= 4 + int((time.monotonic() - started) // 15)
    assert statuses[:4] == [401] * 4
    assert set(statuses[4:]) == {429}
    # Every server knows: each saw this address fail, and they share the bucket.
    for server in servers:
        assert _post(server, "/job_progress/", token).status_code == 429


def _post(server: Harness, call: str, token: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        return client.post(call, data={"user_API_token": token, "job_id": "x"})
