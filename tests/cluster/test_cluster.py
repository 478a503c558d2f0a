"""A real cluster: ``mailsift serve --no-workers`` and ``mailsift worker`` processes sharing a
PostgreSQL database, over the loopback mail world; a list goes in through the API.
"""

from __future__ import annotations

import csv
import io
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.cluster.conftest import (
    CROWD_CAP,
    CROWD_HOST,
    SLOW_DOMAINS,
    Cluster,
    Process,
    cluster_env,
)
from tests.integration.conftest import _create_database, _drop_database, _libpq
from tests.mailworld.world import MailWorld

pytestmark = pytest.mark.postgres

NOT_AN_ADDRESS = "not-an-address"
FILES = ("valid", "invalid", "unknown")
_WAIT_SECONDS = 120.0


def post(cluster: Cluster, call: str, **params: str) -> dict[str, str]:
    answer = httpx.post(f"{cluster.api_url}{call}", data=params, timeout=30)
    body: dict[str, str] = answer.json()
    return body


def upload(cluster: Cluster, token: str, emails: list[str]) -> str:
    listing = "email\n" + "".join(f"{email}\n" for email in emails)
    answer = httpx.post(
        f"{cluster.api_url}/batch_process/",
        data={"user_API_token": token},
        files={"file": ("list.csv", listing.encode())},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    [job_id] = answer.json()["job_id"]
    return str(job_id)


def wait_completed(cluster: Cluster, token: str, job_id: str) -> list[float]:
    """Poll ``/job_progress/`` until the job is completed; every percentage seen."""
    seen: list[float] = []
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = post(cluster, "/job_progress/", user_API_token=token, job_id=job_id)
        seen.append(float(answer["percentage"]))
        if answer["stage"] == "Completed":
            return seen
        assert answer["stage"] in ("In Queue", "Processing"), answer
        time.sleep(0.1)
    logs = "\n".join(p.output()[-3000:] for p in cluster.processes)
    raise AssertionError(f"job never completed ({seen[-1:]}):\n{logs}")


def results(cluster: Cluster, token: str, job_id: str) -> dict[str, list[tuple[str, str, str]]]:
    """Every row of the three result files, by address: (file, result, reason)."""
    answer = post(cluster, "/get_results/", user_API_token=token, job_id=job_id)
    links = {
        "valid": answer["valid_result_link"],
        "invalid": answer["invalid_result_link"],
        "unknown": answer["unknown_link"],
    }
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for which in FILES:
        text = httpx.get(links[which], timeout=30).text
        for row in csv.DictReader(io.StringIO(text)):
            rows.setdefault(row["email"], []).append((which, row["result"], row["reason"]))
    return rows


def balance(cluster: Cluster, name: str) -> tuple[int, int]:
    """(API credits, their sum in the ledger)."""
    [(credits, ledger)] = cluster.sql(
        "SELECT a.api_credits, (SELECT sum(api_delta) FROM ledger WHERE account_id = a.id) "
        "FROM accounts AS a WHERE a.name = %s",
        name,
    )
    return int(str(credits)), int(str(ledger))


def start_workers(cluster: Cluster, names: list[str], *args: str) -> list[Process]:
    started = [cluster.spawn_worker(name, *args) for name in names]
    for process in started:
        process.wait_for("ready")
    return started


# --- an API node and three workers ---------------------------------------------------------------


@dataclass
class Run:
    """What a finished cluster run left to check."""

    world: MailWorld
    cluster: Cluster
    workers: list[Process]
    emails: list[str]
    rows: dict[str, list[tuple[str, str, str]]]
    progress: list[float]
    crowd_before: dict[str, int]
    crowd_after: dict[str, int]
    credits: int


@pytest.fixture(scope="module")
def three_worker_run(
    request: pytest.FixtureRequest,
    cluster_world: MailWorld,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    admin: str = request.getfixturevalue("postgres_admin_url")
    database = _create_database(admin, template=request.getfixturevalue("postgres_template"))
    url = _libpq(admin, database)
    cluster = Cluster(cluster_env(cluster_world, url), tmp_path_factory.mktemp("cluster"), url)
    try:
        cluster.start_api()
        workers = start_workers(cluster, ["worker-1", "worker-2", "worker-3"], "--concurrency", "1")
        credits = 5_000
        token = cluster.account("acme", api_credits=credits)
        emails = [e for e in cluster_world.expected if e.split("@")[1] not in SLOW_DOMAINS]
        random.Random(7).shuffle(emails)  # every chunk gets some of the crowded server
        crowd_before = cluster_world.server(CROWD_HOST).stats.counters()
        job_id = upload(cluster, token, [*emails, NOT_AN_ADDRESS, emails[0]])
        progress = wait_completed(cluster, token, job_id)
        crowd_after = cluster_world.server(CROWD_HOST).stats.counters()
        rows = results(cluster, token, job_id)
        yield Run(
            cluster_world,
            cluster,
            workers,
            emails,
            rows,
            progress,
            crowd_before,
            crowd_after,
            credits,
        )
    finally:
        cluster.stop()
        _drop_database(admin, database)


def test_every_address_gets_the_policys_verdict_exactly_once(three_worker_run: Run) -> None:
    run = three_worker_run
    expected = {
        email: [(file_of(run.world.expected[email][0]), *run.world.expected[email])]
        for email in run.emails
    }
    expected[NOT_AN_ADDRESS] = [("invalid", "invalid", "invalid_email")]
    assert run.rows == expected
    assert run.progress == sorted(run.progress)
    assert run.progress[-1] == 100.0


def file_of(result: str) -> str:
    return {"valid": "valid", "invalid": "invalid"}.get(result, "unknown")


def test_credits_are_exact(three_worker_run: Run) -> None:
    run = three_worker_run
    kinds = run.cluster.sql(
        "SELECT kind, api_delta FROM ledger WHERE job_id IS NOT NULL ORDER BY id"
    )
    # One credit per unique valid address; the duplicate and the non-address are free; the
    # engine gave up on none, so nothing comes back.
    assert kinds == [("reserve", -len(run.emails)), ("settle", 0)]
    assert balance(run.cluster, "acme") == (run.credits - len(run.emails),) * 2


def test_the_workers_share_the_chunks(three_worker_run: Run) -> None:
    run = three_worker_run
    holders = {str(h) for (h,) in run.cluster.sql("SELECT DISTINCT holder FROM chunks")}
    pids = {run.cluster.pid_holder(worker) for worker in run.workers}
    assert holders <= pids
    assert len(holders) >= 2


def test_a_crowded_server_never_sees_more_than_its_cap_from_the_cluster(
    three_worker_run: Run,
) -> None:
    before, after = three_worker_run.crowd_before, three_worker_run.crowd_after
    assert after["sessions"] - before["sessions"] >= 56  # 1,400 addresses, 25 per session
    assert after["connection_limit_violations"] == before["connection_limit_violations"]
    assert after["max_concurrent_seen"] == CROWD_CAP  # used to the full, never beyond


def test_greylisted_addresses_waited_in_the_queue(three_worker_run: Run) -> None:
    deferred = three_worker_run.cluster.sql(
        "SELECT email FROM job_items WHERE deferred_at IS NOT NULL ORDER BY email"
    )
    assert {"alice@greylist.test", "nobody@greylist.test"} <= {str(e) for (e,) in deferred}


def test_finished_tasks_are_pruned(three_worker_run: Run) -> None:
    run = three_worker_run
    deadline = time.monotonic() + 30
    while run.cluster.sql("SELECT count(*) FROM procrastinate.procrastinate_jobs") != [(0,)]:
        assert time.monotonic() < deadline, run.cluster.sql(
            "SELECT status, count(*) FROM procrastinate.procrastinate_jobs GROUP BY status"
        )
        time.sleep(0.2)


# --- a worker killed outright ---------------------------------------------------------------------


def test_a_worker_killed_mid_chunk_loses_nothing(
    cluster: Cluster, cluster_world: MailWorld
) -> None:
    cluster.env["MAILSIFT_MAX_RCPT_PER_SESSION"] = "5"  # chunks of slow sessions: seconds long
    cluster.start_api()
    [doomed] = start_workers(cluster, ["doomed"], "--concurrency", "2")
    credits = 2_000
    token = cluster.account("acme", api_credits=credits)
    emails = [e for e in cluster_world.expected if e.split("@")[1] in SLOW_DOMAINS]
    random.Random(3).shuffle(emails)
    job_id = upload(cluster, token, emails)

    # Kill it while it runs a chunk it has stored some results of, but not all.
    holder = cluster.pid_holder(doomed)
    deadline = time.monotonic() + 60
    while True:
        [(running, stored)] = cluster.sql(
            "SELECT count(*) FILTER (WHERE c.state = 'running' AND c.holder = %s), "
            "(SELECT count(*) FROM job_items WHERE result IS NOT NULL) FROM chunks AS c",
            holder,
        )
        if int(str(running)) and 0 < int(str(stored)) < len(emails):
            break
        assert time.monotonic() < deadline, doomed.output()
        time.sleep(0.02)
    doomed.popen.send_signal(signal.SIGKILL)
    doomed.popen.wait(10)
    killed_chunks = cluster.sql("SELECT chunk FROM chunks WHERE state = 'running'")
    assert killed_chunks

    survivors = start_workers(cluster, ["survivor-1", "survivor-2"])
    wait_completed(cluster, token, job_id)

    rows = results(cluster, token, job_id)
    assert rows == {email: [("valid", "valid", "accepted_email")] for email in emails}
    assert cluster.sql("SELECT count(*) FROM job_items WHERE result IS NULL") == [(0,)]
    [(done, total)] = cluster.sql("SELECT done, total FROM jobs")
    assert done == total == len(emails)
    kinds = cluster.sql("SELECT kind, api_delta FROM ledger WHERE job_id IS NOT NULL ORDER BY id")
    assert kinds == [("reserve", -len(emails)), ("settle", 0)]
    assert balance(cluster, "acme") == (credits - len(emails),) * 2
    # The killed chunks were run again, to the end, by the survivors; the dead worker's attempt
    # was given back (a death is not the chunk's failure).
    survivor_pids = {cluster.pid_holder(worker) for worker in survivors}
    for (chunk,) in killed_chunks:
        [(state, attempts, finished_by)] = cluster.sql(
            "SELECT state, attempts, holder FROM chunks WHERE chunk = %s", chunk
        )
        assert (state, int(str(attempts)), finished_by in survivor_pids) == ("done", 1, True)
