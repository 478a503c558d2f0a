"""The hardening runs, long: ``python -m bench.hardening_bench`` (``make bench-hardening``).

1. schemathesis against the live API, ``--examples`` cases per operation (default 200);
2. the list readers fuzzed (``--fuzz-examples`` files per reader) and hostile uploads through
   the API (a 200 MB line among them), with the server's peak RSS;
3. crash loops: ``--rounds`` SIGKILLs (default 20) during a ``--addresses`` job (default
   10,000), embedded on SQLite and on a 3-worker cluster on PostgreSQL, with
   ``pg_terminate_backend`` twice and a PostgreSQL restart (``--restart-postgres``, default
   ``pg_ctlcluster -m fast 15 main restart``; ``--restart-postgres ''`` skips it);
4. ``/job_progress/`` polled by 200 clients for 60 s while 5 lists are verified;
5. 50 concurrent real-time calls against 10 credits, on SQLite and on PostgreSQL.

Each part's figures are printed as they come, with the machine's load average; everything is
written to ``bench/out/hardening-<UTC time>.json``. See bench/README.md ("The hardening runs").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from collections.abc import Callable
from typing import Any

from bench.cluster_bench import DEFAULT_POSTGRES, create_database, drop_database
from bench.hardening import crash_loop, credit_race, fuzz_api, load
from bench.hardening.file_fuzz import fuzz_files
from bench.hardening.hostile_files import refuse_hostile_files
from bench.run import run_header, save_record

PARTS = ("api", "files", "crash", "load", "race")
TARGET_PEAK_MB = 150.0
FLAT_RSS_MB = 10.0  # RSS flat: what it may grow once the uploads are in
TARGET_P99_MS = 50.0


def _load() -> list[float]:
    return [round(n, 2) for n in os.getloadavg()]


def _part(record: dict[str, Any], name: str, run: Callable[[], Any]) -> Any:
    before = _load()
    print(f"\n== {name} (load average {before}) ==", flush=True)
    figures = run()
    record[name] = {"load_average_before": before, "load_average_after": _load(), **figures}
    shown = {k: v for k, v in figures.items() if k not in ("details", "rss_samples", "summary")}
    print(json.dumps(shown, indent=1, default=str)[:6000], flush=True)
    return figures


def _with_postgres(admin: str, run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    url = create_database(admin)
    try:
        return run(url)
    finally:
        drop_database(admin, url)


def targets(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[tuple[str, str, Any, bool]] = []

    def row(target: str, bound: str, measured: Any, met: bool) -> None:
        rows.append((target, bound, measured, met))

    if api := record.get("api_schemathesis"):
        counts = (api["server_errors"], api["schema_violations"], api["failures"])
        row(
            "schemathesis: server errors / schema violations / all failures",
            "0 / 0 / 0",
            counts,
            counts == (0, 0, 0) and api["exit_code"] == 0,
        )
        leaks = (
            api["token_in_server_output"],
            api["tracebacks_in_server_output"],
            len(api["misplaced_token_echoes"]),
        )
        row(
            "canary token in server output / tracebacks / answers echoing it",
            "no / 0 / 0",
            leaks,
            leaks == (False, 0, 0),
        )
    if files := record.get("files_fuzz"):
        row("file-reader fuzz: crashes", "0", files["crashes"], files["crashes"] == 0)
    if hostile := record.get("files_hostile"):
        row(
            "hostile files refused with a clear 4xx",
            "all",
            hostile["all_refused_clearly"],
            hostile["all_refused_clearly"],
        )
        peak = hostile["server_peak_rss_mb"]
        row(
            "server peak RSS, hostile files",
            f"< {TARGET_PEAK_MB:g} MB",
            peak,
            peak < TARGET_PEAK_MB,
        )
    for key in ("crash_embedded", "crash_cluster"):
        if run := record.get(key):
            row(
                f"{run['kind']}, {len(run['rounds'])} kills: exact",
                "yes",
                run["exact"],
                run["exact"],
            )
    if polled := record.get("load_progress"):
        figures = polled["job_progress"]
        row("/job_progress/ under load: errors", "0", figures["errors"], figures["errors"] == 0)
        row(
            "/job_progress/ under load: p99",
            f"< {TARGET_P99_MS:g} ms",
            figures["p99_ms"],
            figures["p99_ms"] < TARGET_P99_MS,
        )
        for name in ("server_rss_mb", "engine_process_rss_mb"):
            growth = polled[name]["growth_after_settling"]
            row(
                f"/job_progress/ under load: {name} growth after settling",
                f"< {FLAT_RSS_MB:g} MB",
                growth,
                growth < FLAT_RSS_MB,
            )
    for key in ("race_sqlite", "race_postgresql"):
        if race := record.get(key):
            row(
                f"50 real-time calls vs 10 credits, {race['database']}: charged",
                "10",
                race["ledger_charges"],
                race["exact"],
            )
    return [{"target": t, "bound": b, "measured": m, "met": ok} for t, b, m, ok in rows]


def _runs(args: argparse.Namespace) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each run by its record's name (prefixed by its part), in order."""
    restart = shlex.split(args.restart_postgres) or None

    def cluster(url: str) -> dict[str, Any]:
        run = crash_loop.cluster_crash_loop(
            args.addresses, args.rounds, url, terminations=2, restart_command=restart
        )
        return crash_loop.as_record(run)

    def race_on_postgres(url: str) -> dict[str, Any]:
        return credit_race.as_record(credit_race.credit_race(database_url=url))

    return {
        "api_schemathesis": lambda: fuzz_api.as_record(fuzz_api.fuzz_api(args.examples)),
        "files_fuzz": lambda: fuzz_files(args.fuzz_examples),
        "files_hostile": lambda: refuse_hostile_files(args.line_mb),
        "crash_embedded": lambda: crash_loop.as_record(
            crash_loop.embedded_crash_loop(args.addresses, args.rounds, longest=args.kill_within)
        ),
        "crash_cluster": lambda: _with_postgres(args.postgres, cluster),
        "load_progress": lambda: load.progress_under_load(
            args.clients, args.seconds, interval=args.poll_interval
        ),
        "race_sqlite": lambda: credit_race.as_record(credit_race.credit_race()),
        "race_postgresql": lambda: _with_postgres(args.postgres, race_on_postgres),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hardening_bench", description=__doc__)
    parser.add_argument(
        "--only", nargs="*", default=list(PARTS), help=f"parts ({', '.join(PARTS)}) or runs"
    )
    parser.add_argument("--examples", type=int, default=200, help="schemathesis, per operation")
    parser.add_argument("--fuzz-examples", type=int, default=2000, help="files per reader")
    parser.add_argument("--line-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--addresses", type=int, default=10_000)
    parser.add_argument(
        "--kill-within", type=float, default=6.0, help="embedded: latest kill, s after start"
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument(
        "--postgres", default=os.environ.get("MAILSIFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--restart-postgres", default="pg_ctlcluster -m fast 15 main restart")
    args = parser.parse_args(argv)

    record: dict[str, Any] = {**run_header(), "arguments": vars(args)}
    for name, run in _runs(args).items():
        if name.split("_")[0] in args.only or name in args.only:
            _part(record, name, run)
    record["load_average_at_end"] = _load()
    record["targets"] = targets(record)
    print("\n== targets ==")
    for row in record["targets"]:
        verdict = "met" if row["met"] else "MISSED"
        print(f"{verdict:7}{row['target']}: {row['measured']} ({row['bound']})")
    save_record("hardening", record)
    return 0 if all(row["met"] for row in record["targets"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
