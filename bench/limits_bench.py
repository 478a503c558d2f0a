"""What the shared limits and the callback outbox cost per call, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.limits_bench [--calls 2000] [--postgres postgresql://…]

- ``take``: one real-time limit check (an upsert on ``rate_buckets``), ``calls`` times in a
  row, one key; then ``calls`` checks spread over 8 concurrent tasks and 100 keys.
- outbox: ``calls`` callbacks written (one ``INSERT … SELECT`` each, as a job's completion
  does), then claimed in batches of 10 and settled as delivered.

Prints wall time and this process's CPU seconds per phase, and the per-call figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import psycopg

from mailsift.store import Store, open_store, upgrade
from mailsift.store.limits import Bucket, take
from mailsift.store.models import CallbackState, Job, JobSource, JobStage
from mailsift.store.outbox import add_callback, claim_due, settle

BUCKET = Bucket(capacity=1e9, per_second=1e9)  # never refuses: the cost, not the limit


async def timed(label: str, calls: int, action: Callable[[], Awaitable[None]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    await action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"  {label:<34} {calls:>6} in {wall:6.2f} s wall, {cpu:6.2f} s CPU"
        f"  ({wall / calls * 1e3:.2f} ms, {cpu / calls * 1e3:.2f} ms CPU per call)"
    )


async def bench(store: Store, calls: int) -> None:
    async def one_key() -> None:
        for _ in range(calls):
            await take(store, "bench:one", BUCKET)

    async def many_keys() -> None:
        async def worker(n: int) -> None:
            for i in range(calls // 8):
                await take(store, f"bench:{(n * 31 + i) % 100}", BUCKET)

        await asyncio.gather(*(worker(n) for n in range(8)))

    job_ids: list[int] = []
    async with store.write() as session:
        for _ in range(calls):
            job = Job(
                public_id=secrets.token_urlsafe(16), source=JobSource.API, filename="b.csv",
                fingerprint="0" * 64, stage=JobStage.COMPLETED, callback_url="https://h.test/x",
            )  # fmt: skip
            session.add(job)
            await session.flush()
            job_ids.append(job.id)

    async def write_outbox() -> None:
        for job_id in job_ids:
            async with store.write() as session:
                await add_callback(session, job_id)

    async def claim_and_settle() -> None:
        while due := await claim_due(store, lease=timedelta(seconds=60)):
            for callback in due:
                await settle(store, callback.id, CallbackState.DELIVERED, status=200)

    await timed("rate limit take, one key", calls, one_key)
    await timed("rate limit take, 8 tasks, 100 keys", calls // 8 * 8, many_keys)
    await timed("outbox write (with completion)", calls, write_outbox)
    await timed("outbox claim + settle", calls, claim_and_settle)


async def run(url: str, calls: int) -> None:
    upgrade(url)
    async with open_store(url) as store:
        await bench(store, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MAILSIFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite (WAL, one file):")
        asyncio.run(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.calls))
    name = f"mailsift_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        print("PostgreSQL (local server):")
        asyncio.run(run(args.postgres.rsplit("/", 1)[0] + f"/{name}", args.calls))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
