"""``mailsift.client`` against a live server: the four calls, waiting, downloading, failures."""

from __future__ import annotations

import asyncio
import csv
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from mailsift.client import (
    ApiError,
    AsyncClient,
    Backoff,
    Client,
    ClientError,
    JobFailed,
    JobProgress,
    TransportError,
)
from tests.api.conftest import FakeEngine, Harness, ServerFactory, failing_active_jobs

LIST = b"name,email\nAnn,ok1@example.com\nBob,bad2@example.com\nCat,catch3@example.com\n"
QUICK = Backoff(initial=0.05, factor=2, maximum=0.2)


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def check_files(paths: dict[str, Path], stem: str = "") -> None:
    assert {which: path.name for which, path in paths.items()} == {
        which: f"{stem}{which}.csv" for which in ("valid", "invalid", "unknown")
    }
    assert [r[:4] for r in rows(paths["valid"])[1:]] == [
        ["Ann", "ok1@example.com", "valid", "accepted_email"]
    ]
    assert [r[:4] for r in rows(paths["invalid"])[1:]] == [
        ["Bob", "bad2@example.com", "invalid", "rejected_email"]
    ]
    assert [r[:4] for r in rows(paths["unknown"])[1:]] == [
        ["Cat", "catch3@example.com", "risky", "low_deliverability"]
    ]


def test_sync_client_round_trip(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(engine=FakeEngine(delay=0.05))
    token = server.account(api=100)
    listed = tmp_path / "customers.csv"
    listed.write_bytes(LIST)
    seen: list[JobProgress] = []
    with Client(server.url, token, backoff=QUICK) as client:
        first, second = client.batch_process(listed, ("inline.txt", b"ok9@example.com\n"))
        assert first != second
        results = client.wait(first, on_progress=seen.append)
        assert (results.stage, results.percentage) == ("Completed", "100.00")
        assert all(link.startswith(server.url + "/download/") for link in results.links.values())
        check_files(client.download(results, tmp_path, stem="customers-"), "customers-")
        assert client.wait(second).stage == "Completed"
        verdict = client.verify_email("ok5@example.com", timeout=10)
    assert seen[-1].stage == "Completed"
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)  # polled until done, never backwards
    assert (verdict.result, verdict.reason, verdict.smtp_code) == ("valid", "accepted_email", 250)
    assert verdict.message == "User exists!"
    assert server.balances("acme") == (100 - 4 - 1, 0)


async def test_async_client_round_trip(server: Harness, tmp_path: Path) -> None:
    token = await _in_thread(server.account)
    listed = tmp_path / "customers.csv"
    listed.write_bytes(LIST)
    async with AsyncClient(server.url, token, backoff=QUICK) as client:
        [job_id] = await client.batch_process(listed)
        progress = await client.job_progress(job_id)
        assert progress.job_id == job_id
        assert progress.stage in ("In Queue", "Processing", "Completed")
        results = await client.wait(job_id)
        check_files(await client.download(results, tmp_path))
        verdict = await client.verify_email("bad7@example.com")
    assert (verdict.result, verdict.reason) == ("invalid", "rejected_email")


async def _in_thread(action: Callable[[], str]) -> str:
    """Harness helpers run an event loop of their own: keep them off this one."""
    return await asyncio.to_thread(action)


def test_failed_answers_raise_api_error_with_the_servers_message(server: Harness) -> None:
    with Client(server.url, "not-a-token") as client, pytest.raises(ApiError) as refused:
        client.batch_process(("list.txt", b"ok@example.com\n"))
    assert refused.value.status_code == 401
    assert refused.value.message == "Invalid user_API_token."
    token = server.account()
    with Client(server.url, token) as client:
        with pytest.raises(ApiError) as unknown:
            client.job_progress("no-such-job")
        with pytest.raises(ApiError) as out_of_range:
            client.verify_email("ok@example.com", timeout=99)
    assert unknown.value.status_code == 404
    assert out_of_range.value.status_code == 422
    assert "timeout" in out_of_range.value.message


def test_a_failed_job_raises_job_failed(make_server: ServerFactory) -> None:
    server = make_server(workers=0)  # nothing verifies: the job waits until marked failed
    token = server.account()

    with Client(server.url, token, backoff=QUICK) as client:
        [job_id] = client.batch_process(("list.txt", b"ok@example.com\n"))
        assert client.job_progress(job_id).stage == "In Queue"
        server.run(failing_active_jobs("The list went missing."))
        with pytest.raises(JobFailed) as failed:
            client.wait(job_id)
    assert (failed.value.job_id, failed.value.stage) == (job_id, "Failed")
    assert failed.value.message == "The list went missing."


def test_links_of_an_unfinished_job_are_not_fetched(make_server: ServerFactory) -> None:
    server = make_server(workers=0)
    with Client(server.url, server.account()) as client:
        [job_id] = client.batch_process(("l.txt", b"ok@example.com\n"))
        with pytest.raises(ClientError) as refused:
            client.download(client.get_results(job_id))
    assert refused.value.message == f"job {job_id} has no valid file to download: it is In Queue"


def test_a_tampered_link_is_reported_with_the_servers_reason(
    server: Harness, tmp_path: Path
) -> None:
    token = server.account()
    with Client(server.url, token, backoff=QUICK) as client:
        results = client.wait(client.batch_process(("l.txt", b"ok@example.com\n"))[0])
        link = urlsplit(results.links["valid"])
        forged = urlunsplit(link._replace(query=link.query.replace("signature=", "signature=0")))
        tampered = type(results)(**{**results.__dict__, "links": {"valid": forged}})
        with pytest.raises(ApiError) as refused:
            client.download(tampered, tmp_path)
    assert refused.value.status_code == 403
    assert refused.value.message.startswith("downloading the valid file: ")
    assert not (tmp_path / "valid.csv").exists()


def test_an_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    client = Client(f"http://127.0.0.1:{port}", "token")
    with client, pytest.raises(TransportError) as broken:
        client.job_progress("x")
    assert broken.value.message.startswith("/job_progress/: ")


def test_backoff_grows_to_its_maximum() -> None:
    delays = Backoff(initial=1, factor=2, maximum=5).delays()
    assert [next(delays) for _ in range(5)] == [1, 2, 4, 5, 5]


def test_the_client_imports_nothing_of_the_server() -> None:
    heavy = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic", "mailsift.store")
    probe = f"import sys, mailsift.client; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
