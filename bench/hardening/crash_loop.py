"""Crash loops: a job of ``addresses`` addresses while its processes are SIGKILLed, over and over.

**Embedded**: one ``mailsift serve`` (API and workers in one process, SQLite) takes the list
through the API; then, ``rounds`` times, it is started, left to work for a random moment, and
killed outright; after every kill ``PRAGMA integrity_check`` must say ``ok``. Then it runs to the
end.

**Cluster**: ``mailsift serve --no-workers`` and three ``mailsift worker`` processes on
PostgreSQL; each round kills one worker, or all three, at a random moment, and starts them
again. Between rounds the workers' database connections may be cut (``pg_terminate_backend``)
and PostgreSQL itself restarted (``--restart-postgres``: the bench only).

Either way, at the end: every address of the list exactly once in the results, with the
verdict the world demands; every chunk done; the credit reserved exactly once and settled
exactly once, the balance equal to the ledger's sum.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.hardening.live import MAILSIFT, Server, clean_env, create_token, libpq, sql, world_env
from bench.world import WorldPlan, WorldProcess, make_plan
from mailsift.store import upgrade

CREDITS = 10_000_000
_TRANSIENT = ("unavailable_smtp", "no_connect", "timeout")
_DONE_SECONDS = 900.0


@dataclass
class Round:
    killed: str
    after_seconds: float
    done_at_kill: int
    integrity: str = ""
    disruption: str = ""


@dataclass
class CrashLoop:
    kind: str
    addresses: int
    rounds: list[Round] = field(default_factory=list)
    rows: int = 0
    unique_rows: int = 0
    without_result: int = 0
    result_file_rows: int = 0
    result_file_duplicates: int = 0
    missing: int = 0
    mismatches: int = 0  # a definite verdict unlike the world's truth
    transient_unknowns: int = 0  # unknown for a server's refusal or silence the kills caused
    mismatch_examples: list[str] = field(default_factory=list)
    chunks_not_done: int = 0
    ledger: list[tuple[str, int]] = field(default_factory=list)
    billable: int = 0
    balance_spent: int = 0
    ledger_sum_matches: bool = False
    unexpected_errors: int = 0
    completed: bool = False
    seconds_to_complete_after_last_kill: float = 0.0
    wall_seconds: float = 0.0
    tracebacks: int = 0
    exited_on_their_own: int = 0  # workers that stopped without being killed (restarted)
    error_lines: list[str] = field(default_factory=list)
    world: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        ok_integrity = all(r.integrity in ("", "ok") for r in self.rounds)
        reserve = [d for kind, d in self.ledger if kind == "reserve"]
        settle = [d for kind, d in self.ledger if kind == "settle"]
        return (
            self.completed
            and ok_integrity
            and self.rows == self.unique_rows == self.addresses
            and self.without_result == 0
            and self.result_file_rows == self.addresses
            and self.result_file_duplicates == 0
            and self.missing == 0
            and self.mismatches == 0
            and self.chunks_not_done == 0
            and reserve == [-self.billable]
            and len(settle) == 1
            and self.balance_spent == self.billable - settle[0]
            and self.ledger_sum_matches
        )


# --- shared -----------------------------------------------------------------------------------


def upload(url: str, token: str, emails: list[str]) -> str:
    listing = "email\n" + "".join(f"{email}\n" for email in emails)
    answer = httpx.post(
        f"{url}/batch_process/",
        data={"user_API_token": token},
        files={"file": ("list.csv", listing.encode())},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    [job_id] = answer.json()["job_id"]
    return str(job_id)


def done_count(db_url: str) -> int:
    try:
        return int(sql(db_url, "SELECT count(*) FROM job_items WHERE result IS NOT NULL")[0][0])
    except Exception:  # the database is restarting, or the file is locked: unknown
        return -1


def integrity(db_url: str) -> str:
    return " ".join(str(row[0]) for row in sql(db_url, "PRAGMA integrity_check"))


def wait_completed(
    url: str,
    token: str,
    job_id: str,
    seconds: float = _DONE_SECONDS,
    tend: Callable[[], None] = lambda: None,
) -> bool:
    """Poll until the job is completed; ``tend`` runs between polls (a supervisor's round)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tend()
        try:
            answer = httpx.post(
                f"{url}/job_progress/",
                data={"user_API_token": token, "job_id": job_id},
                timeout=30,
            ).json()
        except (httpx.TransportError, ValueError):
            time.sleep(0.5)
            continue
        if answer.get("stage") == "Completed":
            return True
        time.sleep(0.2)
    return False


def result_rows(url: str, token: str, job_id: str) -> list[tuple[str, str, str]]:
    import csv
    import io

    answer = httpx.post(
        f"{url}/get_results/", data={"user_API_token": token, "job_id": job_id}, timeout=60
    ).json()
    rows = []
    for link in ("valid_result_link", "invalid_result_link", "unknown_link"):
        text = httpx.get(answer[link], timeout=120).text
        rows.extend(
            (r["email"], r["result"], r["reason"]) for r in csv.DictReader(io.StringIO(text))
        )
    return rows


def error_lines(output: str) -> list[str]:
    """The first lines of a log that report an error, for the record."""
    found = [line for line in output.splitlines() if "ERROR" in line or "Error" in line]
    return found[:20]


def judge(run: CrashLoop, plan: WorldPlan, db_url: str, rows: list[tuple[str, str, str]]) -> None:
    """Fill in what the database and the result files say."""
    [(items, unique, unresolved)] = sql(
        db_url,
        "SELECT count(*), count(DISTINCT email), "
        "sum(CASE WHEN result IS NULL THEN 1 ELSE 0 END) FROM job_items",
    )
    run.rows, run.unique_rows, run.without_result = int(items), int(unique), int(unresolved or 0)
    run.chunks_not_done = int(
        sql(db_url, "SELECT count(*) FROM chunks WHERE state <> 'done'")[0][0]
    )
    run.unexpected_errors = int(
        sql(db_url, "SELECT count(*) FROM job_items WHERE reason = 'unexpected_error'")[0][0]
    )
    run.error_lines += [
        f"unexpected_error x{n}: {message}"
        for message, n in sql(
            db_url,
            "SELECT smtp_message, count(*) FROM job_items WHERE reason = 'unexpected_error' "
            "GROUP BY smtp_message ORDER BY 2 DESC LIMIT 5",
        )
    ]
    counts = Counter(email for email, _, _ in rows)
    run.result_file_rows = len(rows)
    run.result_file_duplicates = sum(n - 1 for n in counts.values() if n > 1)
    run.missing = len(set(plan.addresses) - set(counts))
    for email, result, reason in rows:
        want = plan.expected.get(email)
        if want is None or (result, reason) != (want.result, want.reason):
            if result == "unknown" and reason in _TRANSIENT:
                run.transient_unknowns += 1
            else:
                run.mismatches += 1
            if len(run.mismatch_examples) < 10:
                expected = None if want is None else (want.result, want.reason)
                run.mismatch_examples.append(f"{email}: {result}/{reason}, want {expected}")
    run.ledger = [
        (str(kind), int(delta))
        for kind, delta in sql(
            db_url, "SELECT kind, api_delta FROM ledger WHERE job_id IS NOT NULL ORDER BY id"
        )
    ]
    [(balance, total)] = sql(
        db_url,
        "SELECT a.api_credits, (SELECT sum(api_delta) FROM ledger WHERE account_id = a.id) "
        "FROM accounts AS a WHERE a.name = 'crash'",
    )
    run.balance_spent = CREDITS - int(balance)
    run.ledger_sum_matches = int(balance) == int(total)
    run.billable = sum(1 for a in plan.addresses if plan.expected[a].reason != "invalid_email")


# --- embedded -----------------------------------------------------------------------------------


def embedded_crash_loop(
    addresses: int, rounds: int, *, seed: int = 1, longest: float = 2.5
) -> CrashLoop:
    """``longest``: the latest moment of a kill, in seconds after the server answers."""
    rng = random.Random(seed)
    plan = make_plan(addresses, max(20, addresses // 40), seed)
    run = CrashLoop("embedded (mailsift serve, SQLite)", len(plan.addresses))
    world = WorldProcess(plan, per_host=2, per_session=25)
    ports = world.start()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="mailsift-crash-") as tmp:
            folder = Path(tmp)
            data = folder / "data"
            data.mkdir()
            server = Server(clean_env(**world_env(ports)), data, folder / "server.log")
            token = create_token(server.db_url, "crash", CREDITS)
            server.start()
            job_id = upload(server.url, token, plan.addresses)
            for _ in range(rounds):
                if server.process is None or server.process.poll() is not None:
                    server.start()
                moment = rng.uniform(0.2, longest)
                time.sleep(moment)
                done = done_count(server.db_url)
                server.kill()
                run.rounds.append(Round("server", round(moment, 2), done, integrity(server.db_url)))
            last_kill = time.perf_counter()
            server.start()
            run.completed = wait_completed(server.url, token, job_id)
            run.seconds_to_complete_after_last_kill = round(time.perf_counter() - last_kill, 1)
            rows = result_rows(server.url, token, job_id) if run.completed else []
            server.stop()
            run.tracebacks = server.output().count("Traceback")
            run.error_lines = error_lines(server.output())
            judge(run, plan, server.db_url, rows)
    finally:
        run.world = _world_totals(world.stop())
    run.wall_seconds = round(time.perf_counter() - started, 1)
    return run


def _world_totals(report: dict[str, Any]) -> dict[str, int]:
    totals = report["totals"]
    keys = ("sessions", "rcpt_commands", "data_attempts", "limit_violations", "max_concurrent_seen")
    return {key: int(totals[key]) for key in keys if key in totals}


# --- a cluster on PostgreSQL ----------------------------------------------------------------------

CLUSTER_TIMERS = {
    "MAILSIFT_QUEUE_POLL_INTERVAL": "0.2",
    "MAILSIFT_WORKER_HEARTBEAT": "0.5",
    "MAILSIFT_WORKER_STALLED_AFTER": "2",
    "MAILSIFT_WORKER_SHUTDOWN_GRACE": "1",
    "MAILSIFT_HOST_SLOT_TTL": "3",
    "MAILSIFT_MAX_JOBS_IN_FLIGHT": "0",
}


@dataclass
class Worker:
    name: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MAILSIFT, "worker", "--concurrency", "2"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def terminate_backends(db_url: str) -> int:
    """Cut every connection to the job's database but this one; how many were cut."""
    rows = sql(
        db_url,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return int(rows[0][0])


def restart_postgres(command: list[str]) -> str:
    """Run the restart command; if it fails or hangs, start the server again all the same (it
    is shared: it must never be left down)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        outcome = f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        outcome = "timed out"
    if outcome != "exit 0" and "restart" in command:  # never leave it down
        start = [part if part != "restart" else "start" for part in command if part != "-m"]
        start = [part for part in start if part not in ("fast", "immediate", "smart")]
        subprocess.run(start, capture_output=True, timeout=180, check=False)
        outcome += f"; then {' '.join(start)}"
    return f"{' '.join(command)}: {outcome}"


def cluster_crash_loop(
    addresses: int,
    rounds: int,
    db_url: str,
    *,
    seed: int = 1,
    terminations: int = 2,
    restart_command: list[str] | None = None,
) -> CrashLoop:
    """``db_url``: an empty PostgreSQL database of the run's own (it is migrated here)."""
    rng = random.Random(seed)
    plan = make_plan(addresses, max(20, addresses // 40), seed)
    run = CrashLoop("cluster (API + 3 workers, PostgreSQL)", len(plan.addresses))
    upgrade(libpq(db_url))
    world = WorldProcess(plan, per_host=2, per_session=25)
    ports = world.start()
    started = time.perf_counter()
    workers: list[Worker] = []
    api: Server | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="mailsift-crash-") as tmp:
            folder = Path(tmp)
            env = clean_env(
                **world_env(ports),
                **CLUSTER_TIMERS,
                MAILSIFT_DATABASE_URL=db_url,
                MAILSIFT_SECRET_KEY="crash-loop-" + "k" * 32,
            )
            (folder / "api").mkdir()
            api = Server(env, folder / "api", folder / "api.log")
            token = create_token(db_url, "crash", CREDITS)
            api.start(workers=False)
            for n in range(3):
                data = folder / f"worker-{n}"
                data.mkdir()
                worker = Worker(f"worker-{n}", {**env, "MAILSIFT_DATA_DIR": str(data)},
                                folder / f"worker-{n}.log")  # fmt: skip
                worker.start()
                workers.append(worker)
            job_id = upload(api.url, token, plan.addresses)
            disruptions = _disruption_rounds(rng, rounds, terminations, restart_command)

            def supervise() -> None:
                """Start again any worker that stopped by itself, as a supervisor would."""
                for worker in workers:
                    if worker.process is not None and worker.process.poll() is not None:
                        run.exited_on_their_own += 1
                        worker.start()

            for n in range(rounds):
                supervise()
                moment = rng.uniform(0.5, 3.0)
                time.sleep(moment)
                done = done_count(db_url)
                doomed = workers if rng.random() < 0.25 else [rng.choice(workers)]
                for worker in doomed:
                    worker.kill()
                name = "all workers" if len(doomed) == 3 else doomed[0].name
                record = Round(name, round(moment, 2), done)
                what = disruptions.get(n)
                if what == "terminate":
                    record.disruption = f"pg_terminate_backend: {terminate_backends(db_url)} cut"
                elif what == "restart" and restart_command:
                    record.disruption = restart_postgres(restart_command)
                for worker in doomed:
                    worker.start()
                run.rounds.append(record)
            last_kill = time.perf_counter()
            run.completed = wait_completed(api.url, token, job_id, tend=supervise)
            run.seconds_to_complete_after_last_kill = round(time.perf_counter() - last_kill, 1)
            rows = result_rows(api.url, token, job_id) if run.completed else []
            for worker in workers:
                worker.stop()
            api.stop()
            run.tracebacks = sum(
                w.log.read_text(errors="replace").count("Traceback") for w in workers
            )
            judge(run, plan, db_url, rows)
    finally:
        for worker in workers:
            worker.kill()
        if api is not None:
            api.kill()
        run.world = _world_totals(world.stop())
    run.wall_seconds = round(time.perf_counter() - started, 1)
    return run


def _disruption_rounds(
    rng: random.Random, rounds: int, terminations: int, restart: list[str] | None
) -> dict[int, str]:
    """Which rounds also cut the database's connections, or restart PostgreSQL."""
    wanted = ["terminate"] * terminations + (["restart"] if restart else [])
    picked = rng.sample(range(rounds), min(rounds, len(wanted)))
    return dict(zip(picked, wanted, strict=False))


def as_record(run: CrashLoop) -> dict[str, Any]:
    return {**asdict(run), "exact": run.exact}
