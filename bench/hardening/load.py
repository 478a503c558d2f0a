"""``/job_progress/`` polled by many clients while lists are uploaded and verified.

One ``mailsift serve`` (SQLite, embedded workers) over a bench world. A load process keeps
``clients`` keep-alive connections polling ``/job_progress/`` for ``seconds``, each asking once
every ``interval`` seconds as a client waiting for its job does (0: back to back, the most the
server can answer; latency is then mostly the queue the clients make themselves); meanwhile
``uploads`` lists are uploaded at once and verified by the server's workers. Figures: requests,
errors (any answer but 200, any dropped connection), latency percentiles, and the server's RSS
sampled every half second (flat: it ends where it settled, not climbing).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.api_bench import HOST, exchange, measure_progress_load, post_request
from bench.hardening.crash_loop import upload
from bench.hardening.live import Server, clean_env, create_token, sql, world_env
from bench.world import WorldProcess, make_plan


async def _poll(port: int, request: bytes, clients: int, seconds: float, interval: float) -> Any:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        await asyncio.sleep(random.Random(n).uniform(0, interval))  # spread over the interval
        try:
            while (started := time.perf_counter()) < stop_at:
                try:
                    status, _ = await exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    return
                latencies.append(time.perf_counter() - started)
                errors += status != 200
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "clients": clients,
        "interval_seconds": interval,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "errors": errors,
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
    }


def _poll_process(
    conn: multiprocessing.connection.Connection,
    port: int,
    request: bytes,
    clients: int,
    seconds: float,
    interval: float,
) -> None:
    conn.send(asyncio.run(_poll(port, request, clients, seconds, interval)))
    conn.close()


def measure_polling(
    port: int, request: bytes, clients: int, seconds: float, interval: float
) -> Any:
    """The pollers in a process of their own; what they measured."""
    if interval <= 0:
        return measure_progress_load(port, request, clients, seconds)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    args = (child, port, request, clients, seconds, interval)
    process = ctx.Process(target=_poll_process, args=args)
    process.start()
    result = parent.recv()
    process.join(30)
    return result


def progress_under_load(
    clients: int = 200,
    seconds: float = 60.0,
    uploads: int = 5,
    per_upload: int = 4000,
    interval: float = 1.0,
) -> dict[str, Any]:
    plan = make_plan(uploads * per_upload, max(40, uploads * per_upload // 40), 5)
    lists = [plan.addresses[n * per_upload : (n + 1) * per_upload] for n in range(uploads)]
    world = WorldProcess(plan, per_host=2, per_session=25)
    ports = world.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailsift-load-") as tmp:
            folder = Path(tmp)
            data = folder / "data"
            data.mkdir()
            env = clean_env(**world_env(ports), MAILSIFT_MAX_JOBS_IN_FLIGHT="0")
            server = Server(env, data, folder / "server.log")
            token = create_token(server.db_url, "load", 10**9)
            server.start()
            try:
                first = upload(server.url, token, ["warm@example.com"])
                return _measure(server, token, first, lists, clients, seconds, interval)
            finally:
                server.stop()
    finally:
        world.stop()


def _measure(
    server: Server,
    token: str,
    job_id: str,
    lists: list[list[str]],
    clients: int,
    seconds: float,
    interval: float,
) -> dict[str, Any]:
    request = post_request("/job_progress/", {"user_API_token": token, "job_id": job_id})
    samples: list[tuple[float, float]] = []
    engine_samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not stop.is_set():
            samples.append((round(time.monotonic() - started, 1), round(server.rss_mb(), 1)))
            engine_samples.append(round(server.engine_rss_mb(), 1))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(len(lists) + 1) as pool:
        load = pool.submit(measure_polling, server.port, request, clients, seconds, interval)
        time.sleep(1.0)  # the clients are connected and polling
        uploaded_at = time.monotonic()
        jobs = list(pool.map(lambda emails: upload(server.url, token, emails), lists))
        upload_seconds = time.monotonic() - uploaded_at
        figures = load.result()
    stop.set()
    sampler.join(5)
    done = int(sql(server.db_url, "SELECT count(*) FROM job_items WHERE result IS NOT NULL")[0][0])
    rss = [mb for _, mb in samples]
    return {
        "clients": clients,
        "seconds": seconds,
        "uploads": len(lists),
        "addresses_per_upload": len(lists[0]),
        "upload_seconds": round(upload_seconds, 1),
        "jobs": jobs,
        "addresses_verified_meanwhile": done,
        "job_progress": figures,
        "server_rss_mb": _flat(rss),
        "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
        "engine_process_rss_mb": _flat(engine_samples),
        "rss_samples": samples[:: max(1, len(samples) // 40)],
    }


def _flat(rss: list[float]) -> dict[str, float]:
    """Start, peak and end of RSS samples, and how much it grew after settling (after the
    uploads' first quarter)."""
    settled = rss[len(rss) // 4 :] or rss
    return {
        "start": rss[0] if rss else 0.0,
        "max": max(rss, default=0.0),
        "end": rss[-1] if rss else 0.0,
        "settled_min": min(settled, default=0.0),
        "growth_after_settling": round(rss[-1] - min(settled), 1) if rss else 0.0,
    }
