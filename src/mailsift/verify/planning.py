"""Planning: the list's addresses grouped by domain, each domain resolved to endpoints.

Duplicates (however the list spells them) become one item answered once per spelling; a
domain is resolved once, and unless its accept-all finding is already known, a local part
nobody was ever given is asked alongside its addresses.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailsift.verify.address import ParsedAddress, SyntaxProblem, parse_address
from mailsift.verify.dns import MailRoute, RouteStatus
from mailsift.verify.errors import ConnectFailed, Stage
from mailsift.verify.run_state import Domain, Item
from mailsift.verify.session import Endpoint
from mailsift.verify.verdict import Evidence

if TYPE_CHECKING:
    from mailsift.verify.engine import Verifier
    from mailsift.verify.settling import Settler

log = logging.getLogger(__name__)

_ADDRESSES_PER_HOST = 2  # failover across a host's IPs, but not through dozens of them
_MAX_ENDPOINTS = 6
_DNS_CONCURRENCY = 64


def never_issued_local_part(domain: str, sender: str) -> str:
    """A local part no one was ever given, the same for a domain all month long.

    Stable so that a greylisting server, which remembers (client, sender, recipient), lets
    the retry through, whichever worker makes it.
    """
    month = datetime.now(UTC).strftime("%Y%m")
    digest = hashlib.sha256(f"{sender}|{domain}|{month}".encode()).hexdigest()
    return "x" + digest[:19]


def group_by_domain(
    addresses: Iterable[str], on_syntax_problem: Callable[[SyntaxProblem], None]
) -> tuple[int, dict[str, tuple[Domain, list[Item]]]]:
    """Count the inputs and group the well-formed ones: one item per normalised address."""
    expected = 0
    by_domain: dict[str, tuple[Domain, list[Item]]] = {}
    items: dict[str, Item] = {}
    for text in addresses:
        expected += 1
        parsed = parse_address(text)
        if isinstance(parsed, SyntaxProblem):
            on_syntax_problem(parsed)
            continue
        item = items.get(parsed.normalized)
        if item is None:
            group = by_domain.get(parsed.domain)
            if group is None:
                group = by_domain[parsed.domain] = (Domain(parsed.domain), [])
            item = items[parsed.normalized] = Item(group[0], parsed.normalized, parsed)
            group[1].append(item)
        item.givens.append(parsed.given)
    return expected, by_domain


class Planner:
    """Resolves each domain and hands its items (and probe) to the host queues."""

    def __init__(
        self, verifier: Verifier, settler: Settler, enqueue: Callable[[Item], None]
    ) -> None:
        self.verifier = verifier
        self.options = verifier.options
        self.settler = settler
        self.enqueue = enqueue
        self.dns_slots = asyncio.Semaphore(_DNS_CONCURRENCY)

    async def start_domain(self, domain: Domain, items: list[Item]) -> None:
        try:
            async with self.dns_slots:
                domain.route = await self.verifier.resolver.mail_route(domain.name)
            self.plan_domain(domain, items)
        except Exception as exc:  # never lose an address to a bug
            log.exception("planning %s failed", domain.name)
            for item in items:
                if item.givens:
                    self.settler.unexpected(item, exc)

    def plan_domain(self, domain: Domain, items: list[Item]) -> None:
        route = domain.route
        assert route is not None
        first_address = items[0].address
        assert first_address is not None
        if route.status is not RouteStatus.OK or first_address.disposable:
            for item in items:
                self.settler.finish(
                    item, Evidence(route=route.status, disposable=first_address.disposable)
                )
            return
        domain.endpoints = endpoints_of(route, self.options.smtp_port)
        if not domain.endpoints:
            nowhere = ConnectFailed(Stage.CONNECT, route.detail or "no address to connect to")
            for item in items:
                item.heard(nowhere)
                self.settler.finish(item, self.settler.evidence(item))
            return
        domain.accept_all = self.verifier.known_accept_all(domain.name)
        if domain.accept_all is None:
            local_part = never_issued_local_part(domain.name, self.options.envelope_sender)
            probe = Item(domain, f"{local_part}@{domain.name}", None)
            domain.probe = probe
            items = [probe, *items]
        domain.in_flight = len(items)
        for item in items:
            self.enqueue(item)


def endpoints_of(route: MailRoute, port: int) -> tuple[Endpoint, ...]:
    endpoints: list[Endpoint] = []
    for host in route.hosts:
        for address in host.addresses[:_ADDRESSES_PER_HOST]:
            endpoints.append(Endpoint(host.name, address, port))
    return tuple(endpoints[:_MAX_ENDPOINTS])


def parsed_or_none(address: str) -> ParsedAddress | None:
    parsed = parse_address(address)
    return parsed if isinstance(parsed, ParsedAddress) else None
