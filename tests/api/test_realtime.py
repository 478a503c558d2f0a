"""``/email_verification/`` over HTTP, with the real engine talking to the loopback mail world."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Harness, ServerFactory
from tests.api.test_batch import failure
from tests.mailworld.world import MailWorld

OUR_FIELDS = {
    "email",
    "normalized",
    "result",
    "reason",
    "free",
    "disposable",
    "role",
    "accept_all",
    "did_you_mean",
    "mx_host",
    "smtp_code",
    "smtp_message",
    "greylisted",
    "bad_address",
    "suppression_list",
    "quality_score",
}
VENDOR_FIELDS = {
    "status", "free_email", "disposable", "typo_suggest", "role_address", "message", "ev_score",
    "success", "user", "domain", "risky", "bad",
}  # fmt: skip


@pytest.fixture
def world_server(make_server: ServerFactory, api_world: MailWorld, tmp_path: Path) -> Harness:
    """A server whose engine is the real one, pointed at the mail world."""
    return make_server(settings=api_world.settings(data_dir=tmp_path / "data"), real_engine=True)


def verify(server: Harness, token: str, shape: str = "form", **params: str) -> httpx.Response:
    body = {"user_API_token": token, **params}
    client = server.client()
    if shape == "json":
        return client.post("/email_verification/", json=body)
    if shape == "multipart":
        return client.post("/email_verification/", files={k: (None, v) for k, v in body.items()})
    return client.post("/email_verification/", data=body)


@pytest.mark.parametrize("shape", ["form", "json", "multipart"])
def test_valid_mailbox_in_both_shapes(world_server: Harness, shape: str) -> None:
    token = world_server.account()
    answer = verify(world_server, token, shape, email="  alice@ok.test ")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == OUR_FIELDS | VENDOR_FIELDS
    assert body["email"] == "alice@ok.test"
    assert body["normalized"] == "alice@ok.test"
    assert (body["result"], body["reason"]) == ("valid", "accepted_email")
    assert (body["status"], body["message"]) == ("Valid", "User exists!")
    assert body["mx_host"] == "mx1.ok.test"
    assert body["smtp_code"] == 250
    assert body["free_email"] is body["free"] is False
    assert body["role_address"] is body["role"] is False


@pytest.mark.parametrize(
    ("email", "status", "result", "reason", "message"),
    [
        ("nobody@ok.test", "Invalid", "invalid", "rejected_email", "User does not exist!"),
        ("alice@nxdomain.test", "Invalid", "invalid", "invalid_domain", "Domain does not"),
        ("alice@catchall.test", "Risky", "risky", "low_deliverability", "catch-all"),
        ("alice@mailinator.com", "Risky", "risky", "low_quality", "Disposable"),
        ("alice@refused.test", "Unknown", "unknown", "no_connect", "Could not connect"),
        ("not-an-address", "Invalid", "invalid", "invalid_email", "Invalid email"),
    ],
)
def test_verdicts_in_both_vocabularies(
    world_server: Harness, email: str, status: str, result: str, reason: str, message: str
) -> None:
    token = world_server.account()
    body = verify(world_server, token, email=email).json()
    assert (body["status"], body["result"], body["reason"]) == (status, result, reason)
    assert message in body["message"]
    assert body["disposable"] is (reason == "low_quality")
    assert body["accept_all"] is email.endswith("catchall.test")


def test_flags_and_typo_suggestion(world_server: Harness) -> None:
    token = world_server.account()
    role = verify(world_server, token, email="info@ok.test").json()
    assert role["role"] is role["role_address"] is True
    assert role["status"] == "Valid"
    typo = verify(world_server, token, email="someone@gmial.com").json()
    assert typo["typo_suggest"] == typo["did_you_mean"] == "someone@gmail.com"
    free = verify(world_server, token, email="someone@gmail.com").json()
    assert free["free_email"] is free["free"] is True


def test_timeout_bounds_the_wait(world_server: Harness) -> None:
    token = world_server.account()
    body = verify(world_server, token, email="alice@tarpit.test", timeout="2").json()
    assert (body["status"], body["reason"]) == ("Unknown", "timeout")


@pytest.mark.parametrize("timeout", ["1", "1.99", "61", "-5", "soon", "nan"])
def test_timeout_outside_2_to_60_seconds_is_422(world_server: Harness, timeout: str) -> None:
    token = world_server.account()
    answer = verify(world_server, token, email="alice@ok.test", timeout=timeout)
    assert "timeout must be a number from 2 to 60" in failure(answer, 422)
    assert world_server.balances("acme") == (1_000, 0)


def test_refusals(world_server: Harness) -> None:
    token = world_server.account()
    client = world_server.client()
    failure(client.post("/email_verification/", data={"email": "a@ok.test"}), 401)
    wrong = client.post("/email_verification/", data={"user_API_token": token, "Email": "x"})
    assert "'email'" in failure(wrong, 400)
    missing = client.post("/email_verification/", data={"user_API_token": token})
    assert "email is required" in failure(missing, 400)
    assert world_server.balances("acme") == (1_000, 0)
