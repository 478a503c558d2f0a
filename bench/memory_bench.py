"""Memory across jobs: the same list verified twice by two engines sharing one store.

    python -m bench.memory_bench [--addresses 5000] [--domains 300]

Two runs over the benchmark world (``bench.world``), each by a fresh ``Verifier`` whose
``StoreDomainMemory`` is one SQLite store, as two workers or two jobs on different days
would be. The world runs in a thread of this process (its counters are read before and after
each run); the CPU seconds are the client thread's own. The first run learns every domain's
route and accept-all answer; the second should ask no accept-all probe (one RCPT per domain
fewer) and need fewer sessions. Prints, per run, the sessions, RCPT commands, wall and CPU
seconds; checks that both runs gave the same verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import client_settings, run_header, save_record
from bench.world import WorldPorts, build_world, make_plan
from mailsift.store import database_url, open_store, upgrade
from mailsift.store.domain_memory import StoreDomainMemory
from mailsift.verify.engine import Verifier

PER_HOST = 2
PER_SESSION = 25


async def _one_run(
    url: str, addresses: list[str], ports: WorldPorts
) -> tuple[dict[str, str], float, float]:
    async with open_store(url) as store:
        memory = StoreDomainMemory(store, ttl=3600)
        verifier = Verifier(client_settings(ports).engine_options(), memory=memory)
        wall, cpu = time.perf_counter(), time.thread_time()
        verdicts = {
            v.email: f"{v.result}/{v.reason}" async for v in verifier.verify_many(addresses)
        }
        await memory.flush()
        return verdicts, time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=5_000)
    parser.add_argument("--domains", type=int, default=300)
    args = parser.parse_args()
    plan = make_plan(args.addresses, args.domains)
    probed_domains = sum(1 for domain in plan.domains if domain.listed)
    runs: list[dict[str, Any]] = []
    verdicts: list[dict[str, str]] = []
    world = build_world(plan, per_host=PER_HOST, per_session=PER_SESSION).start()
    ports = WorldPorts(world.port, world.dns_port)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url("", Path(tmp))
        upgrade(url)
        for label in ("first", "second"):
            before = world.totals()
            answers, wall, cpu = asyncio.run(_one_run(url, plan.addresses, ports))
            after = world.totals()
            totals = {name: after[name] - before[name] for name in after}
            verdicts.append(answers)
            runs.append(
                {
                    "run": label,
                    "sessions": totals["sessions"],
                    "rcpt_commands": totals["rcpt_commands"],
                    "limit_violations": totals["limit_violations"],
                    "data_attempts": totals["data_attempts"],
                    "wall_seconds": round(wall, 2),
                    "cpu_seconds": round(cpu, 2),
                    "cpu_ms_per_address": round(cpu * 1000 / len(plan.addresses), 3),
                }
            )
    world.stop()
    same = verdicts[0] == verdicts[1]
    for run in runs:
        print(", ".join(f"{key} {value}" for key, value in run.items()))
    probes_saved = runs[0]["rcpt_commands"] - runs[1]["rcpt_commands"]
    print(f"domains probed in the first run: {probed_domains}; RCPTs saved: {probes_saved}")
    print(f"same verdicts in both runs: {same}")
    save_record(
        "memory",
        {
            **run_header(),
            "arguments": vars(args),
            "domains_with_addresses": probed_domains,
            "runs": runs,
            "rcpt_saved": probes_saved,
            "same_verdicts": same,
        },
    )
    if not same:
        raise SystemExit("the two runs disagree")


if __name__ == "__main__":
    main()
