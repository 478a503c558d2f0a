"""Suppression lists at scale: import a million entries, then time lookups.

    python -m bench.suppression_bench [--entries 1000000] [--lookups 1000000]

Writes a TXT list of ``--entries`` addresses (one domain-wide entry per thousand), imports it
with ``import_file`` into a fresh SQLite store, loads the in-memory index, and looks up
``--lookups`` addresses, half of them suppressed. Prints wall and CPU seconds of each step.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from bench.run import run_header, save_record
from mailsift.jobs.suppression import SuppressionIndex, import_file
from mailsift.store import database_url, open_store, upgrade


def _write_list(path: Path, entries: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for n in range(entries):
            if n % 1000 == 999:
                file.write(f"@blocked{n}.example\n")
            else:
                file.write(f"person{n}@domain{n % 5000}.example\n")


async def _run(entries: int, lookups: int, data: Path) -> dict[str, float]:
    url = database_url("", data)
    upgrade(url)
    listing = data / "list.txt"
    _write_list(listing, entries)
    figures: dict[str, float] = {}
    async with open_store(url) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        report = await import_file(store, listing, "complaints", None)
        figures["import_wall_s"] = time.perf_counter() - wall
        figures["import_cpu_s"] = time.process_time() - cpu
        assert report.added == entries, report
        wall, cpu = time.perf_counter(), time.process_time()
        index = await SuppressionIndex(store).current()
        figures["load_wall_s"] = time.perf_counter() - wall
        figures["load_cpu_s"] = time.process_time() - cpu
        assert len(index) == entries
    rng = random.Random(7)
    probes = [
        f"person{(n := rng.randrange(entries))}@domain{n % 5000}.example"
        if i % 2
        else f"someone{i}@elsewhere{i % 97}.example"
        for i in range(lookups)
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    found = sum(1 for address in probes if index.lookup(1, address) is not None)
    figures["lookup_us"] = (time.perf_counter() - wall) / lookups * 1e6
    figures["lookup_cpu_us"] = (time.process_time() - cpu) / lookups * 1e6
    figures["found"] = found
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(_run(args.entries, args.lookups, Path(tmp)))
    for name, value in figures.items():
        print(f"{name:>16}: {value:,.3f}")
    save_record("suppression", {**run_header(), "arguments": vars(args), "figures": figures})


if __name__ == "__main__":
    main()
