"""schemathesis against a live ``mailsift serve`` (SQLite), a real account's token in every body.

Every operation, ``examples`` cases each, every check schemathesis has (server errors, status
codes, content types, answers against their schemas, schema-valid data accepted and invalid data
refused), and one of our own: the token never comes back in an answer. After the run, the
server's own output must not hold the token nor a traceback, and a set of requests that put the
token where it does not belong (a number field, a job id, a broken JSON body, a misspelled name)
must be refused without echoing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.hardening.live import Server, clean_env, create_token, world_env
from bench.world import WorldProcess, make_plan

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
HOOKS = "bench.hardening.schemathesis_hooks"
ROOT = HERE.parent.parent
_RUN_SECONDS = 3600


@dataclass
class FuzzResult:
    examples_per_operation: int
    operations: int
    test_cases: int
    failures: int
    server_errors: int
    schema_violations: int
    failure_kinds: dict[str, int]
    token_in_server_output: bool
    tracebacks_in_server_output: int
    misplaced_token_echoes: list[str]
    wall_seconds: float
    server_peak_rss_mb: float
    exit_code: int
    summary: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.failures == 0
            and self.exit_code == 0
            and not self.token_in_server_output
            and not self.tracebacks_in_server_output
            and not self.misplaced_token_echoes
        )


def misplaced_token_requests(url: str, token: str) -> list[str]:
    """Requests with the token where it does not belong; the calls whose answer echoed it."""
    wrong = [
        ("/email_verification/", {"user_API_token": token, "email": "a@b.test", "timeout": token}),
        ("/convert_credits/", {"user_API_token": token, "credits": token}),
        ("/job_progress/", {"user_API_token": token, "job_id": token}),
        ("/get_results/", {"user_API_token": token + "x", "job_id": "x"}),
        ("/job_progress/", {"USER_API_TOKEN": token, "job_id": "x"}),
        ("/batch_process/", {"user_API_token": token, "callback_url": f"ftp://{token}/"}),
        ("/job_progress/", {"user_API_token": [token, token], "job_id": "x"}),
    ]
    echoed: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path, params in wrong:
            for answer in (
                client.post(path, data=params),
                client.post(path, json=params),
                client.post(path, files={"file": ("a.csv", token.encode())}, data=params),
            ):
                if token in answer.text:
                    echoed.append(f"{path} {answer.status_code}")
        for raw in (
            f'{{"user_API_token": "{token}", ',
            f'{{"user_API_token": {{"{token}": 1}}, "job_id": "x"}}',
        ):
            answer = client.post(
                "/job_progress/", content=raw, headers={"content-type": "application/json"}
            )
            if token in answer.text:
                echoed.append(f"/job_progress/ (raw JSON) {answer.status_code}")
    return echoed


def _read_report(report_dir: Path) -> tuple[int, int, dict[str, int], list[str]]:
    """(test cases, failures, failures by kind, their first lines) from the JUnit report."""
    [report] = report_dir.glob("junit*.xml")
    root = ET.parse(report).getroot()
    cases = failures = 0
    kinds: dict[str, int] = {}
    details: list[str] = []
    for case in root.iter("testcase"):
        cases += 1
        for failure in (*case.findall("failure"), *case.findall("error")):
            text = (failure.get("message") or "") + "\n" + (failure.text or "")
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("- ") and line[2:4] in ("ST", "Se", "Re", "Un", "Ne", "Po"):
                    kinds[line[2:]] = kinds.get(line[2:], 0) + 1
            failures += 1
            details.append(f"{case.get('name')}: {text.strip()[:1500]}")
    return cases, failures, kinds, details


def fuzz_api(examples: int, *, seed: int = 1, workdir: Path | None = None) -> FuzzResult:
    """The whole run: a world, a server, schemathesis, then the server's output read."""
    plan = make_plan(200, 20, seed)
    world = WorldProcess(plan, per_host=2, per_session=25)
    ports = world.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailsift-fuzz-") as tmp:
            return _fuzz(ports_env=world_env(ports), examples=examples, seed=seed,
                         workdir=workdir or Path(tmp))  # fmt: skip
    finally:
        world.stop()


def _fuzz(*, ports_env: dict[str, str], examples: int, seed: int, workdir: Path) -> FuzzResult:
    env = clean_env(
        **ports_env,
        MAILSIFT_REALTIME_RATE_PER_MINUTE="0",
        MAILSIFT_AUTH_FAILURES_PER_MINUTE="0",  # the fuzzer sends bad tokens by the hundred
        MAILSIFT_MAX_JOBS_IN_FLIGHT="0",
        MAILSIFT_ACCESS_LOG="1",
    )
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = Server(env, data, workdir / "server.log")
    token = create_token(server.db_url, "fuzz", 10**12, monthly_credits=10**12)
    server.start()
    report_dir = workdir / "report"
    started = time.perf_counter()
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
                f"{server.url}/openapi.json", "--checks", "all", "--max-examples", str(examples),
                "--seed", str(seed), "--workers", "2", "--request-timeout", "60",
                "--report", "junit", "--report-dir", str(report_dir), "--no-color",
            ],
            env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "HARDENING_TOKEN": token,
                 "PYTHONPATH": str(ROOT)},
            capture_output=True, text=True, timeout=_RUN_SECONDS, check=False, cwd=workdir,
        )  # fmt: skip
        wall = time.perf_counter() - started
        echoed = misplaced_token_requests(server.url, token)
        peak = server.peak_rss_mb()
    finally:
        server.stop()
    output = server.output()
    cases, failures, kinds, details = _read_report(report_dir)
    summary = "\n".join(
        line for line in run.stdout.splitlines()[-40:] if line.strip() and "curl" not in line
    )
    return FuzzResult(
        examples_per_operation=examples,
        operations=_operations(run.stdout),
        test_cases=_generated(run.stdout) or cases,
        failures=failures,
        server_errors=sum(n for k, n in kinds.items() if "Server error" in k),
        schema_violations=sum(n for k, n in kinds.items() if "schema" in k.lower()),
        failure_kinds=kinds,
        token_in_server_output=token in output,
        tracebacks_in_server_output=output.count("Traceback"),
        misplaced_token_echoes=echoed,
        wall_seconds=round(wall, 1),
        server_peak_rss_mb=round(peak, 1),
        exit_code=run.returncode,
        summary=summary,
        details=details,
    )


def _operations(stdout: str) -> int:
    for line in stdout.splitlines():
        if "Tested:" in line:
            return int(line.split("Tested:")[1].split()[0])
    return 0


def _generated(stdout: str) -> int:
    for line in stdout.splitlines():
        words = line.split()
        if len(words) > 1 and words[0].isdigit() and words[1].startswith("generated"):
            return int(words[0])
    return 0


def as_record(result: FuzzResult) -> dict[str, Any]:
    record = asdict(result)
    record["details"] = result.details[:20]
    return record
