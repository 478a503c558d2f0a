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
import json
import multiprocessing
import multiprocessing.connection
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
MEMORY_TARGET_MB = 200
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


def _client_main(
    ports: WorldPorts, addresses: Path, results: Path, conn: multiprocessing.connection.Connection
) -> None:
    """The client process: verify the list read from ``addresses``, write one line per result."""
    verifier_settings = client_settings(ports)
    run = asyncio.run(_verify_file(verifier_settings, addresses, results))
    conn.send(run)


async def _verify_file(settings: Settings, addresses: Path, results: Path) -> ClientRun:
    verifier = Verifier(settings)
    verified = 0
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with addresses.open(encoding="utf-8") as given, results.open("w", encoding="utf-8") as out:
        async for v in verifier.verify_many(line.rstrip("\n") for line in given):
            out.write(f"{v.email}\t{v.result}\t{v.reason}\t{int(v.accept_all)}\n")
            verified += 1
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ClientRun(verified, wall, cpu, after.ru_maxrss / 1024)  # ru_maxrss: KiB on Linux


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
            got = (result, reason, accept_all == "1")
            if got != (want.result, want.reason, want.accept_all):
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
    print(f"[{label}] starting the world ({len(plan.servers)} mail servers)...", flush=True)
    world = WorldProcess(plan, per_host=PER_HOST, per_session=PER_SESSION)
    ports = world.start()
    try:
        print(f"[{label}] verifying {len(plan.addresses):,} addresses...", flush=True)
        with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as tmp:
            client, results = run_client(ports, plan, Path(tmp))
            checked = check_results(plan, results)
    finally:
        counters = world.stop()
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
        "lower_bound_seconds": round(bound.seconds, 3),
        "lower_bound": asdict(bound),
        "ratio_to_lower_bound": round(client.wall_seconds / bound.seconds, 3),
        "verified": client.verified,
        **checked,
        "world": counters,
    }


def _print_engine(r: dict[str, Any]) -> None:
    world = r["world"]
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(r["result_counts"].items()))
    truth = ", ".join(f"{k} {v:,}" for k, v in sorted(r["truth_counts"].items()))
    print(
        f"""
== mailsift engine, {r["label"]} world ==
addresses             {r["addresses"]:,} over {r["mail_domains"]:,} mail domains \
(+{r["nxdomain_domains"]} nonexistent), {r["mail_servers"]:,} mail servers
wall time             {r["wall_seconds"]:.2f} s  ({r["addresses_per_second"]:,.0f} addresses/s)
lower bound           {r["lower_bound_seconds"]:.2f} s  -> ratio {r["ratio_to_lower_bound"]:.2f}
client CPU / peak RSS {r["client_cpu_seconds"]:.1f} s / {r["client_peak_rss_mb"]:.0f} MB
results               {counts}
world's truth         {truth}
mismatches            {r["mismatches"]} {r["mismatch_kinds"] or ""}
sessions / RCPTs      {world["sessions"]:,} / {world["rcpt_commands"]:,}
DATA attempts         {world["data_attempts"]}
limit violations      {world["limit_violations"]} (max connections seen per server \
{world["max_concurrent_seen"]}, max RCPTs per session {world["rcpt_per_session_max"]})""",
        flush=True,
    )
    for example in r["mismatch_examples"]:
        print(f"  mismatch: {example}")


def _print_comparison(c: dict[str, Any], ours: dict[str, Any]) -> None:
    print(
        f"""
== py3-validate-email {c["version"]}, {c["label"]} world ==
completed             {c["completed"]:,} of {c["addresses"]:,} in {c["elapsed_seconds"]:.1f} s \
({c["addresses_per_second"]:.1f} addresses/s)
full list, projected  {c["projected_seconds"]:,.0f} s
answers               {c["answers"]}
speed ratio           mailsift is {ours["addresses_per_second"] / c["addresses_per_second"]:.1f}x \
faster
DATA attempts         {c["world"]["data_attempts"]}
limit violations      {c["world"]["limit_violations"]}""",
        flush=True,
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--addresses", type=int, default=20_000)
    parser.add_argument("--domains", type=int, default=600, help="mail domains (default 600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true", help="skip the 100,000 world")
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
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}",
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
        scale = LARGE_ADDRESSES / args.addresses
        large = make_plan(LARGE_ADDRESSES, round(args.domains * scale), args.seed)
        record["engine"].append(bench_engine(large, f"{LARGE_ADDRESSES:,}"))
        _print_engine(record["engine"][-1])
        peak = record["engine"][-1]["client_peak_rss_mb"]
        print(f"memory target         {peak:.0f} MB of at most {MEMORY_TARGET_MB} MB")
    record["py3_validate_email"] = compare(
        plan,
        f"{args.addresses:,}",
        args.compare_seconds,
        per_host=PER_HOST,
        per_session=PER_SESSION,
        threads=CONCURRENCY,
    )
    _print_comparison(record["py3_validate_email"], record["engine"][0])
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"run-{stamp}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nrecorded in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
