"""The engine benchmark: ``python -m bench.run`` (``make bench``).

For each world (20,000 addresses, then 100,000), a child process serves the world and another
runs ``Verifier.verify_many`` over the whole list, so that the client's wall time, CPU time and
peak memory are its own. Every verdict is checked against the world's truth, and the servers
report whether any DATA was sent or any politeness limit broken. Then py3-validate-email runs
on the 20,000-address world under the same per-server limit. The figures are printed and
written as JSON under bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import resource
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.lower_bound import Latency, Politeness, lower_bound
from mailsift.settings import Settings
from mailsift.verify.engine import Verifier

if TYPE_CHECKING:
    from bench.world import WorldPlan, WorldPorts

# bench.world and bench.compare_validate_email are imported where they are used: the client
# process imports this module too, and its peak memory must be the engine's, not theirs.

PER_HOST = 2  # N: simultaneous sessions per mail server, client and servers alike
PER_SESSION = 25  # M: recipients per session
CONCURRENCY = 200  # sessions open at once, over all servers (the default)
LARGE_ADDRESSES = 100_000
TARGET_RATIO = 1.5  # wall time / lower bound, at most
TARGET_SPEEDUP = 5.0  # addresses per second / py3-validate-email's, at least
TARGET_PEAK_MB = 200.0  # client peak RSS for 100,000 addresses, at most
OUT = Path(__file__).resolve().parent / "out"
_CLIENT_TIMEOUT = 1800.0
_MISMATCH_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class ClientRun:
    """What the client process measured about itself."""

    verified: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rss_before_mb: float  # the peak before the run: interpreter and imports


def client_settings(ports: WorldPorts) -> Settings:
    """The engine's settings for a world: production defaults but for where the world is.

    Nothing in the world answers 4xx, so retries never happen; short retry settings only
    bound the run if one did.
    """
    return Settings(
        helo_name="probe.mailsift.test",
        mail_from="verify@mailsift.test",
        dns_nameservers=[f"127.0.0.1:{ports.dns}"],
        smtp_port=ports.smtp,
        allow_private_targets=True,
        proxies=[],
        max_connections_per_host=PER_HOST,
        max_rcpt_per_session=PER_SESSION,
        max_concurrency=CONCURRENCY,
        greylist_retry_after=5.0,
        greylist_deadline=60.0,
        host_pause=5.0,
    )


# --- the client process -------------------------------------------------------------------------


def _client_main(
    ports: WorldPorts, addresses: Path, results: Path, conn: multiprocessing.connection.Connection
) -> None:
    """Verify the list in ``addresses`` (one a line); write one line per result to ``results``."""
    conn.send(asyncio.run(_verify_file(client_settings(ports), addresses, results)))


async def _verify_file(settings: Settings, addresses: Path, results: Path) -> ClientRun:
    verifier = Verifier(settings.engine_options())
    verified = 0
    rss_before = peak_rss_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with addresses.open(encoding="utf-8") as given, results.open("w", encoding="utf-8") as out:
        async for v in verifier.verify_many(line.rstrip("\n") for line in given):
            out.write(f"{v.email}\t{v.result}\t{v.reason}\t{int(v.accept_all)}\n")
            verified += 1
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ClientRun(verified, wall, cpu, peak_rss_mb(), rss_before)


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    On Linux ``ru_maxrss`` outlives ``exec``: a spawned child would report the runner's memory
    at the fork. ``VmHWM`` belongs to the process's own address space, so it is read first.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    # ru_maxrss is in KiB on Linux, in bytes on macOS
    scale = 1024 * 1024 if platform.system() == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def run_client(ports: WorldPorts, plan: WorldPlan, workdir: Path) -> tuple[ClientRun, Path]:
    """Run the engine over ``plan``'s list in a fresh process; return its figures and results."""
    addresses = workdir / "addresses.txt"
    results = workdir / "results.tsv"
    addresses.write_text("".join(f"{a}\n" for a in plan.addresses), encoding="utf-8")
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_client_main, args=(ports, addresses, results, child))
    process.start()
    child.close()
    try:
        if not parent.poll(_CLIENT_TIMEOUT):
            raise TimeoutError(f"the client did not finish within {_CLIENT_TIMEOUT:g} s")
        run = parent.recv()
    except EOFError as exc:
        raise RuntimeError("the client process died; its error is above") from exc
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
    assert isinstance(run, ClientRun)
    return run, results


# --- one world ----------------------------------------------------------------------------------


def check_results(plan: WorldPlan, results: Path) -> dict[str, Any]:
    """Each verdict against the world's truth: counts, mismatches and a few examples."""
    counts: Counter[str] = Counter()
    mismatches: Counter[str] = Counter()
    examples: list[str] = []
    seen: set[str] = set()
    with results.open(encoding="utf-8") as lines:
        for line in lines:
            email, result, reason, accept_all = line.rstrip("\n").split("\t")
            seen.add(email)
            counts[result] += 1
            want = plan.expected[email]
            if (result, reason, accept_all == "1") != (want.result, want.reason, want.accept_all):
                key = f"{want.result}/{want.reason} -> {result}/{reason}"
                mismatches[key] += 1
                if len(examples) < _MISMATCH_EXAMPLES:
                    examples.append(f"{email}: {key} (accept_all={accept_all})")
    missing = len(plan.expected) - len(seen)
    return {
        "result_counts": dict(counts),
        "truth_counts": dict(plan.truth_counts()),
        "mismatches": sum(mismatches.values()) + missing,
        "missing": missing,
        "mismatch_kinds": dict(mismatches),
        "mismatch_examples": examples,
    }


def bench_engine(plan: WorldPlan, label: str) -> dict[str, Any]:
    """One world: serve it, verify it, judge the verdicts, read the servers' counters."""
    from bench.world import DNS_DELAY, REPLY_DELAY, WorldProcess

    bound = lower_bound(
        plan.loads(),
        Politeness(PER_HOST, PER_SESSION, CONCURRENCY),
        Latency(reply_delay=REPLY_DELAY, dns_delay=DNS_DELAY),
    )
    print(f"[{label}] starting the world ({len(plan.servers):,} mail servers)...", flush=True)
    world = WorldProcess(plan, per_host=PER_HOST, per_session=PER_SESSION)
    ports = world.start()
    try:
        print(f"[{label}] verifying {len(plan.addresses):,} addresses...", flush=True)
        with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as tmp:
            client, results = run_client(ports, plan, Path(tmp))
            checked = check_results(plan, results)
    finally:
        report = world.stop()
    busiest = report["busiest_server"]
    busiest["fewest_sessions"] = math.ceil(
        plan.recipients_by_server()[busiest["name"]] / PER_SESSION
    )
    return {
        "label": label,
        "addresses": len(plan.addresses),
        "mail_domains": len(plan.domains),
        "nxdomain_domains": len(plan.nxdomains),
        "mail_servers": len(plan.servers),
        "wall_seconds": round(client.wall_seconds, 3),
        "addresses_per_second": round(len(plan.addresses) / client.wall_seconds, 1),
        "client_cpu_seconds": round(client.cpu_seconds, 2),
        "client_peak_rss_mb": round(client.peak_rss_mb, 1),
        "client_rss_before_run_mb": round(client.rss_before_mb, 1),
        "lower_bound_seconds": round(bound.seconds, 3),
        "lower_bound": asdict(bound),
        "ratio_to_lower_bound": round(client.wall_seconds / bound.seconds, 3),
        "verified": client.verified,
        **checked,
        "world": report,
    }


def _print_engine(r: dict[str, Any]) -> None:
    totals, busiest = r["world"]["totals"], r["world"]["busiest_server"]
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(r["result_counts"].items()))
    truth = ", ".join(f"{k} {v:,}" for k, v in sorted(r["truth_counts"].items()))
    print(
        f"""
== mailsift engine, {r["label"]} addresses (N={PER_HOST}, M={PER_SESSION}) ==
world                 {r["mail_domains"]:,} mail domains (+{r["nxdomain_domains"]} nonexistent), \
{r["mail_servers"]:,} mail servers
wall time             {r["wall_seconds"]:.2f} s  ({r["addresses_per_second"]:,.0f} addresses/s)
lower bound           {r["lower_bound_seconds"]:.2f} s  -> ratio {r["ratio_to_lower_bound"]:.2f}
client CPU            {r["client_cpu_seconds"]:.1f} s
client peak RSS       {r["client_peak_rss_mb"]:.0f} MB ({r["client_rss_before_run_mb"]:.0f} MB \
before the run)
results               {counts}
world's truth         {truth}
mismatches            {r["mismatches"]} {r["mismatch_kinds"] or ""}
sessions / RCPTs      {totals["sessions"]:,} / {totals["rcpt_commands"]:,}; busiest server \
{busiest["name"]}: {busiest["sessions"]} sessions (fewest possible {busiest["fewest_sessions"]})
DATA attempts         {totals["data_attempts"]}
limit violations      {totals["limit_violations"]} (most connections at once to one server \
{totals["max_concurrent_seen"]}, most RCPTs in one session {totals["rcpt_per_session_max"]}, \
pipelining unoffered {totals["unadvertised_pipelining"]})""",
        flush=True,
    )
    for example in r["mismatch_examples"]:
        print(f"  mismatch: {example}")


def _print_comparison(c: dict[str, Any]) -> None:
    totals = c["world"]["totals"]
    projected = c["projected_seconds"]
    print(
        f"""
== py3-validate-email {c["version"]}, {c["label"]} addresses (N={PER_HOST} per server, \
{c["threads"]} threads) ==
completed             {c["completed"]:,} of {c["addresses"]:,} in {c["elapsed_seconds"]:.1f} s \
({c["addresses_per_second"]:.1f} addresses/s)
whole list, projected {f"{projected:,.0f} s" if projected else "-"}
answers               {c["answers"]}
DATA attempts         {totals["data_attempts"]}
limit violations      {totals["limit_violations"]}""",
        flush=True,
    )


def targets(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it bounds, the measured figure, and whether it is met."""
    engine = record["engine"]
    ratio = max(r["ratio_to_lower_bound"] for r in engine)
    theirs = record["py3_validate_email"]["addresses_per_second"]
    speedup = engine[0]["addresses_per_second"] / theirs if theirs else math.inf
    mismatches = sum(r["mismatches"] for r in engine)
    offences = sum(
        r["world"]["totals"]["data_attempts"] + r["world"]["totals"]["limit_violations"]
        for r in engine
    )
    rows = [
        ("wall time / lower bound", f"<= {TARGET_RATIO}", ratio, ratio <= TARGET_RATIO),
        (
            "speed / py3-validate-email's",
            f">= {TARGET_SPEEDUP:g}x",
            round(speedup, 1),
            speedup >= TARGET_SPEEDUP,
        ),
        ("verdicts unlike the world's truth", "0", mismatches, mismatches == 0),
        ("DATA attempts and limit violations", "0", offences, offences == 0),
    ]
    if len(engine) > 1:
        peak = engine[1]["client_peak_rss_mb"]
        rows.append(
            (
                f"client peak RSS, {LARGE_ADDRESSES:,} addresses",
                f"<= {TARGET_PEAK_MB:g} MB",
                peak,
                peak <= TARGET_PEAK_MB,
            )
        )
    return [
        {"target": name, "bound": bound, "measured": value, "met": met}
        for name, bound, value, met in rows
    ]


# --- the command --------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--addresses", type=int, default=20_000, help="default 20,000")
    parser.add_argument("--domains", type=int, default=600, help="mail domains (default 600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--skip-large", action="store_true", help=f"skip the {LARGE_ADDRESSES:,}-address world"
    )
    parser.add_argument(
        "--compare-seconds",
        type=float,
        default=120.0,
        help="time budget for py3-validate-email (0: the whole list; default 120)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.compare_validate_email import compare
    from bench.world import DNS_DELAY, REPLY_DELAY, make_plan

    args = _parse(argv)
    record: dict[str, Any] = {
        **run_header(),
        "settings": {
            "max_connections_per_host": PER_HOST,
            "max_rcpt_per_session": PER_SESSION,
            "max_concurrency": CONCURRENCY,
            "reply_delay_seconds": REPLY_DELAY,
            "dns_delay_seconds": DNS_DELAY,
            "seed": args.seed,
        },
    }
    plan = make_plan(args.addresses, args.domains, args.seed)
    record["engine"] = [bench_engine(plan, f"{args.addresses:,}")]
    _print_engine(record["engine"][0])
    if not args.skip_large:
        domains = round(args.domains * LARGE_ADDRESSES / args.addresses)  # the same mix, scaled
        large = make_plan(LARGE_ADDRESSES, domains, args.seed)
        record["engine"].append(bench_engine(large, f"{LARGE_ADDRESSES:,}"))
        _print_engine(record["engine"][-1])
    label = f"{args.addresses:,}"
    record["py3_validate_email"] = compare(
        plan,
        label,
        args.compare_seconds,
        per_host=PER_HOST,
        per_session=PER_SESSION,
        threads=CONCURRENCY,
    )
    _print_comparison(record["py3_validate_email"])
    record["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    record["targets"] = targets(record)
    print("\n== targets ==")
    for row in record["targets"]:
        verdict = "met" if row["met"] else "MISSED"
        print(f"{verdict:7}{row['target']}: {row['measured']} ({row['bound']})")
    save_record("run", record)
    return 0


def run_header() -> dict[str, Any]:
    """When and where a run was made; other work on the machine slows every process down."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def save_record(kind: str, record: dict[str, Any]) -> Path:
    """Write a run's figures to ``bench/out/<kind>-<UTC time>.json`` and say where."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nrecorded in {path}")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
