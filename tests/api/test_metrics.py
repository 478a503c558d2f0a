"""``/metrics``: off by default, behind its own token when one is set, and its numbers move
while a real list is verified over the mail world."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Harness, ServerFactory
from tests.api.test_jobs_api import wait_completed
from tests.mailworld.world import MailWorld

METRICS_TOKEN = "metrics-secret-for-tests"


def scrape(server: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = server.client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):  # raises on a malformed line
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_unless_enabled(server: Harness) -> None:
    answer = server.client().get("/metrics")
    assert answer.status_code == 404
    assert answer.json()["status"] == "failed"


def test_a_metrics_token_is_required_when_set(make_server: ServerFactory) -> None:
    server = make_server(metrics_token=METRICS_TOKEN)
    assert server.client().get("/metrics").status_code == 401
    wrong = server.client().get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    token = server.account()
    # The API token is no way in: metrics have their own.
    as_api = server.client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert as_api.status_code == 401


def test_enabled_without_a_token_they_are_open(make_server: ServerFactory) -> None:
    server = make_server(metrics=True)
    answer = server.client().get("/metrics")
    assert answer.status_code == 200
    assert "mailsift_jobs" in answer.text


def test_the_numbers_move_during_a_job(
    make_server: ServerFactory, api_world: MailWorld, tmp_path: Path
) -> None:
    server = make_server(
        settings=api_world.settings(data_dir=tmp_path / "data", greylist_deadline=2.5),
        real_engine=True,
        metrics_token=METRICS_TOKEN,
    )
    token = server.account(api=1_000)
    before = scrape(server)
    expected = {a: v for a, v in api_world.expected.items() if v[0] in ("valid", "invalid")}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email"])
    for address in expected:
        writer.writerow([address])
    client = server.client()
    answer = client.post(
        "/batch_process/",
        data={"user_API_token": token},
        files={"file": ("list.csv", out.getvalue().encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    [job_id] = answer.json()["job_id"]
    wait_completed(server, token, job_id)
    one = client.post(
        "/email_verification/", data={"user_API_token": token, "email": next(iter(expected))}
    )
    assert one.status_code == 200
    after = scrape(server)

    assert value(after, "mailsift_jobs", stage="Completed") == 1
    verified = {
        labels: after[(name, labels)] - before.get((name, labels), 0.0)
        for (name, labels) in after
        if name == "mailsift_addresses_verified_total"
    }
    by_verdict: dict[tuple[str, str], float] = {}
    for labels, delta in verified.items():
        key = dict(labels)
        by_verdict[(key["result"], key["reason"])] = delta
    wanted: dict[tuple[str, str], float] = {}
    for result, reason in expected.values():
        wanted[(result, reason)] = wanted.get((result, reason), 0) + 1
    assert {k: v for k, v in by_verdict.items() if v} == wanted
    spent = value(after, "mailsift_credits_spent_total", balance="api", kind="reserve")
    assert spent == len(expected)  # one reservation, one credit per unique address
    assert value(after, "mailsift_credits_spent_total", balance="api", kind="charge") == 1
    assert value(after, "mailsift_credits_added_total", balance="api", kind="grant") == 1_000
    assert value(after, "mailsift_chunk_duration_seconds_count") > value(
        before, "mailsift_chunk_duration_seconds_count"
    )
    realtime = sum(
        v - before.get((name, labels), 0.0)
        for (name, labels), v in after.items()
        if name == "mailsift_realtime_duration_seconds_count"
    )
    assert realtime == 1
    assert value(after, "mailsift_queue_addresses") == 0
    assert value(after, "mailsift_smtp_sessions_total", outcome="completed") > value(
        before, "mailsift_smtp_sessions_total", outcome="completed"
    )
