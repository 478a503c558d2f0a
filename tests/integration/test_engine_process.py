"""``mailsift serve`` runs its engine in a child process: verifications cross the pipe, the
child dies with the server, a child that dies alone is replaced, and ``/metrics`` adds the
child's numbers in."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.hardening.live import Server, clean_env, create_token, world_env
from bench.world import WorldPlan, WorldProcess, make_plan
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mailsift.metrics import SMTP_SESSIONS, render


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[WorldPlan, dict[str, str]]]:
    plan = make_plan(200, 20, 3)
    process = WorldProcess(plan, per_host=2, per_session=25)
    ports = process.start()
    try:
        yield plan, world_env(ports)
    finally:
        process.stop()


@pytest.fixture
def server(world: tuple[WorldPlan, dict[str, str]], tmp_path: Path) -> Iterator[Server]:
    _, env = world
    data = tmp_path / "data"
    data.mkdir()
    live = Server(clean_env(**env, MAILSIFT_METRICS="1"), data, tmp_path / "server.log")
    live.token = create_token(live.db_url, "engine", 1_000)  # type: ignore[attr-defined]
    live.start()
    try:
        yield live
    finally:
        live.stop()


def verify(server: Server, email: str) -> httpx.Response:
    token = server.token  # type: ignore[attr-defined]
    return httpx.post(
        f"{server.url}/email_verification/",
        data={"user_API_token": token, "email": email},
        timeout=60,
    )


def a_deliverable(plan: WorldPlan) -> str:
    return next(a for a, e in plan.expected.items() if e.reason == "accepted_email")


def wait_for(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_verifications_cross_to_the_engine_process_and_it_dies_with_the_server(
    world: tuple[WorldPlan, dict[str, str]], server: Server
) -> None:
    plan, _ = world
    [engine] = server.engines()
    answer = verify(server, a_deliverable(plan))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["result"], answer.json()["reason"]) == ("valid", "accepted_email")
    server.kill()
    assert wait_for(lambda: not alive(engine), 10), "the engine outlived a SIGKILLed server"


def test_an_engine_process_that_dies_alone_is_replaced(
    world: tuple[WorldPlan, dict[str, str]], server: Server
) -> None:
    plan, _ = world
    [first] = server.engines()
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: server.engines() not in ([], [first]))
    [second] = server.engines()
    assert second != first

    def answers() -> bool:
        answer = verify(server, a_deliverable(plan))
        if answer.status_code == 503:  # the new engine is still starting
            assert answer.headers["retry-after"]
            return False
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["result"] == "valid")

    assert wait_for(answers)
    assert "the verification engine's process ended; starting another" in server.output()


def test_metrics_add_the_engine_process_sessions_in(
    world: tuple[WorldPlan, dict[str, str]], server: Server
) -> None:
    plan, _ = world
    assert verify(server, a_deliverable(plan)).status_code == 200
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    sessions = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mailsift_smtp_sessions"
        for sample in family.samples
        if sample.name == "mailsift_smtp_sessions_total"
    }
    assert sum(sessions.values()) >= 1, text  # the session ran in the engine process


def test_sibling_expositions_are_added_sample_by_sample() -> None:
    label = "test-sibling-sum"
    before = SMTP_SESSIONS.labels(label)._value.get()
    SMTP_SESSIONS.labels(label).inc(2)
    # What the engine process sends: the same family, rendered by its own registry.
    registry = CollectorRegistry()
    theirs = Counter("mailsift_smtp_sessions", "x", ["outcome"], registry=registry)
    theirs.labels(label).inc(5)
    theirs.labels("only-there").inc()
    text = render(siblings=[generate_latest(registry).decode()]).decode()
    values = {
        sample.labels.get("outcome"): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mailsift_smtp_sessions"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert values[label] == before + 2 + 5
    assert values["only-there"] == 1
    assert text.count("# TYPE mailsift_smtp_sessions_total counter") == 1
