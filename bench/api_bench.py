"""The API benchmark: ``python -m bench.api_bench``.

Three processes: a zero-latency mail world, one ``mailsift serve --no-workers`` server
(SQLite, as shipped), and this one. Two figures:

1. ``/job_progress/`` under load: a load generator in a process of its own keeps
   ``--connections`` keep-alive connections busy for ``--seconds`` and reports requests per
   second and latency percentiles. Aim: 2,000 req/s or more, p99 under 50 ms.
2. The real-time call's own cost: the median time of ``/email_verification/`` (one request at
   a time over a kept-alive connection) minus the median of ``Verifier.verify_one`` called
   directly, for an address whose verdict needs no SMTP (bad syntax) and for one that needs a
   whole SMTP conversation with the world. Aim: under 5 ms.

The figures are printed and written as JSON under ``bench/out/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mailsift.settings import Settings

OUT = Path(__file__).with_name("out")
HOST = "127.0.0.1"
INVALID_ADDRESS = "not-an-address"
VALID_ADDRESS = "alice@fast.test"
SERVER_CODE = (
    "from mailsift.api.config import ApiSettings\n"
    "from mailsift.api.server import serve\n"
    "from mailsift.settings import Settings\n"
    "serve(Settings(), ApiSettings(), workers=False)\n"
)


# --- a minimal HTTP/1.1 client: the load generator must cost far less than the server ---------


def post_request(path: str, params: dict[str, str]) -> bytes:
    body = urlencode(params).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length")
    )
    return status, await reader.readexactly(length)


# --- 1. /job_progress/ under load ----------------------------------------------------------------


@dataclass
class LoadResult:
    connections: int
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


async def _hammer(port: int, request: bytes, connections: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def one_connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                status, _ = await exchange(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return LoadResult(
        connections=connections,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(pct(0.50), 2),
        p90_ms=round(pct(0.90), 2),
        p99_ms=round(pct(0.99), 2),
        max_ms=round(latencies[-1] * 1000, 2),
    )


def _load_process(
    conn: multiprocessing.connection.Connection,
    port: int,
    request: bytes,
    connections: int,
    seconds: float,
) -> None:
    conn.send(asdict(asyncio.run(_hammer(port, request, connections, seconds))))
    conn.close()


def measure_progress_load(port: int, request: bytes, connections: int, seconds: float) -> Any:
    """Run the load generator in a process of its own and return what it measured."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_load_process, args=(child, port, request, connections, seconds))
    process.start()
    result = parent.recv()
    process.join(30)
    return result


# --- 2. the real-time call's overhead ------------------------------------------------------------


async def _http_times(port: int, request: bytes, n: int) -> list[float]:
    reader, writer = await asyncio.open_connection(HOST, port)
    times = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            status, body = await exchange(reader, writer, request)
            times.append(time.perf_counter() - started)
            assert status == 200, body
    finally:
        writer.close()
        await writer.wait_closed()
    return times


async def _direct_times(settings: Settings, address: str, n: int) -> list[float]:
    from mailsift.verify.engine import Verifier

    verifier = Verifier(settings.engine_options())
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await verifier.verify_one(address, within=30)
        times.append(time.perf_counter() - started)
    return times


@dataclass
class Overhead:
    address: str
    direct_median_ms: float
    http_median_ms: float
    overhead_ms: float


def measure_overhead(port: int, token: str, settings: Settings, n: int) -> list[Overhead]:
    found = []
    for address in (INVALID_ADDRESS, VALID_ADDRESS):
        request = post_request("/email_verification/", {"user_API_token": token, "email": address})
        asyncio.run(_http_times(port, request, 20))  # warm: caches, connections
        http = statistics.median(asyncio.run(_http_times(port, request, n)))
        direct = statistics.median(asyncio.run(_direct_times(settings, address, n)))
        found.append(
            Overhead(
                address,
                round(direct * 1000, 3),
                round(http * 1000, 3),
                round((http - direct) * 1000, 3),
            )
        )
    return found


# --- the processes -------------------------------------------------------------------------------


def _world_process(conn: multiprocessing.connection.Connection) -> None:
    from tests.mailworld.world import WorldBuilder

    builder = WorldBuilder()
    host = builder.host("mx.fast.test")
    builder.domain("fast.test", mx=[(10, host)], mailboxes=["alice", "bob"])
    world = builder.build().start()
    try:
        conn.send(world.env())
        conn.recv()  # until told to stop
    finally:
        world.stop()


async def _prepare(data_dir: Path) -> tuple[str, str]:
    """An account with plenty of credit and one job (queued: no workers run)."""
    from mailsift.accounts.credits import job_reservation
    from mailsift.accounts.service import create_account
    from mailsift.jobs.service import create_job
    from mailsift.store import database_url, open_store, upgrade
    from mailsift.store.models import JobSource

    url = database_url("", data_dir)
    upgrade(url)
    listing = data_dir / "list.csv"
    listing.write_text("email\n" + "".join(f"user{n}@fast.test\n" for n in range(100)))
    async with open_store(url) as store:
        account, token = await create_account(store, "bench", api_credits=10_000_000)
        job = await create_job(
            store,
            listing,
            "list.csv",
            source=JobSource.API,
            account=account,
            reserve=job_reservation(account.id),
        )
    return token, job.public_id


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(env: dict[str, str]) -> subprocess.Popen[bytes]:
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{env['MAILSIFT_PORT']}/openapi.json"
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError("the server exited at start")
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    world_conn, child = ctx.Pipe()
    world = ctx.Process(target=_world_process, args=(child,), daemon=True)
    world.start()
    world_env: dict[str, str] = world_conn.recv()
    server = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            token, job_id = asyncio.run(_prepare(data_dir))
            port = _free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
            env.update(world_env)
            env.update(
                MAILSIFT_DATA_DIR=str(data_dir),
                MAILSIFT_PORT=str(port),
                MAILSIFT_REALTIME_RATE_PER_MINUTE="0",
            )
            server = _start_server(env)
            progress = post_request("/job_progress/", {"user_API_token": token, "job_id": job_id})
            asyncio.run(_http_times(port, progress, 50))  # warm up
            load = measure_progress_load(port, progress, args.connections, args.seconds)
            settings = Settings(
                **{k.removeprefix("MAILSIFT_").lower(): v for k, v in world_env.items()}
            )
            overheads = measure_overhead(port, token, settings, args.samples)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        world_conn.send("stop")
        world.join(30)
    report(load, overheads)


def report(load: dict[str, Any], overheads: list[Overhead]) -> None:
    print("/job_progress/ under load (one server process, SQLite):")
    for key, value in load.items():
        print(f"  {key:>20}: {value}")
    print("/email_verification/ overhead beyond the engine (medians):")
    for o in overheads:
        print(
            f"  {o.address:>20}: direct {o.direct_median_ms:.3f} ms, "
            f"HTTP {o.http_median_ms:.3f} ms, overhead {o.overhead_ms:.3f} ms"
        )
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"api-{stamp}.json"
    record = {
        "when": stamp,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "job_progress_load": load,
        "realtime_overhead": [asdict(o) for o in overheads],
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
