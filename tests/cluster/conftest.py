"""The cluster tests' fixtures: PostgreSQL databases, a mail world of their own, and real
``mailsift serve --no-workers`` and ``mailsift worker`` processes.

Unreachable PostgreSQL skips these tests, unless ``MAILSIFT_REQUIRE_POSTGRES=1`` (``.ci/run``)
makes that a failure (``tests/integration/conftest.py``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from mailsift.accounts.service import create_account
from mailsift.store import open_store
from tests.integration.conftest import (  # noqa: F401 (the databases' fixtures, shared)
    _create_database,
    _drop_database,
    _libpq,
    database_url,
    migrated_postgres_url,
    postgres_admin_url,
    postgres_template,
    store,
)
from tests.mailworld.smtp_server import Mailbox
from tests.mailworld.world import MailWorld, WorldBuilder, build_standard

CROWD_DOMAIN = "crowd.test"
CROWD_HOST = "mx.crowd.test"
CROWD_CAP = 2
CROWD_USERS = [f"c{n:04d}" for n in range(1400)]
SLOW_DOMAINS = [f"slow{n:02d}.test" for n in range(20)]
SLOW_USERS = [f"s{n:02d}" for n in range(40)]

# ``mailsift``'s own commands, registered the way the ``mailsift`` script registers them.
LAUNCHER = (
    "import typer\n"
    "from mailsift.cli import accounts, serve, worker\n"
    "app = typer.Typer()\n"
    "serve.register(app)\n"
    "accounts.register(app)\n"
    "worker.register(app)\n"
    "app()\n"
)
_START_SECONDS = 30.0


def build_cluster_world() -> MailWorld:
    """The standard world, plus a crowded server and slow ones.

    ``mx.crowd.test`` takes two connections per client address (a third gets 421 and counts
    as a violation) and holds many mailboxes, so that chunks on several workers want it at
    once. The ``slowNN.test`` servers answer slowly, so that a chunk of them runs for seconds.
    """
    b = WorldBuilder()
    build_standard(b)
    crowd = b.host(CROWD_HOST, max_connections_per_ip=CROWD_CAP, reply_delay=0.02)
    b.domain(CROWD_DOMAIN, mx=[(10, crowd)], mailboxes=CROWD_USERS)
    for user in CROWD_USERS:
        b.expect(f"{user}@{CROWD_DOMAIN}", "valid", "accepted_email")
    for domain in SLOW_DOMAINS:
        host = b.host(f"mx.{domain}", reply_delay=0.25)
        b.domain(domain, mx=[(10, host)], mailboxes=dict.fromkeys(SLOW_USERS, Mailbox.ACTIVE))
        for user in SLOW_USERS:
            b.expect(f"{user}@{domain}", "valid", "accepted_email")
    return b.build()


@pytest.fixture(scope="session")
def cluster_world() -> Iterator[MailWorld]:
    world = build_cluster_world().start()
    try:
        yield world
        totals = world.totals()
    finally:
        world.stop()
    assert totals["data_attempts"] == 0, "a mail server received DATA or BDAT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cluster_env(world: MailWorld, db_url: str) -> dict[str, str]:
    """What every process of a test cluster shares: the world, the database, short timers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    env.update(world.env())
    env.update(
        MAILSIFT_DATABASE_URL=db_url,
        MAILSIFT_SECRET_KEY=secrets.token_hex(32),
        # A sender of its own: the greylisting server has not seen it, whatever ran before.
        MAILSIFT_MAIL_FROM=f"verify-{secrets.token_hex(4)}@mailsift.test",
        MAILSIFT_GREYLIST_DEADLINE="3",
        MAILSIFT_QUEUE_POLL_INTERVAL="0.2",
        MAILSIFT_WORKER_HEARTBEAT="0.5",
        MAILSIFT_WORKER_STALLED_AFTER="2",
        MAILSIFT_WORKER_SHUTDOWN_GRACE="1",
        MAILSIFT_QUEUE_KEEP_HOURS="0",
        MAILSIFT_HOST_SLOT_TTL="3",
        MAILSIFT_WORKERS="2",
        MAILSIFT_MAX_JOBS_IN_FLIGHT="0",
    )
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, seconds: float = _START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.output():
            assert self.popen.poll() is None, f"{self.name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name} never said {text!r}:\n{self.output()}"
            time.sleep(0.05)


@dataclass
class Cluster:
    """The processes of one test cluster, all on one database, all stopped at the end."""

    env: dict[str, str]
    workdir: Path
    database_url: str
    processes: list[Process] = field(default_factory=list)
    api_url: str = ""

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        # A data directory of its own: no process of a cluster shares a disk with another.
        own = {**(env or self.env), "MAILSIFT_DATA_DIR": str(self.workdir / name)}
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, *args],
                env=own,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_api(self) -> Process:
        """``mailsift serve --no-workers``: the API only, workers elsewhere."""
        port = free_port()
        env = {**self.env, "MAILSIFT_HOST": "127.0.0.1", "MAILSIFT_PORT": str(port)}
        process = self._spawn("api", "serve", "--no-workers", env=env)
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + _START_SECONDS
        while True:
            assert process.popen.poll() is None, process.output()
            try:
                if httpx.get(f"{self.api_url}/openapi.json", timeout=1).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the API did not come up:\n{process.output()}"
            time.sleep(0.05)

    def spawn_worker(self, name: str, *args: str) -> Process:
        """``mailsift worker`` (say ``wait_for("ready")`` on it before counting on it)."""
        return self._spawn(name, "worker", *args)

    def account(self, name: str, api_credits: int) -> str:
        async def create() -> str:
            async with open_store(self.database_url) as opened:
                _, token = await create_account(opened, name, api_credits=api_credits)
                return token

        return asyncio.run(create())

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())

    def pid_holder(self, process: Process) -> str:
        return f"{socket.gethostname()}:{process.popen.pid}"

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(5)


@pytest.fixture
def cluster_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (libpq URL)."""
    admin: str = request.getfixturevalue("postgres_admin_url")
    name = _create_database(admin, template=request.getfixturevalue("postgres_template"))
    try:
        yield _libpq(admin, name)
    finally:
        _drop_database(admin, name)


@pytest.fixture
def cluster(cluster_world: MailWorld, cluster_database: str, tmp_path: Path) -> Iterator[Cluster]:
    harness = Cluster(
        cluster_env(cluster_world, cluster_database),
        tmp_path,
        cluster_database,
    )
    try:
        yield harness
    finally:
        harness.stop()
