"""``/job_progress/``, ``/get_results/`` and the signed download links, over HTTP."""

from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from mailsift.api.links import LinkSigner
from mailsift.api.secret import load_secret
from mailsift.store import Store
from mailsift.store.models import Job, JobStage
from tests.api.conftest import FakeEngine, Harness, ServerFactory
from tests.api.test_batch import failure, upload

ROWS = ["ok1@example.com", "bad2@example.com", "catch3@example.com", "silent4@example.com"]
LIST = ("name,email\n" + "".join(f"P{n},{a}\n" for n, a in enumerate(ROWS))).encode()
LINKS = ("invalid_result_link", "valid_result_link", "unknown_link")
PERCENTAGE = re.compile(r"^(100|[1-9]?[0-9])\.[0-9]{2}$")


def submit(server: Harness, token: str, content: bytes = LIST) -> str:
    answer = upload(server.client(), token, ("list.csv", content))
    assert answer.status_code == 200, answer.text
    job_id: str = answer.json()["job_id"][0]
    return job_id


def ask(server: Harness, call: str, token: str, job_id: str, shape: str = "form") -> httpx.Response:
    params = {"user_API_token": token, "job_id": job_id}
    client = server.client()
    if shape == "json":
        return client.post(call, json=params)
    if shape == "multipart":
        return client.post(call, files={k: (None, v) for k, v in params.items()})
    return client.post(call, data=params)


def wait_completed(server: Harness, token: str, job_id: str) -> list[dict[str, str]]:
    """Poll until Completed; every answer seen, in order."""
    seen = []
    for _ in range(400):
        answer = ask(server, "/job_progress/", token, job_id).json()
        seen.append(answer)
        if answer["stage"] == "Completed":
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job never completed: {seen[-1]}")


@pytest.mark.parametrize("shape", ["form", "json", "multipart"])
def test_progress_answers_in_every_body_shape(make_server: ServerFactory, shape: str) -> None:
    server = make_server(workers=0)  # nothing runs: the job stays queued
    token = server.account()
    job_id = submit(server, token)
    answer = ask(server, "/job_progress/", token, job_id, shape)
    assert answer.status_code == 200
    assert answer.json() == {"status": "success", "percentage": "0.00", "stage": "In Queue"}


def test_progress_moves_forward_to_completed(make_server: ServerFactory) -> None:
    server = make_server(engine=FakeEngine(delay=0.05), workers=1)
    token = server.account()
    job_id = submit(server, token, b"email\n" + b"".join(b"ok%d@x.com\n" % n for n in range(30)))
    seen = wait_completed(server, token, job_id)
    numbers = [float(answer["percentage"]) for answer in seen]
    assert all(PERCENTAGE.match(answer["percentage"]) for answer in seen)
    assert numbers == sorted(numbers)
    assert {answer["stage"] for answer in seen} <= {"In Queue", "Processing", "Completed"}
    assert seen[-1]["percentage"] == "100.00"
    assert all(a["percentage"] != "100.00" for a in seen if a["stage"] != "Completed")
    assert "Processing" in {answer["stage"] for answer in seen}


def test_results_have_empty_links_until_completed(make_server: ServerFactory) -> None:
    server = make_server(workers=0)
    token = server.account()
    job_id = submit(server, token)
    answer = ask(server, "/get_results/", token, job_id).json()
    assert answer == {
        "status": "success",
        "percentage": "0.00",
        "stage": "In Queue",
        "invalid_result_link": "",
        "valid_result_link": "",
        "unknown_link": "",
    }


def test_completed_job_links_download_the_three_files(server: Harness) -> None:
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)
    answer = ask(server, "/get_results/", token, job_id).json()
    assert answer["status"] == "success"
    assert answer["stage"] == "Completed"
    assert answer["percentage"] == "100.00"
    files = {}
    for name in LINKS:
        link = answer[name]
        assert link.startswith(server.url + "/download/")
        assert job_id in link
        download = httpx.get(link)  # no token, no cookies: the link is the permission
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        files[name] = list(csv.reader(io.StringIO(download.text)))
    for rows in files.values():
        assert rows[0][:2] == ["name", "email"]
        assert rows[0][2:4] == ["result", "reason"]
    assert [row[1] for row in files["valid_result_link"][1:]] == ["ok1@example.com"]
    assert [row[1] for row in files["invalid_result_link"][1:]] == ["bad2@example.com"]
    unknown = {row[1]: row[2] for row in files["unknown_link"][1:]}
    assert unknown == {"catch3@example.com": "risky", "silent4@example.com": "unknown"}


def test_public_url_makes_the_links(make_server: ServerFactory) -> None:
    server = make_server(public_url="https://verify.example.org/")
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)
    answer = ask(server, "/get_results/", token, job_id).json()
    assert all(answer[name].startswith("https://verify.example.org/download/") for name in LINKS)


def test_links_are_not_derivable_from_the_job_id(server: Harness) -> None:
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)
    link = ask(server, "/get_results/", token, job_id).json()["valid_result_link"]
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    expires, signature = query["expires"][0], query["signature"][0]
    base = f"{server.url}{parts.path}"
    other_last = "B" if signature[-1] == "A" else "A"  # a different signature, always
    tampered = [
        f"{base}",
        f"{base}?expires={expires}",
        f"{base}?expires={expires}&signature={signature[:-1]}{other_last}",
        f"{base}?expires={int(expires) + 1}&signature={signature}",
        f"{base.replace('valid.csv', 'invalid.csv')}?expires={expires}&signature={signature}",
        f"{server.url}/download/{job_id}x/valid.csv?expires={expires}&signature={signature}",
    ]
    for url in tampered:
        assert "not valid" in failure(httpx.get(url), 403), url
    assert httpx.get(link).status_code == 200


def test_expired_link_is_410(server: Harness) -> None:
    token = server.account()
    job_id = submit(server, token)
    wait_completed(server, token, job_id)
    signer = LinkSigner(load_secret(server.settings.data_dir), server.config.link_ttl)
    stale = signer.link(server.url, job_id, "valid", now=time.time() - server.config.link_ttl - 5)
    assert "expired" in failure(httpx.get(stale), 410)
    fresh = signer.link(server.url, job_id, "valid")
    assert httpx.get(fresh).status_code == 200


def test_secret_file_is_private(server: Harness) -> None:
    mode = (server.settings.data_dir / "secret.key").stat().st_mode & 0o777
    assert mode == 0o600


def test_foreign_job_is_answered_like_an_unknown_one(server: Harness) -> None:
    alice, bob = server.account("alice"), server.account("bob")
    job_id = submit(server, alice)
    for call in ("/job_progress/", "/get_results/"):
        foreign = ask(server, call, bob, job_id)
        unknown = ask(server, call, bob, "no-such-job")
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json() == unknown.json() == {"status": "failed", "message": "Job not found."}
        assert ask(server, call, alice, job_id).status_code == 200


def test_errors_of_the_job_calls(server: Harness) -> None:
    token = server.account()
    client = server.client()
    failure(client.post("/job_progress/", data={"job_id": "x"}), 401)
    failure(client.post("/job_progress/", data={"user_API_token": "ms_wrong", "job_id": "x"}), 401)
    assert "job_id" in failure(client.post("/get_results/", data={"user_API_token": token}), 400)
    wrong_case = client.post("/job_progress/", data={"user_API_token": token, "Job_ID": "x"})
    assert "'job_id'" in failure(wrong_case, 400)
    several = client.post("/job_progress/", json={"user_API_token": token, "job_id": ["a", "b"]})
    assert "one job_id" in failure(several, 400)
    failure(client.get("/job_progress/"), 405)
    failure(client.post("/no_such_call/"), 404)


@pytest.mark.parametrize("stage", [JobStage.FAILED, JobStage.CANCELLED])
def test_failed_and_cancelled_jobs_say_why(make_server: ServerFactory, stage: JobStage) -> None:
    server = make_server(workers=0)
    token = server.account()
    job_id = submit(server, token)

    async def stop(store: Store) -> None:
        async with store.write() as session:
            await session.execute(
                update(Job).where(Job.public_id == job_id).values(stage=stage, message="why not")
            )

    server.run(stop)
    answer = ask(server, "/get_results/", token, job_id).json()
    assert answer["stage"] == str(stage)
    assert answer["message"] == "why not"
    assert answer["valid_result_link"] == ""
