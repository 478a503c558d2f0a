"""List intake throughput: ``python -m bench.intake_bench [--rows N] [--forms SHARE] [--keep DIR]``.

Writes a CSV of N rows (default 1,000,000): an email column among 5 others, 5% of the addresses
repeated (half of them with the domain in other case), about 1% syntax-invalid, 1% with an
internationalised domain. ``--forms`` writes that share of the email cells as people dress
addresses (``Ann Lee <ann@…>``, ``"Lee, Ann" <ann@…>``, ``mailto:ann@…``, ``ann@… (Ann)``), which
take intake's slower path. Then times
``sniff_layout`` and ``read_list`` over it and reports rows per second and the peak resident
memory during the read. Wall time and CPU time are both printed: on a shared machine the CPU time
is the steadier figure.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import unicodedata
from pathlib import Path

import psutil

from mailsift.jobs.intake import IntakeStats, read_list, sniff_layout

FIRST = ["Ann", "Bo", "Zoë", "José", "Mia", "Liam", "Noah", "Emma", "Olivia", "Lukas", "Chloé"]
LAST = ["Lee", "Müller", "Smith", "García", "Rossi", "Novak", "Dubois", "Kowalski", "Ek", "Ito"]
# (domain, weight): mostly big providers and company domains, a few internationalised ones.
DOMAINS = [
    ("gmail.com", 30), ("yahoo.com", 10), ("outlook.com", 10), ("hotmail.com", 8),
    ("gmx.de", 5), ("example.com", 10), ("acme-corp.de", 8), ("mail.example.org", 8),
    ("company.co.uk", 5), ("startup.io", 5), ("bücher.de", 1),
]  # fmt: skip
INVALID = ["{u}(at){d}", "{u}@", "@{d}", "{u}..x@{d}", "{u}@{d}.", "{u} x@{d}", "{u}@@{d}"]
CITIES = ["Berlin", "Köln", "Paris", "Málaga", "Rome", "Oslo", "New York, NY", "São Paulo"]
SAMPLE_EVERY = 10_000  # rows between two memory readings


def write_list(path: Path, rows: int, seed: int = 7, forms: float = 0.0) -> None:
    """The benchmark list, streamed to ``path``; ``forms``: the share of dressed addresses."""
    rng = random.Random(seed)
    issued: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("id,first_name,last_name,email,company,city\r\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = _email(rng, i, first, issued)
            if forms and rng.random() < forms:
                email = _dressed(rng, first, last, email)
            city = rng.choice(CITIES)
            city = f'"{city}"' if "," in city else city
            fh.write(f"{i},{first},{last},{email},{last} & Co {i % 997},{city}\r\n")


_DOMAIN_NAMES = [name for name, _ in DOMAINS]
_DOMAIN_WEIGHTS = [weight for _, weight in DOMAINS]


def _ascii(name: str) -> str:
    """A name as it appears in most addresses: lower case, accents dropped."""
    return unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()


def _email(rng: random.Random, i: int, first: str, issued: list[str]) -> str:
    roll = rng.random()
    if roll < 0.05 and issued:
        again = rng.choice(issued)
        local, domain = again.split("@")
        return f"{local}@{domain.upper()}" if roll < 0.025 else again
    user = f"{_ascii(first)}.{i}"
    domain = rng.choices(_DOMAIN_NAMES, _DOMAIN_WEIGHTS)[0]
    if roll < 0.06:
        return rng.choice(INVALID).format(u=user, d=domain)
    email = f"{user}@{domain}"
    if len(issued) < 100_000:
        issued.append(email)
    return email


def _dressed(rng: random.Random, first: str, last: str, email: str) -> str:
    """``email`` as a mail client or CRM writes it, quoted for CSV."""
    form = rng.randrange(4)
    if form == 0:
        return f"{first} {last} <{email}>"
    if form == 1:
        return f'"""{last}, {first}"" <{email}>"'
    if form == 2:
        return f"mailto:{email}"
    return f"{email} ({first})"


def measure(path: Path) -> None:
    process = psutil.Process()
    started, cpu_started = time.perf_counter(), time.process_time()
    layout = sniff_layout(path, filename=path.name)
    sniffed, cpu_sniffed = time.perf_counter(), time.process_time()
    baseline = peak = process.memory_info().rss
    stats = IntakeStats()
    for n, _row in enumerate(read_list(path, layout, stats)):
        if n % SAMPLE_EVERY == 0:
            peak = max(peak, process.memory_info().rss)
    peak = max(peak, process.memory_info().rss)
    done, cpu_done = time.perf_counter(), time.process_time()

    read_wall, read_cpu = done - sniffed, cpu_done - cpu_sniffed
    print(f"file            {path.stat().st_size / 1e6:.1f} MB, {stats.rows:,} data rows")
    print(f"layout          {layout.format}, {layout.encoding}, column {layout.email_column}")
    print(
        f"stats           unique {stats.unique:,}, duplicates {stats.duplicates:,}, "
        f"invalid {stats.syntax_invalid:,}, blank {stats.blank:,}"
    )
    print(f"sniff_layout    {sniffed - started:.2f} s wall, {cpu_sniffed - cpu_started:.2f} s CPU")
    print(f"read_list       {read_wall:.2f} s wall, {read_cpu:.2f} s CPU")
    print(
        f"throughput      {stats.rows / read_wall:,.0f} rows/s wall, "
        f"{stats.rows / read_cpu:,.0f} rows/s CPU"
    )
    print(
        f"memory          peak RSS {peak / 2**20:.0f} MB, {(peak - baseline) / 2**20:.0f} MB growth"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--forms", type=float, default=0.0, help="share of dressed addresses")
    parser.add_argument("--keep", type=Path, help="write the list here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailsift-intake-") as scratch:
        path = (args.keep or Path(scratch)) / "intake-bench.csv"
        began = time.perf_counter()
        write_list(path, args.rows, forms=args.forms)
        print(f"generated       {time.perf_counter() - began:.1f} s")
        measure(path)


if __name__ == "__main__":
    main()
