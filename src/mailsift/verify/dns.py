"""Where mail for a domain goes: MX lookup, null MX and implicit MX, behind a small resolver port.

``Resolver`` is the port the engine depends on; ``DnsResolver`` is its dnspython adapter, with its
own TTL caches (injectable clock) for MX answers and mail host addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdtypes.ANY.MX
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver

MAX_TTL = 86_400.0  # nothing is trusted for longer than a day
FAILURE_TTL = 30.0  # SERVFAIL and timeouts: retried soon, but not hammered
NEGATIVE_TTL_WITHOUT_SOA = 300.0
_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: no IP fragmentation
_PER_TRY_TIMEOUT = 2.0  # one nameserver's chance before the next is tried


class RouteStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NULL_MX = "null_mx"
    NO_MAIL_HOST = "no_mail_host"
    DNS_ERROR = "dns_error"
    DNS_TIMEOUT = "dns_timeout"


@dataclass(frozen=True, slots=True)
class MailHost:
    """One mail server of a domain. ``addresses``: its A then AAAA records, possibly none."""

    name: str
    preference: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailRoute:
    """Where mail for ``domain`` goes: ``hosts`` in the order to try them.

    ``implicit`` means the domain has no MX and its own address is the mail host
    (RFC 5321 §5.1). ``detail`` says in a short sentence what was found.
    """

    domain: str
    status: RouteStatus
    hosts: tuple[MailHost, ...] = ()
    implicit: bool = False
    detail: str = ""


class Resolver(Protocol):
    """The engine's view of DNS."""

    async def mail_route(self, domain: str) -> MailRoute: ...


def parse_nameserver(entry: str) -> tuple[str, int]:
    """``"1.2.3.4"``, ``"1.2.3.4:5353"``, ``"::1"`` or ``"[::1]:5353"`` -> (address, port).

    Raises ``ValueError`` naming the entry when it is anything else.
    """
    text = entry.strip()
    host, port, bracketed = text, None, text.startswith("[")
    if bracketed:
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise _bad_nameserver(entry)
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise _bad_nameserver(entry) from None
    if bracketed and address.version != 6:
        raise _bad_nameserver(entry)
    if port is None:
        return str(address), 53
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise _bad_nameserver(entry)
    return str(address), int(port)


def _bad_nameserver(entry: str) -> ValueError:
    return ValueError(
        f"bad DNS nameserver {entry!r}: expected an IP address with an optional port, "
        'as in "1.2.3.4", "1.2.3.4:5353", "::1" or "[::1]:5353"'
    )


class _Outcome(StrEnum):
    FOUND = "found"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    ERROR = "error"
    TIMEOUT = "timeout"


_FAILED_ROUTE = {
    _Outcome.NXDOMAIN: RouteStatus.NXDOMAIN,
    _Outcome.ERROR: RouteStatus.DNS_ERROR,
    _Outcome.TIMEOUT: RouteStatus.DNS_TIMEOUT,
}


@dataclass(frozen=True, slots=True)
class _Lookup:
    """One query's outcome; ``ttl`` is how long it may be cached."""

    outcome: _Outcome
    records: tuple[dns.rdata.Rdata, ...]
    ttl: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Addresses:
    """A host's A and AAAA lookups combined."""

    outcome: _Outcome
    addresses: tuple[str, ...]
    ttl: float
    detail: str = ""


class _Expiring(Protocol):
    @property
    def ttl(self) -> float: ...


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=_Expiring)


class _TtlCache(Generic[K, V]):
    """A bounded LRU cache of values that expire after their ``ttl``.

    Concurrent misses of one key share a single fetch.
    """

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._pending: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K, fetch: Callable[[], Coroutine[object, object, V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            if expires > self._clock():
                self._entries.move_to_end(key)
                return value
            del self._entries[key]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.create_task(self._fill(key, fetch()))
            self._pending[key] = pending
        # Shielded: one caller giving up must not cancel the lookup the others wait for.
        return await asyncio.shield(pending)

    async def _fill(self, key: K, fetching: Coroutine[object, object, V]) -> V:
        try:
            value = await fetching
        finally:
            del self._pending[key]
        self._entries[key] = (self._clock() + min(value.ttl, MAX_TTL), value)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value


class DnsResolver:
    """``Resolver`` over dnspython's asyncio resolver, with TTL caches.

    ``nameservers`` empty means the system's (/etc/resolv.conf). ``timeout`` bounds each DNS
    query. MX answers and host addresses are cached separately (many domains share mail
    hosts), each up to ``cache_size`` entries.
    """

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = 5.0,
        cache_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"DNS timeout must be positive, not {timeout}")
        if cache_size < 0:
            raise ValueError(f"DNS cache size must not be negative, not {cache_size}")
        if isinstance(nameservers, str):
            nameservers = [nameservers]
        self._dns = dnspython_resolver([parse_nameserver(e) for e in nameservers], timeout)
        self._timeout = timeout
        self._mx: _TtlCache[str, _Lookup] = _TtlCache(cache_size, clock)
        self._hosts: _TtlCache[str, _Addresses] = _TtlCache(cache_size, clock)

    async def mail_route(self, domain: str) -> MailRoute:
        """The mail route of ``domain`` (lower-case ASCII); DNS failures come back as a status."""
        name = domain.lower().rstrip(".")
        if not _is_dns_name(name):
            return MailRoute(name, RouteStatus.NXDOMAIN, detail=f"{domain!r} is not a domain name")
        mx = await self._mx.get(name, lambda: self._query(name, "MX"))
        if mx.outcome is _Outcome.FOUND:
            return await self._mx_route(name, mx.records)
        if mx.outcome is _Outcome.NODATA:
            return await self._implicit_route(name)
        return MailRoute(name, _FAILED_ROUTE[mx.outcome], detail=mx.detail)

    async def _mx_route(self, domain: str, records: tuple[dns.rdata.Rdata, ...]) -> MailRoute:
        exchanges = _exchanges(records)
        if _is_null_mx(records):
            detail = f"{domain} accepts no mail (null MX)"
            return MailRoute(domain, RouteStatus.NULL_MX, detail=detail)
        if not exchanges:
            detail = f"the MX records of {domain} name no host"
            return MailRoute(domain, RouteStatus.NO_MAIL_HOST, detail=detail)
        found = await asyncio.gather(*(self._addresses(host) for _, host in exchanges))
        hosts = tuple(
            MailHost(host, preference, lookup.addresses)
            for (preference, host), lookup in zip(exchanges, found, strict=True)
        )
        status, detail = _judge_hosts(domain, hosts, found)
        return MailRoute(domain, status, hosts, implicit=False, detail=detail)

    async def _implicit_route(self, domain: str) -> MailRoute:
        found = await self._addresses(domain)
        if found.addresses:
            host = MailHost(domain, 0, found.addresses)
            detail = f"{domain} has no MX; its own address receives mail (implicit MX)"
            return MailRoute(domain, RouteStatus.OK, (host,), implicit=True, detail=detail)
        if found.outcome in (_Outcome.ERROR, _Outcome.TIMEOUT):
            return MailRoute(domain, _FAILED_ROUTE[found.outcome], detail=found.detail)
        detail = f"{domain} has no MX and no address"
        return MailRoute(domain, RouteStatus.NO_MAIL_HOST, detail=detail)

    async def _addresses(self, host: str) -> _Addresses:
        return await self._hosts.get(host, lambda: self._resolve_addresses(host))

    async def _resolve_addresses(self, host: str) -> _Addresses:
        a, aaaa = await asyncio.gather(self._query(host, "A"), self._query(host, "AAAA"))
        addresses = tuple(_address(record) for record in (*a.records, *aaaa.records))
        ttl = min(a.ttl, aaaa.ttl)
        if addresses:
            return _Addresses(_Outcome.FOUND, addresses, ttl)
        for failure in (_Outcome.TIMEOUT, _Outcome.ERROR):
            for lookup in (a, aaaa):
                if lookup.outcome is failure:
                    return _Addresses(failure, (), ttl, lookup.detail)
        return _Addresses(a.outcome, (), ttl, f"{host} has no address")

    async def _query(self, name: str, rdtype: str) -> _Lookup:
        """One DNS query; every DNS outcome, failures included, is a ``_Lookup``."""
        what = f"{name} {rdtype}"
        try:
            answer = await self._dns.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as exc:
            return _Lookup(_Outcome.NXDOMAIN, (), _negative_ttl(exc), f"{name} does not exist")
        except dns.exception.Timeout:
            detail = f"DNS lookup of {what} timed out after {self._timeout:g} s"
            return _Lookup(_Outcome.TIMEOUT, (), FAILURE_TTL, detail)
        except dns.resolver.NoNameservers as exc:
            detail = f"DNS server failure looking up {what}{_failure_reasons(exc)}"
            return _Lookup(_Outcome.ERROR, (), FAILURE_TTL, detail)
        except dns.exception.DNSException as exc:
            return _Lookup(_Outcome.ERROR, (), FAILURE_TTL, f"DNS lookup of {what} failed: {exc}")
        ttl = float(answer.chaining_result.minimum_ttl)
        if answer.rrset is None:
            return _Lookup(_Outcome.NODATA, (), ttl, f"{name} has no {rdtype} record")
        return _Lookup(_Outcome.FOUND, tuple(answer.rrset), ttl)


def dnspython_resolver(
    nameservers: Sequence[tuple[str, int]], timeout: float
) -> dns.asyncresolver.Resolver:
    """dnspython's resolver, at ``nameservers`` (none: the system's), uncached."""
    resolver = dns.asyncresolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in nameservers]
    resolver.cache = None  # mailsift caches with its own clock and rules
    resolver.lifetime = timeout
    # Leave every nameserver a chance within the lifetime: a dead one just times out.
    resolver.timeout = min(timeout / max(len(resolver.nameservers), 1), _PER_TRY_TIMEOUT)
    resolver.use_edns(0, 0, _EDNS_PAYLOAD)
    return resolver


def _is_dns_name(name: str) -> bool:
    if not name:
        return False
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        return False
    return True


def _exchanges(records: tuple[dns.rdata.Rdata, ...]) -> list[tuple[int, str]]:
    """(preference, host) in the order to try them, each host once, the root name left out."""
    best: dict[str, int] = {}
    for record in records:
        if isinstance(record, dns.rdtypes.ANY.MX.MX) and record.exchange != dns.name.root:
            host = record.exchange.to_text(omit_final_dot=True).lower()
            best[host] = min(record.preference, best.get(host, record.preference))
    return sorted((preference, host) for host, preference in best.items())


def _is_null_mx(records: tuple[dns.rdata.Rdata, ...]) -> bool:
    """RFC 7505: a single MX record, preference 0, exchange "."."""
    if len(records) != 1 or not isinstance(records[0], dns.rdtypes.ANY.MX.MX):
        return False
    return records[0].preference == 0 and records[0].exchange == dns.name.root


def _judge_hosts(
    domain: str, hosts: tuple[MailHost, ...], found: Sequence[_Addresses]
) -> tuple[RouteStatus, str]:
    """A route is usable when one MX host has an address; else the likeliest reason why not."""
    unresolved = sum(1 for host in hosts if not host.addresses)
    if unresolved < len(hosts):
        detail = f"{domain} has {len(hosts)} MX host{'s' if len(hosts) > 1 else ''}"
        return RouteStatus.OK, detail + (f", {unresolved} without address" if unresolved else "")
    for failure in (_Outcome.TIMEOUT, _Outcome.ERROR):
        for lookup in found:
            if lookup.outcome is failure:
                return _FAILED_ROUTE[failure], lookup.detail
    if len(hosts) == 1:
        return RouteStatus.NO_MAIL_HOST, f"{hosts[0].name} has no address"
    return RouteStatus.NO_MAIL_HOST, f"none of the {len(hosts)} MX hosts of {domain} has an address"


def _address(record: dns.rdata.Rdata) -> str:
    assert isinstance(record, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
    return str(record.address)


def _negative_ttl(exc: dns.resolver.NXDOMAIN) -> float:
    """RFC 2308: the SOA's TTL and minimum bound how long a negative answer is kept."""
    responses: dict[dns.name.Name, dns.message.QueryMessage] = exc.kwargs.get("responses", {})
    for response in responses.values():
        with contextlib.suppress(dns.exception.DNSException):
            return float(response.resolve_chaining().minimum_ttl)
    return NEGATIVE_TTL_WITHOUT_SOA


def _failure_reasons(exc: dns.resolver.NoNameservers) -> str:
    """`` (SERVFAIL)``, `` (REFUSED)``... from what each nameserver did."""
    errors = exc.kwargs.get("errors", [])
    reasons = sorted({str(error[3]) for error in errors if len(error) > 3})
    return f" ({', '.join(reasons)})" if reasons else ""
