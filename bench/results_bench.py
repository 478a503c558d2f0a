"""Job store throughput: ``python -m bench.results_bench [--rows N] [--forms SHARE] [--intake-only]
[--keep DIR]``.

Two timings over SQLite, each in a child process so its peak memory is its own:

- ``write_results`` on a completed job of N addresses (default 1,000,000) built directly in the
  store: the three result files, streamed from the database (target: 15 s at most);
- ``create_job`` on the intake benchmark's list of N rows (``--forms``: that share of its email
  cells dressed as ``Name <addr>`` and the like), from the file to a job fully queued in chunks
  (target: 20 s and 400 MB peak RSS at most).

Wall time, CPU time (of the phase's process, and for intake also of the list reader process it
starts) and the child's peak resident memory are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.intake_bench import write_list
from mailsift.jobs.results import write_results
from mailsift.jobs.service import create_job, get_job
from mailsift.store import Store, open_store, upgrade
from mailsift.store.bulk import BulkInsert
from mailsift.store.models import Job, JobItem, JobSource, JobStage, utcnow

RESULTS_TARGET_S = 15.0
INTAKE_TARGET_S = 20.0
INTAKE_RSS_TARGET_MB = 400.0
HEADER = ["id", "first_name", "last_name", "email", "company", "city"]
VERDICTS = [  # (result, reason, weight)
    ("valid", "accepted_email", 55),
    ("invalid", "rejected_email", 15),
    ("invalid", "invalid_domain", 4),
    ("invalid", "invalid_email", 2),
    ("risky", "low_deliverability", 12),
    ("risky", "low_quality", 2),
    ("unknown", "no_connect", 6),
    ("unknown", "unavailable_smtp", 4),
]
BATCH = 20_000


# --- building a completed job -----------------------------------------------------------------


async def build_completed_job(url: str, rows: int, seed: int = 11) -> int:
    """A completed job of ``rows`` addresses with realistic cells and verdicts."""
    rng = random.Random(seed)
    verdicts = [(result, reason) for result, reason, _ in VERDICTS]
    weights = [weight for _, _, weight in VERDICTS]
    insert = BulkInsert(JobItem.__table__, ITEM_COLUMNS)  # type: ignore[arg-type]
    async with open_store(url) as store:
        job_id = await _completed_job_row(store, rows)
        for start in range(0, rows, BATCH):
            batch = [
                _item(job_id, seq, rng, *rng.choices(verdicts, weights)[0])
                for seq in range(start, min(rows, start + BATCH))
            ]
            async with store.write() as session:
                await insert.run(session, insert.prepare(store.engine.dialect, batch))
    return job_id


async def _completed_job_row(store: Store, rows: int) -> int:
    now = utcnow()
    job = Job(
        public_id="bench-results",
        source=JobSource.CLI,
        filename="bench.csv",
        fingerprint="0" * 64,
        stage=JobStage.COMPLETED,
        layout={
            "format": "csv",
            "encoding": "utf-8",
            "delimiter": ",",
            "header": HEADER,
            "email_column": 3,
            "columns": len(HEADER),
        },
        total=rows,
        done=rows,
        started_at=now,
        finished_at=now,
    )
    async with store.write() as session:
        session.add(job)
        await session.flush()
        return job.id


ITEM_COLUMNS = (
    "job_id", "seq", "row_no", "cells", "email", "normalized", "domain", "chunk", "result",
    "reason", "free", "disposable", "role", "accept_all", "did_you_mean", "mx_host",
    "smtp_code", "smtp_message", "finished_at",
)  # fmt: skip


def _item(job_id: int, seq: int, rng: random.Random, result: str, reason: str) -> tuple[Any, ...]:
    email = f"person.{seq}@domain{seq % 5000}.example"
    code = {"valid": 250, "invalid": 550, "risky": 250}.get(result)
    # One row in a hundred has a cell a spreadsheet would read as a formula.
    city = "=Köln" if seq % 100 == 0 else "Köln"
    cells = [str(seq), "Zoë", "Müller", email, f"Müller & Co {seq % 997}", city]
    return (
        job_id, seq, seq + 1, cells, email, email, email.partition("@")[2], seq // 500,
        result, reason, rng.random() < 0.3, False, rng.random() < 0.02,
        reason == "low_deliverability", "", f"mx{seq % 50}.example", code,
        f"{code} 2.1.5 Recipient OK" if code else "", utcnow(),
    )  # fmt: skip


# --- the measured phases (child processes) ------------------------------------------------------


async def results_phase(url: str, out_dir: Path) -> dict[str, Any]:
    async with open_store(url) as store:
        job = await get_job(store, 1)
        assert job is not None
        paths = await write_results(store, job, out_dir)
    return {"bytes": sum(path.stat().st_size for path in paths.values())}


async def intake_phase(url: str, listing: Path) -> dict[str, Any]:
    async with open_store(url) as store:
        job = await create_job(store, listing, listing.name, source=JobSource.CLI)
    return {"stage": job.stage, "total": job.total, "duplicates": job.duplicates}


def run_phase(phase: str, url: str, path: Path) -> None:
    """Run one phase and print its figures as JSON (called in the child)."""
    began, cpu_began = time.perf_counter(), time.process_time()
    if phase == "results":
        extra = asyncio.run(results_phase(url, path))
    else:
        extra = asyncio.run(intake_phase(url, path))
    reader = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {
        "wall": time.perf_counter() - began,
        "cpu": time.process_time() - cpu_began,
        "children_cpu": reader.ru_utime + reader.ru_stime,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
    print(json.dumps(figures))


def in_child(phase: str, url: str, path: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.results_bench", "--phase", phase, url, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- the report -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def measure(rows: int, scratch: Path, *, forms: float, results: bool) -> None:
    if results:
        measure_results(rows, scratch)
    listing = scratch / "intake-bench.csv"
    write_list(listing, rows, forms=forms)
    intake_url = f"sqlite:///{scratch / 'intake.db'}"
    upgrade(intake_url)
    taken = in_child("intake", intake_url, listing)
    within = taken["wall"] <= INTAKE_TARGET_S and taken["peak_rss_mb"] <= INTAKE_RSS_TARGET_MB
    print(
        f"create_job      {taken['wall']:.2f} s wall, {taken['cpu']:.2f} s CPU "
        f"+ {taken['children_cpu']:.2f} s CPU list reader, "
        f"{forms:.0%} dressed addresses, peak RSS {taken['peak_rss_mb']:.0f} MB, "
        f"{taken['total']:,} unique rows {taken['stage']} "
        f"(target {INTAKE_TARGET_S:.0f} s, {INTAKE_RSS_TARGET_MB:.0f} MB: {verdict(within)})"
    )


def measure_results(rows: int, scratch: Path) -> None:
    results_url = f"sqlite:///{scratch / 'results.db'}"
    upgrade(results_url)
    began = time.perf_counter()
    asyncio.run(build_completed_job(results_url, rows))
    print(f"built job       {rows:,} completed addresses in {time.perf_counter() - began:.1f} s")
    written = in_child("results", results_url, scratch / "out")
    print(
        f"write_results   {written['wall']:.2f} s wall, {written['cpu']:.2f} s CPU, "
        f"peak RSS {written['peak_rss_mb']:.0f} MB, {written['bytes'] / 1e6:.0f} MB written "
        f"(target {RESULTS_TARGET_S:.0f} s: {verdict(written['wall'] <= RESULTS_TARGET_S)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the databases and files here")
    parser.add_argument("--forms", type=float, default=0.0, help="share of dressed addresses")
    parser.add_argument("--intake-only", action="store_true", help="skip the result files")
    parser.add_argument("--phase", choices=["results", "intake"], help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        url, path = args.args
        run_phase(args.phase, url, Path(path))
        return
    with tempfile.TemporaryDirectory(prefix="mailsift-results-") as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        measure(args.rows, where, forms=args.forms, results=not args.intake_only)


if __name__ == "__main__":
    main()
