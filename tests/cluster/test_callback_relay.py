"""A cluster's callbacks: written by the worker that completes the job, delivered by any
process's relay, and still delivered when every process was SIGKILLed in between."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.webhook_receiver import Reply, running_receiver
from tests.cluster.conftest import Cluster

pytestmark = pytest.mark.postgres

ADDRESSES = ["alice@ok.test", "bob@ok.test", "nobody@ok.test"]


def callback_row(cluster: Cluster) -> tuple[object, ...]:
    [row] = cluster.sql("SELECT state, attempts, last_status, webhook_id FROM callbacks")
    return row


def wait_row(cluster: Cluster, wanted: tuple[str, int | None], seconds: float = 60) -> None:
    """Until the callback has ``(state, last_status)``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = cluster.sql("SELECT state, last_status FROM callbacks")
        if rows and rows[0] == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"the callback never got to {wanted}: {rows}")


def test_pending_callback_survives_sigkill_of_every_process(cluster: Cluster) -> None:
    cluster.env.update(
        MAILSIFT_CALLBACK_SCHEDULE="1,1,1,1,1,1,1,1", MAILSIFT_CALLBACK_POLL_INTERVAL="0.2"
    )
    with running_receiver() as receiver:
        receiver.replies = [Reply(503)]
        api = cluster.start_api()
        worker = cluster.spawn_worker("w1")
        worker.wait_for("ready")
        token = cluster.account("acme", api_credits=100)
        listing = "email\n" + "".join(f"{email}\n" for email in ADDRESSES)
        answer = httpx.post(
            f"{cluster.api_url}/batch_process/",
            data={"user_API_token": token, "callback_url": receiver.url},
            files={"file": ("list.csv", listing.encode())},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        receiver.wait_for(1, within=120)
        wait_row(cluster, ("pending", 503))
        for process in (api, worker):
            process.popen.kill()
            process.popen.wait(10)
        failed = len(receiver.received)
        receiver.replies = [Reply(503)] * failed + [Reply(200)]
        time.sleep(1.5)  # past the next pause: nobody is left to call
        assert len(receiver.received) == failed

        cluster.spawn_worker("w2").wait_for("ready")  # a worker alone: its relay delivers
        calls = receiver.wait_for(failed + 1, within=60)
        wait_row(cluster, ("delivered", 200))
    _, attempts, _, webhook_id = callback_row(cluster)
    assert attempts == failed + 1
    assert {call.headers["webhook-id"] for call in calls} == {webhook_id}
    payload = calls[-1].body.decode()
    assert '"stage":"Completed"' in payload
    assert '"percentage":"100.00"' in payload
