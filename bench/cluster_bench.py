"""The cluster benchmark: ``python -m bench.cluster_bench [--workers 1 3]``.

The engine benchmark's world (``bench/world.py``, 20,000 addresses by default) verified by a
cluster: the list becomes a job in a fresh PostgreSQL database, its chunks are queued, and N
``mailsift worker`` processes verify them, sharing the queue and the per-server caps (2
connections per mail server for the whole cluster, 25 recipients per session). For each N it
measures the wall time from queueing the chunks to the job's completion, checks every verdict
against the world's truth, that no address was lost or stored twice, and that no server saw
DATA or more connections than allowed. See bench/README.md ("The cluster benchmark").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.lower_bound import Latency, Politeness, lower_bound
from bench.run import (
    CONCURRENCY,
    ERROR_BUDGET,
    PER_HOST,
    PER_SESSION,
    bench_engine,
    run_header,
    save_record,
)
from bench.world import DNS_DELAY, REPLY_DELAY, WorldPlan, WorldPorts, WorldProcess, make_plan
from mailsift.dispatch.pgqueue import ProcrastinateDispatcher
from mailsift.jobs.service import create_job
from mailsift.store import open_store, upgrade
from mailsift.store.models import JobSource

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# ``mailsift worker``, however the ``mailsift`` script's commands are registered.
LAUNCHER = "import typer\nfrom mailsift.cli.worker import worker\ntyper.run(worker)\n"
_READY_SECONDS = 60.0
_RUN_SECONDS = 1800.0
_MISMATCH_EXAMPLES = 10
TARGET_SESSIONS_RATIO = 1.2  # the cluster's SMTP sessions / one engine run's, at most
TARGET_RATIO = 1.3  # wall time / lower bound, at most, for each number of workers


def worker_env(ports: WorldPorts, url: str, concurrency: int, key: str) -> dict[str, str]:
    """The engine benchmark's client settings, as a worker's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    env.update(
        MAILSIFT_HELO_NAME="probe.mailsift.test",
        MAILSIFT_MAIL_FROM="verify@mailsift.test",
        MAILSIFT_DNS_NAMESERVERS=f"127.0.0.1:{ports.dns}",
        MAILSIFT_SMTP_PORT=str(ports.smtp),
        MAILSIFT_ALLOW_PRIVATE_TARGETS="1",
        MAILSIFT_PROXIES="",
        MAILSIFT_MAX_CONNECTIONS_PER_HOST=str(PER_HOST),
        MAILSIFT_MAX_RCPT_PER_SESSION=str(PER_SESSION),
        MAILSIFT_MAX_RCPT_ERRORS_PER_SESSION=str(ERROR_BUDGET),
        MAILSIFT_MAX_CONCURRENCY=str(CONCURRENCY),
        MAILSIFT_GREYLIST_RETRY_AFTER="5",
        MAILSIFT_GREYLIST_DEADLINE="60",
        MAILSIFT_HOST_PAUSE="5",
        MAILSIFT_DATABASE_URL=url,
        MAILSIFT_SECRET_KEY=key,
        MAILSIFT_WORKERS=str(concurrency),
    )
    return env


# --- the database ---------------------------------------------------------------------------


def create_database(admin_url: str) -> str:
    """A fresh database on the server of ``admin_url``; its URL."""
    name = f"mailsift_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


async def queue_list(url: str, listing: Path) -> int:
    """Take the list in as a job (not timed); its chunks are queued later."""
    async with open_store(url) as store:
        job = await create_job(store, listing, listing.name, source=JobSource.CLI)
        return job.id


async def submit(url: str, job_id: int) -> None:
    async with open_store(url) as store:
        dispatcher = ProcrastinateDispatcher(store)
        await dispatcher.start()
        try:
            await dispatcher.submit(job_id)
        finally:
            await dispatcher.stop()


def wait_completed(url: str, job_id: int, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + _RUN_SECONDS
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT stage FROM jobs WHERE id = %s", (job_id,)).fetchone()
            if row is not None and row[0] == "Completed":
                return
            if any(worker.poll() is not None for worker in workers):
                raise RuntimeError("a worker exited; its log is above")
            if time.monotonic() > deadline:
                raise TimeoutError("the job did not complete")
            time.sleep(0.05)


# --- one run --------------------------------------------------------------------------------


def start_workers(env: dict[str, str], count: int, scratch: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        log = scratch / f"worker-{n}.log"
        with log.open("wb") as out:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", LAUNCHER],
                    env={**env, "MAILSIFT_DATA_DIR": str(scratch / f"worker-{n}")},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + _READY_SECONDS
    for n in range(count):
        log = scratch / f"worker-{n}.log"
        while "ready" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or workers[n].poll() is not None:
                raise RuntimeError(f"worker {n} did not start:\n{log.read_text()}")
            time.sleep(0.05)
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> float:
    """Stop the workers; their CPU time, in seconds."""
    cpu = 0.0
    for worker in workers:
        times = psutil.Process(worker.pid).cpu_times()
        cpu += times.user + times.system
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(60)
    return cpu


def check(url: str, job_id: int, plan: WorldPlan) -> dict[str, Any]:
    """Every stored verdict against the world's truth; lost and duplicated addresses.

    Rows are numbered in the list's order, and the list has no duplicates or blank lines: row
    ``seq`` is ``plan.addresses[seq]``.
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT seq, result, reason, accept_all, mx_host, smtp_message FROM job_items "
            "WHERE job_id = %s",
            (job_id,),
        ).fetchall()
    mismatches: dict[str, int] = {}
    examples: list[str] = []
    for seq, result, reason, accept_all, mx_host, message in rows:
        want = plan.expected[plan.addresses[seq]]
        if (result, reason, accept_all) != (want.result, want.reason, want.accept_all):
            key = f"{want.result}/{want.reason} -> {result}/{reason}"
            mismatches[key] = mismatches.get(key, 0) + 1
            if len(examples) < _MISMATCH_EXAMPLES:
                examples.append(f"{plan.addresses[seq]}: {key} ({mx_host}: {message})")
    seqs = {seq for seq, *_ in rows}
    return {
        "rows": len(rows),
        "unique_rows": len(seqs),
        "lost": len(set(range(len(plan.addresses))) - seqs),
        "without_result": sum(1 for row in rows if row[1] is None),
        "mismatches": sum(mismatches.values()),
        "mismatch_kinds": mismatches,
        "mismatch_examples": examples,
    }


def bench_cluster(
    plan: WorldPlan, admin_url: str, workers: int, concurrency: int
) -> dict[str, Any]:
    bound = lower_bound(
        plan.loads(),
        Politeness(PER_HOST, PER_SESSION, CONCURRENCY * workers, error_budget=ERROR_BUDGET),
        Latency(reply_delay=REPLY_DELAY, dns_delay=DNS_DELAY),
    )
    world = WorldProcess(plan, per_host=PER_HOST, per_session=PER_SESSION)
    ports = world.start()
    url = create_database(admin_url)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="mailsift-cluster-bench-") as tmp:
            scratch = Path(tmp)
            listing = scratch / "list.txt"  # one address a line, as the engine benchmark reads it
            listing.write_text("".join(f"{a}\n" for a in plan.addresses), encoding="utf-8")
            job_id = asyncio.run(queue_list(url, listing))
            env = worker_env(ports, url, concurrency, secrets.token_hex(32))
            print(f"[{workers} worker(s)] verifying {len(plan.addresses):,} addresses...")
            running = start_workers(env, workers, scratch)
            try:
                started = time.perf_counter()
                asyncio.run(submit(url, job_id))
                wait_completed(url, job_id, running)
                wall = time.perf_counter() - started
            finally:
                cpu = stop_workers(running)
            checked = check(url, job_id, plan)
    finally:
        report = world.stop()
        drop_database(admin_url, url)
    return {
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "addresses": len(plan.addresses),
        "wall_seconds": round(wall, 3),
        "addresses_per_second": round(len(plan.addresses) / wall, 1),
        "workers_cpu_seconds": round(cpu, 1),
        "cpu_ms_per_address": round(cpu * 1000 / len(plan.addresses), 3),
        "lower_bound_seconds": round(bound.seconds, 3),
        "lower_bound": asdict(bound),
        "ratio_to_lower_bound": round(wall / bound.seconds, 3),
        **checked,
        "world": report,
    }


def _print(r: dict[str, Any]) -> None:
    totals, busiest = r["world"]["totals"], r["world"]["busiest_server"]
    print(
        f"""
== {r["workers"]} worker process(es), {r["concurrency_per_worker"]} chunks each at once ==
wall time             {r["wall_seconds"]:.2f} s  ({r["addresses_per_second"]:,.0f} addresses/s)
lower bound           {r["lower_bound_seconds"]:.2f} s  -> ratio {r["ratio_to_lower_bound"]:.2f}
workers' CPU          {r["workers_cpu_seconds"]:.1f} s  ({r["cpu_ms_per_address"]:.3f} ms/address)
stored rows           {r["rows"]:,} ({r["unique_rows"]:,} unique), lost {r["lost"]}, \
without a result {r["without_result"]}
mismatches            {r["mismatches"]} {r["mismatch_kinds"] or ""}
sessions / RCPTs      {totals["sessions"]:,} / {totals["rcpt_commands"]:,}; busiest server \
{busiest["name"]}: {busiest["sessions"]} sessions; {r["sessions_ratio_to_engine_run"]:.2f}x \
one engine run's sessions
DATA attempts         {totals["data_attempts"]}
limit violations      {totals["limit_violations"]} (most connections at once to one server \
{totals["max_concurrent_seen"]})""",
        flush=True,
    )
    for example in r["mismatch_examples"]:
        print(f"  mismatch: {example}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_bench", description=__doc__)
    parser.add_argument("--addresses", type=int, default=20_000, help="default 20,000")
    parser.add_argument("--domains", type=int, default=600, help="mail domains (default 600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3], help="default: 1 3")
    parser.add_argument("--concurrency", type=int, default=4, help="chunks per worker (4)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MAILSIFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a server where databases may be created (default: MAILSIFT_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--engine-sessions",
        type=int,
        default=0,
        help="SMTP sessions of one engine run over the same world (0: measure them first)",
    )
    args = parser.parse_args(argv)
    plan = make_plan(args.addresses, args.domains, args.seed)
    engine_sessions = args.engine_sessions
    if not engine_sessions:
        print("one engine run first, for its SMTP sessions...", flush=True)
        engine_sessions = bench_engine(plan, f"{args.addresses:,}")["world"]["totals"]["sessions"]
    record: dict[str, Any] = {
        **run_header(),
        "settings": {
            "max_connections_per_host": PER_HOST,
            "max_rcpt_per_session": PER_SESSION,
            "max_rcpt_errors_per_session": ERROR_BUDGET,
            "max_concurrency_per_worker": CONCURRENCY,
            "reply_delay_seconds": REPLY_DELAY,
            "dns_delay_seconds": DNS_DELAY,
            "addresses": args.addresses,
            "seed": args.seed,
        },
        "engine_run_sessions": engine_sessions,
        "runs": [],
    }
    for workers in args.workers:
        run = bench_cluster(plan, args.postgres, workers, args.concurrency)
        run["sessions_ratio_to_engine_run"] = round(
            run["world"]["totals"]["sessions"] / engine_sessions, 3
        )
        record["runs"].append(run)
        _print(run)
    record["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    record["targets"] = _targets(record["runs"])
    print("\n== targets ==")
    for row in record["targets"]:
        verdict = "met" if row["met"] else "MISSED"
        print(f"{verdict:7}{row['target']}: {row['measured']} ({row['bound']})")
    save_record("cluster", record)
    return 0


def _targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        label = f"{run['workers']} worker(s)"
        sessions, ratio = run["sessions_ratio_to_engine_run"], run["ratio_to_lower_bound"]
        offences = run["world"]["totals"]["limit_violations"] + run["mismatches"] + run["lost"]
        rows += [
            (f"{label}: SMTP sessions / one engine run's", f"<= {TARGET_SESSIONS_RATIO}",
             sessions, sessions <= TARGET_SESSIONS_RATIO),
            (f"{label}: wall time / lower bound", f"<= {TARGET_RATIO}", ratio,
             ratio <= TARGET_RATIO),
            (f"{label}: limit violations, wrong verdicts, lost rows", "0", offences,
             offences == 0),
        ]  # fmt: skip
    return [
        {"target": name, "bound": bound, "measured": value, "met": met}
        for name, bound, value, met in rows
    ]


if __name__ == "__main__":
    raise SystemExit(main())
