"""A DNS server on loopback that answers like a recursive resolver of the real internet.

It serves one ``Zone`` over UDP and TCP on the same port: records, CNAME chasing, NXDOMAIN and
NODATA with an SOA in the authority section, truncation over UDP, SERVFAIL and silent names.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset

_MAX_CHAIN = 8
_UDP_DEFAULT_SIZE = 512
_SOA_RDATA = "ns.mailworld.test. hostmaster.mailworld.test. 1 1800 900 604800 {ttl}"


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _parents(key: str) -> list[str]:
    """``a.b.test`` -> ``["a.b.test", "b.test", "test"]``."""
    labels = key.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


@dataclass
class Zone:
    """Every name the fake internet knows. Owner names are case-insensitive, with or without
    trailing dot.

    ``negative_ttl`` is the SOA minimum sent with NXDOMAIN / NODATA answers; ``None`` sends no SOA.
    """

    negative_ttl: int | None = 60
    records: dict[str, dict[dns.rdatatype.RdataType, dns.rrset.RRset]] = field(default_factory=dict)
    servfail_names: set[str] = field(default_factory=set)
    silent_names: set[str] = field(default_factory=set)
    # Owner names and all their ancestors: these exist (an empty non-terminal is not NXDOMAIN).
    _existing: set[str] = field(default_factory=set, repr=False)

    def add(self, name: str, rdtype: str, rdata: str, ttl: int = 300) -> None:
        """Add one record, e.g. ``add("ok.test", "MX", "10 mx1.ok.test.")``.

        Names inside ``rdata`` are taken as absolute, with or without the trailing dot.
        """
        key = _key(name)
        rtype = dns.rdatatype.from_text(rdtype)
        record = dns.rdata.from_text(
            dns.rdataclass.IN, rtype, rdata, origin=dns.name.root, relativize=False
        )
        by_type = self.records.setdefault(key, {})
        rrset = by_type.get(rtype)
        if rrset is None:
            rrset = dns.rrset.RRset(dns.name.from_text(key), dns.rdataclass.IN, rtype)
            by_type[rtype] = rrset
        rrset.add(record, ttl)
        self._existing.update(_parents(key))

    def servfail(self, name: str) -> None:
        """Queries for this name get SERVFAIL."""
        self.servfail_names.add(_key(name))

    def silent(self, name: str) -> None:
        """Queries for this name are never answered."""
        self.silent_names.add(_key(name))

    def exists(self, name: str) -> bool:
        return _key(name) in self._existing

    def soa_for(self, key: str) -> dns.rrset.RRset | None:
        """The SOA a resolver would put in a negative answer: the top-level domain's."""
        if self.negative_ttl is None:
            return None
        owner = dns.name.from_text(key.rsplit(".", 1)[-1] or ".")
        text = _SOA_RDATA.format(ttl=self.negative_ttl)
        return dns.rrset.from_text(owner, self.negative_ttl, "IN", "SOA", text)


@dataclass
class _Reply:
    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset]
    authority: list[dns.rrset.RRset]


def _resolve(zone: Zone, qname: str, rdtype: dns.rdatatype.RdataType) -> _Reply | None:
    """What a recursive resolver answers for ``qname``/``rdtype``; ``None`` means silence."""
    chain: list[dns.rrset.RRset] = []
    key = _key(qname)
    for _ in range(_MAX_CHAIN):
        if key in zone.silent_names:
            return None
        if key in zone.servfail_names:
            return _Reply(dns.rcode.SERVFAIL, [], [])
        by_type = zone.records.get(key, {})
        if rdtype in by_type:
            return _Reply(dns.rcode.NOERROR, [*chain, by_type[rdtype]], [])
        cname = by_type.get(dns.rdatatype.CNAME)
        if cname is None or rdtype == dns.rdatatype.CNAME:
            rcode = dns.rcode.NOERROR if zone.exists(key) else dns.rcode.NXDOMAIN
            soa = zone.soa_for(key)
            return _Reply(rcode, chain, [soa] if soa is not None else [])
        chain.append(cname)
        target = next(iter(cname))
        assert isinstance(target, dns.rdtypes.ANY.CNAME.CNAME)
        key = _key(target.target.to_text())
    return _Reply(dns.rcode.SERVFAIL, [], [])  # a CNAME loop


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's datagram transport does not subclass DatagramTransport, but is one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._server._spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        wire = await self._server._answer(data, tcp=False)
        if wire is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)


class DnsServer:
    """Serves a ``Zone`` on ``host`` over UDP and TCP (same port), like a recursive resolver.

    ``queries`` counts every query received, by (lower-cased name without trailing dot, type);
    ``tcp_queries`` counts those that came over TCP.
    """

    def __init__(
        self, zone: Zone, host: str = "127.0.0.1", port: int = 0, answer_delay: float = 0.0
    ) -> None:
        self.zone = zone
        self.host = host
        self.port = port
        self.answer_delay = answer_delay
        self.queries: collections.Counter[tuple[str, str]] = collections.Counter()
        self.tcp_queries: collections.Counter[tuple[str, str]] = collections.Counter()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Bind UDP and TCP on one port (port 0: a free one, tried until both bind)."""
        for _ in range(50):
            udp = await self._bind_udp(self.port)
            bound = int(udp.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, bound)
            except OSError:
                udp.close()
                if self.port:
                    raise
                continue
            self._udp, self.port = udp, bound
            return
        raise OSError(f"no port free for both UDP and TCP on {self.host}")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._udp = self._tcp = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _bind_udp(self, port: int) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.host, port)
        )
        return transport

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._tasks.add(handler)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                wire = await self._answer(await reader.readexactly(size), tcp=True)
                if wire is not None:
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if handler is not None:
                self._tasks.discard(handler)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The wire answer to one query, or ``None`` to stay silent."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None  # not DNS: a real server drops it too
        if query.flags & dns.flags.QR or len(query.question) != 1:
            return None
        question = query.question[0]
        name, rdtype = _key(question.name.to_text()), question.rdtype
        self.queries[(name, dns.rdatatype.to_text(rdtype))] += 1
        if tcp:
            self.tcp_queries[(name, dns.rdatatype.to_text(rdtype))] += 1
        reply = _resolve(self.zone, name, rdtype)
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        if reply is None:
            return None
        response = dns.message.make_response(query, recursion_available=True)
        response.set_rcode(reply.rcode)
        response.answer.extend(reply.answer)
        response.authority.extend(reply.authority)
        if tcp:
            return response.to_wire(max_size=65535)
        limit = max(query.payload, _UDP_DEFAULT_SIZE) if query.edns >= 0 else _UDP_DEFAULT_SIZE
        return response.to_wire(max_size=limit, prefer_truncation=True)
