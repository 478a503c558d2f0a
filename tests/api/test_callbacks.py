"""Job callbacks: delivered to a real HTTP receiver on loopback, signed, retried, guarded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mailsift.api.callbacks import CallbackRefused, CallbackSender, vetted_addresses
from tests.api.conftest import Harness, ServerFactory
from tests.api.test_batch import upload
from tests.api.test_jobs_api import LIST


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers POSTs with ``statuses`` in turn (the last one from then on), recording each."""

    statuses: list[int]
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, f"{len(self.received)} of {count} callbacks came"
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.statuses[min(len(state.received), len(state.statuses) - 1)]
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{http.server_address[1]}/hooks/mailsift?src=test"
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)


def expected_signature(token: str, body: bytes) -> str:
    key = hashlib.sha256(token.encode()).hexdigest()
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def test_completed_job_is_posted_signed_and_retried(server: Harness, receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 200]
    token = server.account()
    answer = upload(server.client(), token, ("list.csv", LIST), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    calls = receiver.wait_for(3)
    assert [call.path for call in calls] == ["/hooks/mailsift?src=test"] * 3
    assert len({call.body for call in calls}) == 1  # the same delivery, retried
    call = calls[0]
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["X-Mailsift-Signature"] == expected_signature(token, call.body)
    assert call.headers["Host"] == receiver.url.split("/")[2]
    payload = json.loads(call.body)
    results = server.client().post(
        "/get_results/", data={"user_API_token": token, "job_id": job_id}
    )
    assert set(payload) == {*results.json(), "job_id"}
    assert payload["job_id"] == job_id
    assert (payload["status"], payload["stage"], payload["percentage"]) == (
        "success",
        "Completed",
        "100.00",
    )
    download = httpx.get(payload["valid_result_link"])
    assert download.status_code == 200
    assert "ok1@example.com" in download.text


def test_attempts_are_bounded(make_server: ServerFactory, receiver: Receiver) -> None:
    receiver.statuses = [500]
    server = make_server(callback_attempts=3)
    token = server.account()
    upload(server.client(), token, ("list.csv", LIST), callback_url=receiver.url)
    receiver.wait_for(3)
    time.sleep(0.5)  # well past the next pause, had there been a fourth attempt
    assert len(receiver.received) == 3


def test_job_finished_at_intake_calls_back_too(server: Harness, receiver: Receiver) -> None:
    token = server.account(api=0)
    content = b"email\nnot-an-address\n"
    upload(server.client(), token, ("list.csv", content), callback_url=receiver.url)
    [call] = receiver.wait_for(1)
    assert json.loads(call.body)["stage"] == "Completed"


def test_rotating_the_token_changes_the_signing_key() -> None:
    body = b'{"status":"success"}'
    assert expected_signature("ms_a", body) != expected_signature("ms_b", body)


# --- the SSRF guard at delivery -------------------------------------------------------------------


async def test_delivery_refuses_a_host_that_now_resolves_inside(receiver: Receiver) -> None:
    """A name that passed the check at submission but resolves to loopback later."""
    port = receiver.url.split(":")[2].split("/")[0]

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    sender = CallbackSender(
        allow_private=False, attempts=3, backoff=0.01, timeout=2, resolve=rebinding
    )
    try:
        delivered = await sender.deliver(f"http://hooks.example.com:{port}/x", b"{}", "key")
    finally:
        await sender.aclose()
    assert delivered is False
    assert receiver.received == []


async def test_delivery_goes_to_the_checked_address(receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]

    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    sender = CallbackSender(
        allow_private=True, attempts=1, backoff=0.01, timeout=2, resolve=loopback
    )
    try:
        assert await sender.deliver(f"http://hooks.example.com:{port}/x", b"{}", "key")
    finally:
        await sender.aclose()
    [call] = receiver.received
    assert call.headers["Host"] == f"hooks.example.com:{port}"


@pytest.mark.parametrize(
    "addresses",
    [["10.1.2.3"], ["192.168.0.1"], ["169.254.169.254"], ["::1"], ["93.184.216.34", "127.0.0.1"]],
)
async def test_private_addresses_are_refused(addresses: list[str]) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    with pytest.raises(CallbackRefused, match="private, loopback or reserved"):
        await vetted_addresses(
            httpx.URL("https://hooks.example.com/x"), allow_private=False, resolve=resolve
        )


async def test_public_addresses_pass() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.com", 443)
        return ["93.184.216.34"]

    addresses = await vetted_addresses(
        httpx.URL("https://hooks.example.com/x"), allow_private=False, resolve=resolve
    )
    assert addresses == ["93.184.216.34"]
