"""py3-validate-email on the benchmark's world, under the same per-server limit as mailsift.

py3-validate-email checks one address per call and per SMTP connection (greeting, EHLO, MAIL,
RCPT, QUIT), after its own MX lookup. Here a thread pool calls it on every address of the list
(shuffled, as lists come), and a semaphore of ``per_host`` per mail server guards each call, so
that no server sees more connections at once than mailsift may open.

It is pointed at the world without changing how it works: dnspython's default resolver asks
the world's DNS server, and its SMTP client (``smtplib``) connects to the world's port,
resolving the MX host name through that same DNS server.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.nameserver
import dns.resolver

from bench.world import WorldPlan, WorldPorts, WorldProcess

HELO_NAME = "probe.mailsift.test"
MAIL_FROM = "verify@mailsift.test"
DNS_TIMEOUT = 5.0
SMTP_TIMEOUT = 10.0
_ANSWERS = {True: "valid", False: "invalid", None: "ambiguous"}

Validate = Callable[..., bool | None]


def point_at_world(ports: WorldPorts) -> Validate:
    """Import py3-validate-email aimed at the world; return its ``validate_email``."""
    # Without this, importing it starts a download of its blocklist from the internet.
    os.environ["PY3VE_IGNORE_UPDATER"] = "1"
    from validate_email import smtp_check, validate_email

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", ports.dns)]
    dns.resolver.default_resolver = resolver

    def world_socket(self: Any, host: str, port: int, timeout: float) -> socket.socket:
        address = str(dns.resolver.resolve(host, "A", lifetime=DNS_TIMEOUT)[0])
        return socket.create_connection((address, port), timeout)

    smtp_check._SMTPChecker.default_port = ports.smtp
    smtp_check._SMTPChecker._get_socket = world_socket
    validate: Validate = validate_email
    return validate


class _Tally:
    """Answers given before the deadline, counted from many threads."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.answers: Counter[str] = Counter()
        self.last = 0.0
        self._lock = threading.Lock()

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def add(self, answer: bool | None) -> None:
        finished = time.monotonic()
        if finished > self.deadline:
            return
        with self._lock:
            self.answers[_ANSWERS[answer]] += 1
            self.last = max(self.last, finished)


def run_validate_email(
    plan: WorldPlan,
    ports: WorldPorts,
    *,
    seconds: float,
    per_host: int,
    threads: int,
) -> dict[str, Any]:
    """Validate the list for ``seconds`` (0: to the end); return what got done."""
    validate = point_at_world(ports)
    server_of = {domain.name: domain.server for domain in plan.domains}
    guards = {server.name: threading.BoundedSemaphore(per_host) for server in plan.servers}
    started = time.monotonic()
    tally = _Tally(started + seconds if seconds > 0 else float("inf"))

    def check(address: str) -> None:
        if tally.expired():
            return
        server = server_of.get(address.rpartition("@")[2].lower())
        with guards[server] if server else contextlib.nullcontext():
            if tally.expired():
                return
            answer = validate(
                address,
                smtp_helo_host=HELO_NAME,
                smtp_from_address=MAIL_FROM,
                dns_timeout=DNS_TIMEOUT,
                smtp_timeout=SMTP_TIMEOUT,
            )
        tally.add(answer)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="validate") as pool:
        for future in [pool.submit(check, address) for address in plan.addresses]:
            future.result()
    completed = sum(tally.answers.values())
    elapsed = seconds if seconds > 0 and completed < len(plan.addresses) else tally.last - started
    rate = completed / elapsed if elapsed > 0 else 0.0
    return {
        "version": importlib.metadata.version("py3-validate-email"),
        "addresses": len(plan.addresses),
        "threads": threads,
        "budget_seconds": seconds,
        "completed": completed,
        "elapsed_seconds": round(elapsed, 2),
        "addresses_per_second": round(rate, 2),
        "projected_seconds": round(len(plan.addresses) / rate, 1) if rate else None,
        "answers": dict(tally.answers),
    }


def compare(
    plan: WorldPlan, label: str, seconds: float, *, per_host: int, per_session: int, threads: int
) -> dict[str, Any]:
    """Serve ``plan`` afresh and run py3-validate-email on it; the servers' counters included."""
    print(f"[{label}] py3-validate-email, {seconds:g} s budget...", flush=True)
    world = WorldProcess(plan, per_host=per_host, per_session=per_session)
    ports = world.start()
    try:
        outcome = run_validate_email(
            plan, ports, seconds=seconds, per_host=per_host, threads=threads
        )
    finally:
        counters = world.stop()
    return {"label": label, **outcome, "world": counters}
