"""The dashboard benchmark: ``python -m bench.dashboard_bench``.

One account with 1,000 finished jobs (``--jobs``; 40 addresses each, a ledger row for each
reservation and settlement), served by a real ``mailsift serve --no-workers`` (SQLite, as
shipped) in a process of its own. A signed-in client asks for every page ``--requests`` times,
one request at a time over a kept-alive connection, and reports the latency percentiles of
each, with the server's CPU seconds over the whole run. Aim: every page under 100 ms at p95.

The figures are printed and written as JSON under ``bench/out/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import insert

from mailsift.accounts.logins import set_login
from mailsift.accounts.service import create_account
from mailsift.store import database_url, open_store, upgrade
from mailsift.store.models import Job, JobItem, LedgerEntry

OUT = Path(__file__).with_name("out")
HOST = "127.0.0.1"
EMAIL = "owner@example.com"
PASSWORD = "a bench password"
ITEMS_PER_JOB = 40
RESULTS = [
    ("valid", "accepted_email"),
    ("invalid", "rejected_email"),
    ("risky", "low_deliverability"),
    ("unknown", "no_connect"),
]
SERVER_CODE = (
    "from mailsift.api.config import ApiSettings\n"
    "from mailsift.api.server import serve\n"
    "from mailsift.settings import Settings\n"
    "serve(Settings(), ApiSettings(), workers=False)\n"
)


async def fill(url: str, jobs: int) -> list[str]:
    """The account, its sign-in, and ``jobs`` finished jobs; their public ids, oldest first."""
    async with open_store(url) as store:
        account, _ = await create_account(store, "bench", api_credits=0, monthly_credits=10**9)
        await set_login(store, account.id, EMAIL, PASSWORD)
        now = datetime.now(UTC)
        ids = [secrets.token_urlsafe(16) for _ in range(jobs)]
        job_rows = [
            {
                "id": n + 1,
                "public_id": ids[n],
                "account_id": account.id,
                "source": "dashboard",
                "filename": f"list-{n:04d}.csv",
                "fingerprint": f"{n:064d}",
                "stage": "Completed",
                "layout": {
                    "format": "csv",
                    "encoding": "utf-8",
                    "delimiter": ",",
                    "header": ["email"],
                    "email_column": 0,
                    "columns": 1,
                },
                "total": ITEMS_PER_JOB,
                "done": ITEMS_PER_JOB,
                "credits_reserved": ITEMS_PER_JOB,
                "created_at": now - timedelta(minutes=jobs - n),
                "started_at": now - timedelta(minutes=jobs - n),
                "finished_at": now - timedelta(minutes=jobs - n - 1),
            }
            for n in range(jobs)
        ]
        items = [
            {
                "job_id": n + 1,
                "seq": seq,
                "row_no": seq + 1,
                "cells": [f"user{seq}@domain{n}.test"],
                "email": f"user{seq}@domain{n}.test",
                "normalized": f"user{seq}@domain{n}.test",
                "domain": f"domain{n}.test",
                "chunk": 0,
                "result": RESULTS[seq % 4][0],
                "reason": RESULTS[seq % 4][1],
                "mx_host": "mx.test",
                "smtp_code": 250,
                "finished_at": now,
            }
            for n in range(jobs)
            for seq in range(ITEMS_PER_JOB)
        ]
        ledger = [
            row
            for n in range(jobs)
            for row in (
                {
                    "account_id": account.id,
                    "job_id": n + 1,
                    "kind": "reserve",
                    "monthly_delta": -ITEMS_PER_JOB,
                    "note": "bench",
                    "created_at": now,
                },
                {
                    "account_id": account.id,
                    "job_id": n + 1,
                    "kind": "settle",
                    "monthly_delta": 0,
                    "note": "0 unused credit(s) returned",
                    "created_at": now,
                },
            )
        ]
        async with store.write() as session:
            await session.execute(insert(Job), job_rows)
            for start in range(0, len(items), 5_000):
                await session.execute(insert(JobItem), items[start : start + 5_000])
            await session.execute(insert(LedgerEntry), ledger)
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int, profile: str = "") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    env.update(MAILSIFT_DATA_DIR=str(data_dir), MAILSIFT_PORT=str(port), MAILSIFT_HOST=HOST)
    script = data_dir.parent / "serve.py"  # cProfile runs a script, not -c
    script.write_text(SERVER_CODE)
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    process = subprocess.Popen(
        [sys.executable, *profiler, str(script)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://{HOST}:{port}/signin", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def sign_in(client: httpx.Client) -> None:
    form = client.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    answer = client.post(
        "/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


def percentile(sorted_ms: list[float], p: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))], 2)


def server_cpu(process: psutil.Process) -> float:
    """The server's CPU seconds so far (user and system, every thread)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(
    client: httpx.Client, path: str, requests: int, server: psutil.Process
) -> dict[str, Any]:
    for _ in range(5):  # warm: templates compiled, caches filled
        assert client.get(path).status_code == 200, path
    cpu_before = server_cpu(server)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    cpu_ms = (server_cpu(server) - cpu_before) / requests * 1000
    times.sort()
    return {
        "path": path,
        "bytes": len(answer.content),
        "server_cpu_ms": round(cpu_ms, 2),
        "p50_ms": percentile(times, 0.50),
        "p95_ms": percentile(times, 0.95),
        "max_ms": round(times[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", default="", help="write the server's cProfile stats here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        url = database_url("", data_dir)
        upgrade(url)
        ids = asyncio.run(fill(url, options.jobs))
        port = free_port()
        server = start_server(data_dir, port, options.profile)
        try:
            watched = psutil.Process(server.pid)
            with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30) as client:
                sign_in(client)
                last_page = -(-options.jobs // 25)
                pages = [
                    "/upload",
                    "/jobs",
                    f"/jobs?page={last_page}",
                    f"/jobs?q=list-{options.jobs // 2:04d}",
                    f"/jobs/{ids[-1]}",
                    f"/jobs/progress?ids={','.join(ids[-25:])}",
                    "/check",
                    "/credits",
                    f"/credits?page={-(-2 * options.jobs // 50)}",
                    "/api-token",
                ]
                cpu_before = server_cpu(watched)
                started = time.perf_counter()
                figures = [measure(client, path, options.requests, watched) for path in pages]
                wall = time.perf_counter() - started
                cpu = server_cpu(watched) - cpu_before
        finally:
            server.terminate()
            server.wait(30)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "jobs": options.jobs,
        "requests_per_page": options.requests,
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(cpu, 2),
        "pages": figures,
    }
    print(f"{options.jobs:,} jobs in the account; {options.requests} requests per page")
    print(f"{'page':50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU ms':>8}")
    for row in figures:
        path = row["path"][:50]
        print(
            f"{path:50} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['max_ms']:8.2f} "
            f"{row['server_cpu_ms']:8.2f}"
        )
    print(f"wall {wall:.1f} s, server CPU {cpu:.1f} s (CPU ms: the server's, per request)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")
    slowest = max(row["p95_ms"] for row in figures)
    print(f"slowest p95: {slowest:.1f} ms ({'under' if slowest < 100 else 'OVER'} 100 ms)")
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"dashboard-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
