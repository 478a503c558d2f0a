"""Credit over HTTP: reservations, races for the last credits, refunds, limits, conversion."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from mailsift.store import Store
from mailsift.store.models import Chunk, JobItem
from tests.api.conftest import Harness, ServerFactory, api_test_settings
from tests.api.test_batch import failure, upload
from tests.api.test_jobs_api import submit, wait_completed


def one_address_list(n: int) -> bytes:
    return f"email\nok{n}@example.com\n".encode()


def count_rows(server: Harness, table: type[JobItem] | type[Chunk]) -> int:
    async def read(store: Store) -> int:
        async with store.read() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)

    return server.run(read)


def test_parallel_uploads_never_overdraw_the_last_credits(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """Ten uploads at once through two servers on one database, credit for three."""
    settings = api_test_settings(tmp_path / "shared")
    servers = [make_server(settings=settings, workers=0, max_jobs_in_flight=0) for _ in range(2)]
    token = servers[0].account(api=3)

    def send(n: int) -> httpx.Response:
        server = servers[n % 2]
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            return upload(client, token, (f"l{n}.csv", one_address_list(n)))

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * 3 + [402] * 7
    for answer in answers:
        if answer.status_code == 402:
            assert "Not enough API credit" in answer.json()["message"]
    assert servers[0].balances("acme") == (0, 0)
    assert len(servers[0].jobs()) == 3
    assert count_rows(servers[0], Chunk) == 3


def test_short_credit_refuses_the_whole_job_before_anything_is_queued(server: Harness) -> None:
    token = server.account(api=2)
    content = b"email\nok1@a.com\nok2@a.com\nok3@a.com\n"
    message = failure(upload(server.client(), token, ("l.csv", content)), 402)
    assert message == "Not enough API credit: 3 needed, 2 available."
    assert server.jobs() == []
    assert count_rows(server, JobItem) == count_rows(server, Chunk) == 0
    assert server.balances("acme") == (2, 0)
    assert server.ledger("acme")[-1].kind == "grant"


def test_duplicates_and_invalid_addresses_are_free(server: Harness) -> None:
    token = server.account(api=10)
    content = b"email\nok1@a.com\nok1@A.COM\nok1@a.com\nnot-an-address\nalso bad\nok2@a.com\n"
    job_id = submit(server, token, content)
    [job] = server.jobs()
    assert job.public_id == job_id
    assert job.credits_reserved == 2
    assert server.balances("acme") == (8, 0)


def test_a_list_of_only_invalid_addresses_needs_no_credit(server: Harness) -> None:
    token = server.account(api=0)
    job_id = submit(server, token, b"email\nnope\nnot@\n")
    answer = server.client().post("/get_results/", data={"user_API_token": token, "job_id": job_id})
    assert answer.json()["stage"] == "Completed"
    assert answer.json()["invalid_result_link"]


def test_addresses_the_server_failed_on_are_given_back(server: Harness) -> None:
    token = server.account(api=10)
    job_id = submit(server, token, b"email\nok1@a.com\ncrash2@a.com\ncrash3@a.com\nbad4@a.com\n")
    wait_completed(server, token, job_id)
    for _ in range(100):  # the settlement follows completion
        if any(entry.kind == "settle" for entry in server.ledger("acme")):
            break
        time.sleep(0.02)
    kinds = [(entry.kind, entry.api_delta) for entry in server.ledger("acme")]
    assert kinds == [("grant", 10), ("reserve", -4), ("settle", 2)]
    assert server.balances("acme") == (8, 0)


def test_cap_on_jobs_in_flight(make_server: ServerFactory) -> None:
    server = make_server(workers=0, max_jobs_in_flight=2)
    token = server.account()
    client = server.client()
    submit(server, token)
    answer = upload(client, token, ("a.csv", one_address_list(1)), ("b.csv", one_address_list(2)))
    assert "Too many jobs" in failure(answer, 429)
    submit(server, token)
    failure(upload(client, token, ("c.csv", one_address_list(3))), 429)
    other = server.account("other")
    submit(server, other)  # the cap is per account
    assert len(server.jobs()) == 3


# --- the real-time call's credit ----------------------------------------------------------------


def verify(server: Harness, token: str, email: str, **extra: str) -> httpx.Response:
    return server.client().post(
        "/email_verification/", data={"user_API_token": token, "email": email, **extra}
    )


def test_real_time_call_costs_one_credit_and_invalid_syntax_none(server: Harness) -> None:
    token = server.account(api=5)
    assert verify(server, token, "ok@example.com").json()["status"] == "Valid"
    assert verify(server, token, "not an address").json()["status"] == "Invalid"
    assert server.balances("acme") == (4, 0)


def test_real_time_credit_is_given_back_when_the_engine_fails(server: Harness) -> None:
    token = server.account(api=5)
    answer = verify(server, token, "crash@example.com")
    assert answer.status_code == 200
    assert answer.json()["reason"] == "unexpected_error"
    failure(verify(server, token, "raise@example.com"), 500)
    assert server.balances("acme") == (5, 0)
    kinds = [entry.kind for entry in server.ledger("acme")]
    assert kinds == ["grant", "charge", "refund", "charge", "refund"]


def test_real_time_call_without_credit_is_402(server: Harness) -> None:
    token = server.account(api=0)
    assert "Not enough API credit" in failure(verify(server, token, "ok@example.com"), 402)
    assert server.balances("acme") == (0, 0)


def test_real_time_rate_limit_is_429_with_retry_after(make_server: ServerFactory) -> None:
    server = make_server(realtime_rate_per_minute=2)
    token, other = server.account(), server.account("other")
    assert verify(server, token, "ok1@example.com").status_code == 200
    assert verify(server, token, "ok2@example.com").status_code == 200
    limited = verify(server, token, "ok3@example.com")
    failure(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert verify(server, other, "ok4@example.com").status_code == 200  # per account
    assert server.balances("acme") == (998, 0)  # the refused call cost nothing


# --- converting monthly credit -------------------------------------------------------------------


def test_convert_credits_by_api(server: Harness) -> None:
    token = server.account(api=1, monthly=100)
    answer = server.client().post(
        "/convert_credits/", json={"user_API_token": token, "credits": 40}
    )
    assert answer.json() == {"status": "success", "api_credits": 41, "monthly_credits": 60}
    assert server.balances("acme") == (41, 60)
    assert server.ledger("acme")[-1].kind == "convert"


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"credits": "1000"}, 402, "Not enough monthly credit"),
        ({"credits": "0"}, 422, "credits must be"),
        ({"credits": "2.5"}, 422, "whole number"),
        ({"credits": "lots"}, 422, "credits must be"),
        ({}, 400, "credits is required"),
        ({"Credits": "5"}, 400, "'credits'"),
    ],
)
def test_convert_credits_refusals(
    server: Harness, params: dict[str, str], status: int, words: str
) -> None:
    token = server.account(monthly=100)
    answer = server.client().post("/convert_credits/", data={"user_API_token": token, **params})
    assert words in failure(answer, status)
    assert server.balances("acme") == (1_000, 100)
