"""A real ``mailsift serve`` process on loopback (SQLite unless told otherwise), and its memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.world import WorldPorts
from mailsift.accounts.service import create_account
from mailsift.store import database_url, open_store, upgrade

HOST = "127.0.0.1"
MAILSIFT = "from mailsift.cli import main\nmain()\n"
_START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def world_env(ports: WorldPorts) -> dict[str, str]:
    """The engine's settings for a bench world, as ``MAILSIFT_*`` variables."""
    return {
        "MAILSIFT_HELO_NAME": "probe.mailsift.test",
        "MAILSIFT_MAIL_FROM": "verify@mailsift.test",
        "MAILSIFT_DNS_NAMESERVERS": f"127.0.0.1:{ports.dns}",
        "MAILSIFT_SMTP_PORT": str(ports.smtp),
        "MAILSIFT_ALLOW_PRIVATE_TARGETS": "1",
        "MAILSIFT_PROXIES": "",
        "MAILSIFT_GREYLIST_RETRY_AFTER": "1",
        "MAILSIFT_GREYLIST_DEADLINE": "10",
        "MAILSIFT_HOST_PAUSE": "1",
    }


def clean_env(**updates: str) -> dict[str, str]:
    """This process's environment without its own ``MAILSIFT_*`` settings, plus ``updates``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    env.update(updates)
    return env


def create_token(db_url: str, name: str, api_credits: int, monthly_credits: int = 0) -> str:
    """Migrate the database and make an account; its token."""
    upgrade(db_url)

    async def create() -> str:
        async with open_store(db_url) as store:
            _, token = await create_account(
                store, name, api_credits=api_credits, monthly_credits=monthly_credits
            )
            return token

    return asyncio.run(create())


def sql(db_url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of one query on a SQLite or PostgreSQL database (its own connection)."""
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        assert path
        conn = sqlite3.connect(path, timeout=30)
        try:
            return list(conn.execute(query.replace("%s", "?"), params).fetchall())
        finally:
            conn.close()
    with psycopg.connect(libpq(db_url), autocommit=True, connect_timeout=10) as pg:
        return list(pg.execute(query, params).fetchall())  # type: ignore[arg-type]


def libpq(db_url: str) -> str:
    return make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)


def vm_kb(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB (``VmRSS``, ``VmHWM``); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


@dataclass
class Server:
    """One ``mailsift serve`` process; its output goes to ``log``."""

    env: dict[str, str]
    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def db_url(self) -> str:
        return database_url(self.env.get("MAILSIFT_DATABASE_URL", ""), self.data_dir)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, workers: bool = True) -> Server:
        """Start it and wait until it answers."""
        self.spawn(workers=workers)
        return self.wait_ready()

    def spawn(self, *, workers: bool = True) -> None:
        args = ["serve"] if workers else ["serve", "--no-workers"]
        env = {
            **self.env,
            "MAILSIFT_DATA_DIR": str(self.data_dir),
            "MAILSIFT_HOST": HOST,
            "MAILSIFT_PORT": str(self.port),
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MAILSIFT, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> Server:
        assert self.process is not None
        deadline = time.monotonic() + _START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (the kernel's high-water mark)."""
        return vm_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return vm_kb(self.pid, "VmRSS") / 1024

    def engines(self) -> list[int]:
        """The server's engine processes (there is one; none while it is started again)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        found = []
        for pid in text.split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
        return found

    def engine_rss_mb(self) -> float:
        """The resident memory of the server's engine process (0 when there is none)."""
        total = 0
        for pid in self.engines():
            with contextlib.suppress(OSError, ValueError):
                total += vm_kb(pid, "VmRSS")
        return total / 1024

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
