"""The outbox survives the process: ``mailsift serve`` SIGKILLed with a callback pending
delivers it after a restart, with the same ``webhook-id``."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.api.test_serve import Serve, first_token, serve_env  # noqa: F401 (a fixture)
from tests.api.webhook_receiver import Reply, running_receiver

INVALID_ONLY = b"email\nnot-an-address\nnor-this\n"


def wait_until_retry_is_due_later(serve: Serve, token: str, job_id: str) -> None:
    """The failed attempt written down, the next one scheduled (not merely claimed: a claim
    cut by a crash runs out only after the attempt timeout and a margin)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = serve.post("/callback_status/", user_API_token=token, job_id=job_id)
        callback = status["callback"]
        assert isinstance(callback, dict)
        if callback["last_status"] == 503:
            assert callback["state"] == "pending"
            return
        time.sleep(0.05)
    raise AssertionError("the failed attempt was never written down")


def test_pending_callback_survives_sigkill_of_serve(
    serve_env: dict[str, str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    env = {
        **serve_env,
        "MAILSIFT_ALLOW_PRIVATE_TARGETS": "1",
        "MAILSIFT_CALLBACK_SCHEDULE": "1,1,1,1,1,1,1,1",
        "MAILSIFT_CALLBACK_POLL_INTERVAL": "0.2",
    }
    serve = Serve(env, tmp_path / "serve.log")
    with running_receiver() as receiver:
        receiver.replies = [Reply(503)]
        try:
            serve.start()
            token = first_token(serve.output())
            answer = httpx.post(
                f"{serve.url}/batch_process/",
                data={"user_API_token": token, "callback_url": receiver.url},
                files={"file": ("l.csv", INVALID_ONLY)},
                timeout=30,
            )
            job_id = answer.json()["job_id"][0]
            receiver.wait_for(1)
            wait_until_retry_is_due_later(serve, token, job_id)
            assert serve.process is not None
            serve.process.send_signal(signal.SIGKILL)
            assert serve.process.wait(10) == -signal.SIGKILL
            serve.process = None
            failed = len(receiver.received)
            receiver.replies = [Reply(503)] * failed + [Reply(200)]
            time.sleep(1.5)  # past the next pause: nobody is left to call
            assert len(receiver.received) == failed

            serve.start()
            calls = receiver.wait_for(failed + 1)
            status = serve.post("/callback_status/", user_API_token=token, job_id=job_id)
        finally:
            serve.kill()
    assert len({call.headers["webhook-id"] for call in calls}) == 1
    callback = status["callback"]
    assert isinstance(callback, dict)
    assert callback["state"] == "delivered"
    assert callback["attempts"] == failed + 1
    assert callback["webhook_id"] == calls[0].headers["webhook-id"]
