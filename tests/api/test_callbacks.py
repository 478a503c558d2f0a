"""Job callbacks: from the outbox to a real HTTP receiver on loopback, signed per Standard
Webhooks, retried on a schedule, stopped by 410, guarded against SSRF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from mailsift.accounts.service import get_account, rotate_webhook_secret
from mailsift.api.callbacks import (
    CallbackRefused,
    CallbackSender,
    parse_callback_url,
    retry_after,
    vetted_addresses,
)
from mailsift.api.webhooks import signature
from mailsift.store import Store
from tests.api.conftest import Harness, ServerFactory
from tests.api.test_batch import upload
from tests.api.test_jobs_api import LIST
from tests.api.webhook_receiver import Receiver, Reply, running_receiver

INVALID_ONLY = b"email\nnot-an-address\n"  # completed at intake: no engine needed


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def secret_of(server: Harness, name: str = "acme") -> str:
    async def read(store: Store) -> str:
        return (await get_account(store, name)).webhook_secret

    return server.run(read)


def verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    """What a receiver does, written from the Standard Webhooks text, not from our code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    versions = headers["webhook-signature"].split(" ")
    assert f"v1,{expected}" in versions
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 300


def status_of(server: Harness, token: str, job_id: str) -> dict[str, object]:
    answer = server.client().post(
        "/callback_status/", data={"user_API_token": token, "job_id": job_id}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def wait_state(server: Harness, token: str, job_id: str, state: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        callback = status_of(server, token, job_id)["callback"]
        assert isinstance(callback, dict)
        if callback["state"] == state:
            return callback
        time.sleep(0.05)
    raise AssertionError(f"the callback never reached {state!r}: {callback}")


def test_completed_job_is_posted_signed_and_retried(server: Harness, receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 200]
    token = server.account()
    secret = secret_of(server)
    assert secret.startswith("whsec_")
    answer = upload(server.client(), token, ("list.csv", LIST), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    calls = receiver.wait_for(3)
    assert [call.path for call in calls] == ["/hooks/mailsift?src=test"] * 3
    assert len({call.headers["webhook-id"] for call in calls}) == 1  # one message, retried
    assert calls[0].headers["webhook-id"].startswith("msg_")
    for call in calls:
        verify(secret, call.headers, call.body)
        assert call.headers["Content-Type"] == "application/json"
        assert call.headers["Host"] == receiver.url.split("/")[2]
    payload = json.loads(calls[0].body)
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
    callback = wait_state(server, token, job_id, "delivered")
    assert callback["attempts"] == 3
    assert callback["last_status"] == 200
    assert callback["webhook_id"] == calls[0].headers["webhook-id"]
    assert callback["url"] == receiver.url


def test_attempts_follow_the_schedule_then_stop(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    server = make_server(callback_schedule=[0.05, 0.05])
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", INVALID_ONLY), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    callback = wait_state(server, token, job_id, "failed")
    assert callback["attempts"] == 3  # the first, then one per pause
    assert callback["last_status"] == 500
    assert callback["last_error"] == "answered 500"
    time.sleep(0.5)  # well past another pause, had there been one
    assert len(receiver.received) == 3


def test_410_stops_every_delivery_to_that_url(server: Harness, receiver: Receiver) -> None:
    receiver.statuses = [410]
    token = server.account()
    first = upload(server.client(), token, ("a.csv", INVALID_ONLY), callback_url=receiver.url)
    first_id = first.json()["job_id"][0]
    assert wait_state(server, token, first_id, "gone")["attempts"] == 1
    second = upload(server.client(), token, ("b.csv", INVALID_ONLY), callback_url=receiver.url)
    second_id = second.json()["job_id"][0]
    callback = wait_state(server, token, second_id, "gone")
    assert callback["attempts"] == 0
    assert "410" in str(callback["last_error"])
    assert len(receiver.received) == 1


def test_redirects_are_not_followed(server: Harness, receiver: Receiver) -> None:
    elsewhere = receiver.url.replace("/hooks/mailsift?src=test", "/elsewhere")
    receiver.replies = [Reply(307, {"Location": elsewhere})]
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", INVALID_ONLY), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    callback = wait_state(server, token, job_id, "failed")
    assert callback["last_status"] == 307
    assert "redirects are not followed" in str(callback["last_error"])
    assert {call.path for call in receiver.received} == {"/hooks/mailsift?src=test"}


def test_retry_after_is_honoured(server: Harness, receiver: Receiver) -> None:
    receiver.replies = [Reply(503, {"Retry-After": "3600"})]
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", INVALID_ONLY), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    receiver.wait_for(1)
    deadline = time.monotonic() + 10
    while True:
        callback = status_of(server, token, job_id)["callback"]
        assert isinstance(callback, dict)
        if callback["last_status"] == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert callback["state"] == "pending"
    last = datetime.fromisoformat(str(callback["last_attempt_at"]))
    following = datetime.fromisoformat(str(callback["next_attempt_at"]))
    assert (following - last).total_seconds() >= 3590  # not the schedule's 0.05 s
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_a_slow_receiver_times_out(make_server: ServerFactory, receiver: Receiver) -> None:
    receiver.replies = [Reply(200, delay=3.0)]
    server = make_server(callback_timeout=0.5, callback_schedule=[])
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", INVALID_ONLY), callback_url=receiver.url)
    job_id = answer.json()["job_id"][0]
    callback = wait_state(server, token, job_id, "failed")
    assert callback["last_error"] == "no answer within 0.5 s"
    assert callback["last_status"] is None


def test_job_finished_at_intake_calls_back_too(server: Harness, receiver: Receiver) -> None:
    token = server.account(api=0)
    upload(server.client(), token, ("list.csv", INVALID_ONLY), callback_url=receiver.url)
    [call] = receiver.wait_for(1)
    assert json.loads(call.body)["stage"] == "Completed"


def test_status_before_completion_and_without_a_callback(server: Harness) -> None:
    token = server.account()
    plain = upload(server.client(), token, ("l.csv", INVALID_ONLY)).json()["job_id"][0]
    assert status_of(server, token, plain) == {
        "status": "success",
        "job_id": plain,
        "callback": None,
    }
    other = server.account("other")
    answer = server.client().post(
        "/callback_status/", data={"user_API_token": other, "job_id": plain}
    )
    assert answer.status_code == 404  # someone else's job is nobody's


def test_rotating_the_secret_changes_the_signature(server: Harness, receiver: Receiver) -> None:
    token = server.account()
    old = secret_of(server)
    new = server.run(lambda store: rotate_webhook_secret(store, "acme"))
    assert new != old
    assert new.startswith("whsec_")
    assert len(base64.b64decode(new.removeprefix("whsec_"))) == 24
    upload(server.client(), token, ("l.csv", INVALID_ONLY), callback_url=receiver.url)
    [call] = receiver.wait_for(1)
    verify(new, call.headers, call.body)
    with pytest.raises(AssertionError):
        verify(old, call.headers, call.body)


def test_signature_matches_the_standard_webhooks_example() -> None:
    # The example of the Standard Webhooks reference libraries' test suites.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("120") == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


# --- the SSRF guard ----------------------------------------------------------------------------


async def test_delivery_refuses_a_host_that_now_resolves_inside(receiver: Receiver) -> None:
    """A name that passed the check at submission but resolves to loopback later."""

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    sender = CallbackSender(allow_private=False, timeout=2, resolve=rebinding)
    try:
        outcome = await sender.attempt(f"http://hooks.example.com:{receiver.port}/x", b"{}", {})
    finally:
        await sender.aclose()
    assert not outcome.delivered
    assert "private, loopback or reserved" in outcome.error
    assert receiver.received == []


async def test_delivery_goes_to_the_checked_address_without_a_second_lookup(
    receiver: Receiver,
) -> None:
    lookups: list[str] = []

    async def loopback(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    sender = CallbackSender(allow_private=True, timeout=2, resolve=loopback)
    try:
        url = f"http://hooks.example.com:{receiver.port}/x"
        assert (await sender.attempt(url, b"{}", {})).delivered
    finally:
        await sender.aclose()
    [call] = receiver.received
    assert call.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert lookups == ["hooks.example.com"]  # once: the address checked is the one used


async def test_every_address_of_the_host_is_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(CallbackRefused, match=r"127\.0\.0\.1: loopback"):
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


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
        ("//hooks.example.com/x", "http:// or https://"),
        ("https://user:pass@hooks.example.com/x", "user name or password"),
        ("https://user@hooks.example.com/x", "user name or password"),
        ("http://2130706433/", "unusual form"),  # decimal 127.0.0.1
        ("http://0x7f000001/", "unusual form"),  # hex
        ("http://0x7f.0.0.1/", "unusual form"),
        ("http://017700000001/", "unusual form"),  # octal
        ("http://127.1/", "unusual form"),  # short form
        ("http://0/", "unusual form"),
        ("http://" + "a" * 2100 + ".com/", "longer than"),
    ],
)
def test_callback_urls_refused_at_submission(url: str, reason: str) -> None:
    with pytest.raises(CallbackRefused, match=reason):
        parse_callback_url(url)


def test_dotted_quads_and_names_are_fine() -> None:
    for url in (
        "https://93.184.216.34/x",
        "https://hooks.example.com:8443/a?b=c",
        "http://[2606:4700::1111]/",
    ):
        assert parse_callback_url(url).host


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/hook", "must be an http:// or https:// URL"),
        ("http://admin:secret@127.0.0.1/hook", "must not contain a user name or password"),
        ("http://2130706433/hook", "an IP address in an unusual form"),
    ],
)
def test_upload_with_a_refused_callback_url_is_400_and_keeps_nothing(
    server: Harness, url: str, reason: str
) -> None:
    token = server.account()
    answer = upload(server.client(), token, ("l.csv", LIST), callback_url=url)
    assert answer.status_code == 400
    assert reason in answer.json()["message"]
    assert server.jobs() == []
    assert server.balances("acme") == (1_000, 0)
