"""The API on PostgreSQL: the same guarantees with row locks instead of SQLite's one writer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ServerFactory, api_test_settings
from tests.api.test_batch import upload
from tests.api.test_credits_api import one_address_list
from tests.api.test_jobs_api import ask, wait_completed

pytestmark = pytest.mark.postgres


def test_race_progress_and_results_on_postgres(
    migrated_postgres_url: str,  # first: the database must outlive the servers
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    settings = api_test_settings(tmp_path / "pg", database_url=migrated_postgres_url)
    servers = [make_server(settings=settings, max_jobs_in_flight=0) for _ in range(2)]
    token = servers[0].account(api=3)

    def send(n: int) -> httpx.Response:
        server = servers[n % 2]
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            return upload(client, token, (f"l{n}.csv", one_address_list(n)))

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [402] * 7
    assert servers[0].balances("acme") == (0, 0)

    job_id = next(a.json()["job_id"][0] for a in answers if a.status_code == 200)
    wait_completed(servers[1], token, job_id)
    links = ask(servers[0], "/get_results/", token, job_id).json()
    assert httpx.get(links["valid_result_link"]).status_code == 200
    other = servers[0].account("other")
    assert ask(servers[0], "/job_progress/", other, job_id).status_code == 404
