"""``mailsift serve`` as operators run it: a subprocess, its first start, SIGTERM and a restart."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.mailworld.world import MailWorld

# The lead's ``mailsift`` app registers these commands; this launcher does the same.
LAUNCHER = (
    "import typer\n"
    "from mailsift.cli import accounts, serve\n"
    "app = typer.Typer()\n"
    "serve.register(app)\n"
    "accounts.register(app)\n"
    "app()\n"
)
SLOW_ADDRESSES = ["alice@greylist.test", "nobody@greylist.test"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Serve:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["MAILSIFT_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"mailsift serve did not come up:\n{self.output()}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def post(self, call: str, **params: str) -> dict[str, object]:
        answer = httpx.post(f"{self.url}{call}", data=params, timeout=30)
        body: dict[str, object] = answer.json()
        return body


@pytest.fixture
def serve_env(api_world: MailWorld, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
    env.update(api_world.env())
    env.update(
        MAILSIFT_DATA_DIR=str(tmp_path / "data"),
        MAILSIFT_HOST="127.0.0.1",
        MAILSIFT_PORT=str(free_port()),
        MAILSIFT_WORKERS="1",
        MAILSIFT_GREYLIST_RETRY_AFTER="1",
        # A sender of its own: the greylisting server has not seen it, whatever ran before.
        MAILSIFT_MAIL_FROM=f"verify-{secrets.token_hex(4)}@mailsift.test",
    )
    return env


@pytest.fixture
def serve(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Serve]:
    server = Serve(serve_env, tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.kill()


def first_token(output: str) -> str:
    tokens = [line for line in output.splitlines() if line.startswith("ms_")]
    assert len(tokens) == 1, output
    return tokens[0]


def test_first_start_creates_an_account_and_prints_its_token(serve: Serve) -> None:
    serve.start()
    output = serve.output()
    token = first_token(output)
    assert f"curl -X POST {serve.url}/email_verification/ -d user_API_token={token}" in output
    answer = serve.post("/email_verification/", user_API_token=token, email="alice@ok.test")
    assert answer["status"] == "Valid"
    code = serve.stop()
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in serve.output()


def test_sigterm_stops_workers_and_a_restart_resumes_the_job(serve: Serve) -> None:
    serve.start()
    token = first_token(serve.output())
    listing = "email\n" + "\n".join(SLOW_ADDRESSES) + "\n"
    answer = httpx.post(
        f"{serve.url}/batch_process/",
        data={"user_API_token": token},
        files={"file": ("slow.csv", listing.encode())},
        timeout=30,
    )
    [job_id] = answer.json()["job_id"]
    progress: dict[str, object] = {}
    for _ in range(200):  # greylisted: the chunk is still running when SIGTERM comes
        progress = serve.post("/job_progress/", user_API_token=token, job_id=job_id)
        if progress["stage"] == "Processing":
            break
        time.sleep(0.02)
    assert progress["stage"] == "Processing"
    assert serve.stop() in (0, -signal.SIGTERM)
    database = Path(serve.env["MAILSIFT_DATA_DIR"]) / "mailsift.db"
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT state FROM chunks").fetchall() == [("running",)]

    serve.start()
    assert (
        serve.output().count("ms_") == 2
    )  # the token and the curl line, both from the first start
    for _ in range(500):
        progress = serve.post("/get_results/", user_API_token=token, job_id=job_id)
        if progress["stage"] == "Completed":
            break
        time.sleep(0.02)
    assert progress["stage"] == "Completed", progress
    valid = httpx.get(str(progress["valid_result_link"])).text
    assert "alice@greylist.test" in valid
    assert "nobody@greylist.test" not in valid
    serve.stop()
