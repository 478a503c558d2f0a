"""Both hosted answer shapes, suppression lists, deleting and re-verifying jobs, over HTTP."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from mailsift.jobs.retention import expire_jobs
from mailsift.store import Store
from mailsift.store.models import Job, JobItem, LedgerEntry, utcnow
from mailsift.verify.model import Reason, Result, Verification
from tests.api.conftest import FakeEngine, Harness, ServerFactory, api_test_settings
from tests.api.test_batch import failure
from tests.api.test_jobs_api import ask, submit, wait_completed

# What a client of each documented shape of the hosted real-time answer reads, and its type.
FIRST_SHAPE = {
    "status": str, "domain": str, "free_email": bool, "disposable": bool, "typo_suggest": str,
    "role_address": bool, "bad_address": bool, "message": str, "email": str, "ev_score": int,
}  # fmt: skip
SECOND_SHAPE = {
    "success": bool, "user": str, "domain": str, "email": str, "result": str, "reason": str,
    "message": str, "risky": bool, "disposable": bool, "free": bool, "bad": bool,
}  # fmt: skip


def verify(server: Harness, token: str, email: str, **flags: str) -> dict[str, object]:
    answer = server.client().post(
        "/email_verification/", data={"user_API_token": token, "email": email, **flags}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def call(server: Harness, path: str, token: str, **params: str) -> httpx.Response:
    return server.client().post(path, data={"user_API_token": token, **params})


def import_list(server: Harness, token: str, name: str, content: str) -> dict[str, object]:
    answer = server.client().post(
        "/suppression_import/",
        data={"user_API_token": token, "name": name},
        files={"file": ("list.txt", content.encode())},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def result_files(server: Harness, token: str, job_id: str) -> dict[str, list[dict[str, str]]]:
    links = ask(server, "/get_results/", token, job_id).json()
    files = {}
    for which, field in (("valid", "valid_result_link"), ("invalid", "invalid_result_link"),
                         ("unknown", "unknown_link")):  # fmt: skip
        download = httpx.get(links[field])
        assert download.status_code == 200
        files[which] = list(csv.DictReader(io.StringIO(download.text)))
    return files


@pytest.mark.parametrize(("shape", "fields"), [("first", FIRST_SHAPE), ("second", SECOND_SHAPE)])
def test_a_client_of_either_hosted_shape_reads_every_field_it_expects(
    server: Harness, shape: str, fields: dict[str, type]
) -> None:
    token = server.account()
    for email in ("ok1@Example.COM", "catch2@example.com", "silent3@example.com"):
        body = verify(server, token, email)
        for name, kind in fields.items():
            assert isinstance(body[name], kind), (shape, name, body)
        assert body["email"] == email
        assert body["domain"] == "Example.COM" if email.startswith("ok1") else "example.com"
        assert body["user"] == email.partition("@")[0]
        assert body["success"] is True
        assert body["risky"] is (body["result"] == "risky")
        assert body["status"] == str(body["result"]).capitalize()
        assert body["bad"] is body["bad_address"] is False
        assert body["ev_score"] == body["quality_score"]
    assert verify(server, token, "catch2@example.com")["risky"] is True


def test_the_optional_flags_are_accepted_and_checked(server: Harness) -> None:
    token = server.account()
    flags = dict.fromkeys(("free", "disposable", "did_you_mean", "role", "bad", "ev_score"), "true")
    body = verify(server, token, "ok1@example.com", **flags)
    assert body["result"] == "valid"
    assert body["ev_score"] == 100
    assert verify(server, token, "ok1@example.com", free="false", bad="0")["result"] == "valid"
    refused = call(server, "/email_verification/", token, email="ok1@example.com", bad="maybe")
    assert "bad must be true or false" in failure(refused, 400)


def test_a_suppressed_address_is_bad_in_the_real_time_answer_whatever_its_verdict(
    server: Harness,
) -> None:
    token = server.account("acme")
    other = server.account("other")
    report = import_list(server, token, "complaints", "email\nOK1@example.com\n@traps.test\n")
    assert (report["added"], report["rejected"]) == (2, 1)  # the header is neither
    body = verify(server, token, "ok1@example.com")
    assert (body["result"], body["status"]) == ("valid", "Valid")  # the server's word stays
    assert body["bad_address"] is body["bad"] is True
    assert body["suppression_list"] == "complaints"
    assert body["ev_score"] == 0
    assert verify(server, token, "ok9@traps.test")["suppression_list"] == "complaints"
    assert verify(server, token, "ok2@example.com")["bad_address"] is False
    assert verify(server, other, "ok1@example.com")["bad_address"] is False  # acme's list only
    lists = call(server, "/suppression_lists/", token).json()["lists"]
    assert [(s["name"], s["scope"], s["entries"]) for s in lists] == [("complaints", "account", 2)]
    removed = call(
        server, "/suppression_remove/", token, name="complaints", entry="ok1@EXAMPLE.com"
    )
    assert removed.json()["removed"] == 1
    assert verify(server, token, "ok1@example.com")["bad_address"] is False
    assert call(server, "/suppression_remove/", other, name="complaints").status_code == 404


def test_suppressed_addresses_are_marked_in_the_files_and_can_go_to_invalid(
    server: Harness,
) -> None:
    token = server.account()
    import_list(server, token, "hard bounces", "ok1@example.com\ntraps.test\n")
    content = b"email\nok1@example.com\nok2@traps.test\nok3@example.com\nsilent4@example.com\n"
    job_id = submit(server, token, content)
    wait_completed(server, token, job_id)
    files = result_files(server, token, job_id)
    valid = {row["email"]: row for row in files["valid"]}
    assert set(valid) == {"ok1@example.com", "ok2@traps.test", "ok3@example.com"}
    assert valid["ok1@example.com"]["bad_address"] == "true"
    assert valid["ok1@example.com"]["suppression_list"] == "hard bounces"
    assert valid["ok1@example.com"]["quality_score"] == "0"
    assert valid["ok3@example.com"]["bad_address"] == "false"
    assert valid["ok3@example.com"]["quality_score"] == "100"
    assert files["unknown"][0]["quality_score"] == "30"  # unknown / no_connect

    options = call(server, "/account_options/", token, suppressed_to_invalid="true")
    assert options.json() == {"status": "success", "suppressed_to_invalid": True}
    files = result_files(server, token, job_id)
    assert [row["email"] for row in files["valid"]] == ["ok3@example.com"]
    assert [(row["email"], row["result"]) for row in files["invalid"]] == [
        ("ok1@example.com", "valid"),
        ("ok2@traps.test", "valid"),
    ]


def _count(server: Harness, model: type[Job] | type[JobItem], job_pk: int) -> int:
    async def count(store: Store) -> int:
        column = Job.id if model is Job else JobItem.job_id
        async with store.read() as session:
            return int(await session.scalar(select(func.count()).where(column == job_pk)) or 0)

    return server.run(count)


def test_a_deleted_job_leaves_no_row_and_no_working_link_but_its_ledger(server: Harness) -> None:
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)
    links = ask(server, "/get_results/", token, job_id).json()
    assert httpx.get(links["valid_result_link"]).status_code == 200
    job_pk = next(job.id for job in server.jobs() if job.public_id == job_id)
    ledger_before = len(server.ledger("acme"))

    assert call(server, "/delete_job/", token, job_id=job_id).json()["status"] == "success"
    assert _count(server, Job, job_pk) == _count(server, JobItem, job_pk) == 0
    assert httpx.get(links["valid_result_link"]).status_code == 404
    failure(ask(server, "/job_progress/", token, job_id), 404)
    failure(call(server, "/delete_job/", token, job_id=job_id), 404)
    ledger = server.ledger("acme")
    assert len(ledger) == ledger_before  # kept, no longer pointing at the job
    assert all(entry.job_id is None for entry in ledger)


def test_jobs_past_the_retention_period_are_deleted(server: Harness) -> None:
    token = server.account()
    old, recent = submit(server, token), submit(server, token)
    for job_id in (old, recent):
        wait_completed(server, token, job_id)
    links = ask(server, "/get_results/", token, old).json()

    async def age_and_expire(store: Store) -> int:
        async with store.write() as session:
            await session.execute(
                update(Job)
                .where(Job.public_id == old)
                .values(finished_at=utcnow() - timedelta(days=31))
            )
        return await expire_jobs(store, 30)

    assert server.run(age_and_expire) == 1
    assert [job.public_id for job in server.jobs()] == [recent]
    assert httpx.get(links["unknown_link"]).status_code == 404
    assert ask(server, "/job_progress/", token, recent).status_code == 200


class ChangingEngine(FakeEngine):
    """``later…`` addresses are unknown the first time they are asked about, valid after."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, int] = {}

    async def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        async for verification in super().verify_many(addresses):
            email = verification.email
            self.times[email] = self.times.get(email, 0) + 1
            if email.startswith("later") and self.times[email] > 1:
                yield Verification(email, email, Result.VALID, Reason.ACCEPTED_EMAIL,
                                   mx_host="mx.example.net", smtp_code=250)  # fmt: skip
            else:
                yield verification


REVERIFY_LIST = b"name,email\nA,ok1@example.com\nB,later2@example.com\nC,later3@example.com\n"
REVERIFY_LIST += b"D,bad4@example.com\nE,silent5@example.com\n"


@pytest.mark.parametrize(("window", "charged_again"), [(86400.0, 0), (0.0, 3)])
def test_reverified_unknowns_move_to_the_valid_file_and_are_charged_once(
    make_server: ServerFactory, tmp_path: Path, window: float, charged_again: int
) -> None:
    engine = ChangingEngine()
    settings = api_test_settings(tmp_path / "data", reverify_free_window=window)
    server = make_server(engine=engine, settings=settings)
    token = server.account(api=100)
    job_id = submit(server, token, REVERIFY_LIST)
    wait_completed(server, token, job_id)
    assert server.balances("acme") == (95, 0)
    before = result_files(server, token, job_id)
    assert [row["email"] for row in before["unknown"]] == [
        "later2@example.com", "later3@example.com", "silent5@example.com",
    ]  # fmt: skip

    answer = call(server, "/reverify/", token, job_id=job_id).json()
    assert answer["status"] == "success", answer
    assert answer["total"] == 3
    wait_completed(server, token, answer["job_id"])  # progress reads as for any job
    assert server.balances("acme") == (95 - charged_again, 0)
    after = result_files(server, token, job_id)
    assert [(row["name"], row["email"]) for row in after["valid"]] == [
        ("A", "ok1@example.com"), ("B", "later2@example.com"), ("C", "later3@example.com"),
    ]  # fmt: skip
    assert [row["email"] for row in after["unknown"]] == ["silent5@example.com"]
    assert after["valid"][1]["quality_score"] == "100"

    again = call(server, "/reverify/", token, job_id=answer["job_id"])
    assert again.status_code == 200  # the re-verification's own unknown, once more
    done = call(server, "/reverify/", token, job_id=job_id).json()
    assert done["total"] == 1
    wait_completed(server, token, done["job_id"])


def test_reverify_refuses_a_job_without_unknowns_and_a_job_still_running(
    make_server: ServerFactory,
) -> None:
    server = make_server()
    token = server.account()
    job_id = submit(server, token, b"email\nok1@example.com\nbad2@example.com\n")
    wait_completed(server, token, job_id)
    assert "no unknown addresses" in failure(call(server, "/reverify/", token, job_id=job_id), 422)
    idle = make_server(workers=0, settings=api_test_settings(server.settings.data_dir / "idle"))
    idle_token = idle.account()
    queued = submit(idle, idle_token)
    assert "Only a completed job" in failure(
        call(idle, "/reverify/", idle_token, job_id=queued), 422
    )


def test_ledger_rows_are_kept_when_a_job_expires(server: Harness) -> None:
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)

    async def expire_all(store: Store) -> list[LedgerEntry]:
        async with store.write() as session:
            await session.execute(update(Job).values(finished_at=utcnow() - timedelta(days=60)))
        await expire_jobs(store, 30)
        async with store.read() as session:
            return list((await session.execute(select(LedgerEntry))).scalars())

    kinds = [entry.kind for entry in server.run(expire_all)]
    assert "reserve" in kinds
    assert server.jobs() == []


@pytest.mark.parametrize(("window", "asked_again", "charged"), [(3600.0, 1, 4), (0.0, 3, 6)])
def test_results_are_reused_within_the_window_and_then_not_charged(
    make_server: ServerFactory, tmp_path: Path, window: float, asked_again: int, charged: int
) -> None:
    engine = FakeEngine()
    settings = api_test_settings(tmp_path / "data", result_reuse_window=window)
    server = make_server(engine=engine, settings=settings)
    token = server.account(api=100)
    content = b"email\nok1@example.com\nbad2@example.com\nsilent3@example.com\n"
    wait_completed(server, token, submit(server, token, content))
    asked = len(engine.asked)
    second = submit(server, token, content)
    wait_completed(server, token, second)
    assert len(engine.asked) - asked == asked_again  # unknowns are never reused
    for _ in range(100):  # the settlement follows the completion
        if server.balances("acme") == (100 - charged, 0):
            break
        time.sleep(0.05)
    assert server.balances("acme") == (100 - charged, 0)
    files = result_files(server, token, second)
    assert [row["email"] for row in files["valid"]] == ["ok1@example.com"]
    assert [row["email"] for row in files["invalid"]] == ["bad2@example.com"]


def test_the_new_calls_and_the_flags_are_described_at_docs(server: Harness) -> None:
    schema = server.client().get("/openapi.json").json()
    for path in ("/suppression_import/", "/suppression_lists/", "/suppression_remove/",
                 "/account_options/", "/delete_job/", "/reverify/"):  # fmt: skip
        properties = schema["paths"][path]["post"]["requestBody"]["content"][
            "application/x-www-form-urlencoded"
        ]["schema"]["properties"]
        assert all(field.get("description") for field in properties.values()), path
    realtime = schema["paths"]["/email_verification/"]["post"]["requestBody"]["content"]
    flags = realtime["application/json"]["schema"]["properties"]
    assert {"free", "disposable", "did_you_mean", "role", "bad", "ev_score"} <= set(flags)
    answer = schema["components"]["schemas"]["VerificationAnswer"]["properties"]
    assert set(FIRST_SHAPE) | set(SECOND_SHAPE) <= set(answer)
