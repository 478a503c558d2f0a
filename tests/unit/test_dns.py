"""The resolver adapter and the mail world's DNS server, over real UDP/TCP on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from mailsift.verify.dns import DnsResolver, MailHost, MailRoute, RouteStatus, parse_nameserver
from tests.mailworld.dns_server import DnsServer, Zone

BIG_MX_COUNT = 40  # about 1.9 kB of MX records: over the resolver's 1232-byte EDNS size
MEDIUM_MX_COUNT = 15  # about 0.7 kB: over plain DNS's 512 bytes, within EDNS


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def build_zone() -> Zone:
    zone = Zone()
    # MX preference order, then name order on ties.
    zone.add("ok.test", "MX", "20 mx-b.ok.test.")
    zone.add("ok.test", "MX", "10 mx-c.ok.test.")
    zone.add("ok.test", "MX", "10 mx-a.ok.test")
    zone.add("mx-a.ok.test", "AAAA", "::1")
    zone.add("mx-a.ok.test", "A", "127.0.0.2")
    zone.add("mx-b.ok.test", "A", "127.0.0.3")
    zone.add("mx-c.ok.test", "A", "127.0.0.4")
    zone.add("half.test", "MX", "10 mx.half.test.")
    zone.add("half.test", "MX", "20 gone.half.test.")
    zone.add("mx.half.test", "A", "127.0.0.5")
    zone.add("dangling.test", "MX", "10 mx.nowhere.test.")
    zone.add("nullmx.test", "MX", "0 .")
    zone.add("dotmx.test", "MX", "10 .")
    zone.add("implicit4.test", "A", "127.0.0.6")
    zone.add("implicit6.test", "AAAA", "::1")
    zone.add("txtonly.test", "TXT", '"v=spf1 -all"')
    zone.servfail("broken.test")
    zone.silent("slow.test")
    zone.add("slowmx.test", "MX", "10 mx.slowmx.test.")
    zone.silent("mx.slowmx.test")
    zone.add("failmx.test", "MX", "10 mx.failmx.test.")
    zone.servfail("mx.failmx.test")
    zone.add("alias.test", "MX", "10 mail.alias.test.")
    zone.add("mail.alias.test", "CNAME", "real.other.test.")
    zone.add("real.other.test", "A", "127.0.0.7")
    zone.add("xn--bcher-kva.test", "MX", "10 mx.xn--bcher-kva.test.")
    zone.add("mx.xn--bcher-kva.test", "A", "127.0.0.8")
    for domain in ("a.shared.test", "b.shared.test", "c.shared.test"):
        zone.add(domain, "MX", "10 mx.provider.test.")
    zone.add("mx.provider.test", "A", "127.0.0.9")
    zone.add("mx.provider.test", "AAAA", "::1")
    zone.add("ttl.test", "MX", "10 mx.ttl.test.", ttl=300)
    zone.add("mx.ttl.test", "A", "127.0.0.10", ttl=3600)
    zone.add("mx.ttl.test", "AAAA", "::1", ttl=3600)
    zone.add("week.test", "MX", "10 mx.provider.test.", ttl=7 * 86_400)
    for i in range(BIG_MX_COUNT):
        zone.add("big.test", "MX", f"{i} mail-exchanger-host-number-{i:02d}.big.test.")
    zone.add("mail-exchanger-host-number-00.big.test", "A", "127.0.0.11")
    for i in range(MEDIUM_MX_COUNT):
        zone.add("medium.test", "MX", f"{i} mail-exchanger-host-number-{i:02d}.big.test.")
    return zone


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    async with DnsServer(build_zone()) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def resolver(server: DnsServer, clock: FakeClock) -> DnsResolver:
    return DnsResolver([f"127.0.0.1:{server.port}"], timeout=1.0, clock=clock)


def closed_udp_port() -> int:
    """A loopback port nothing listens on: queries to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- routes -------------------------------------------------------------------------------------


async def test_mx_hosts_sorted_by_preference_then_name(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("ok.test")
    assert route.status is RouteStatus.OK
    assert not route.implicit
    assert [(h.preference, h.name) for h in route.hosts] == [
        (10, "mx-a.ok.test"),
        (10, "mx-c.ok.test"),
        (20, "mx-b.ok.test"),
    ]
    assert route.detail == "ok.test has 3 MX hosts"


async def test_host_addresses_list_a_before_aaaa(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("ok.test")
    assert route.hosts[0] == MailHost("mx-a.ok.test", 10, ("127.0.0.2", "::1"))
    assert route.hosts[2].addresses == ("127.0.0.3",)


async def test_mx_host_without_address_keeps_empty_addresses(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("half.test")
    assert route.status is RouteStatus.OK
    assert route.hosts == (
        MailHost("mx.half.test", 10, ("127.0.0.5",)),
        MailHost("gone.half.test", 20, ()),
    )
    assert "1 without address" in route.detail


async def test_mx_hosts_none_with_address_is_no_mail_host(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("dangling.test")
    assert route.status is RouteStatus.NO_MAIL_HOST
    assert route.hosts == (MailHost("mx.nowhere.test", 10, ()),)
    assert route.detail == "mx.nowhere.test has no address"


async def test_nxdomain(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("nope.test")
    assert route == MailRoute(
        "nope.test", RouteStatus.NXDOMAIN, (), False, "nope.test does not exist"
    )


async def test_null_mx(resolver: DnsResolver, server: DnsServer) -> None:
    route = await resolver.mail_route("nullmx.test")
    assert route.status is RouteStatus.NULL_MX
    assert route.hosts == ()
    assert server.queries[("nullmx.test", "A")] == 0  # no implicit MX fallback


async def test_mx_naming_only_the_root_is_no_mail_host(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("dotmx.test")  # not RFC 7505's form, but no host either
    assert route.status is RouteStatus.NO_MAIL_HOST
    assert route.detail == "the MX records of dotmx.test name no host"


async def test_implicit_mx_via_a(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("implicit4.test")
    assert route.status is RouteStatus.OK
    assert route.implicit
    assert route.hosts == (MailHost("implicit4.test", 0, ("127.0.0.6",)),)


async def test_implicit_mx_via_aaaa_only(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("implicit6.test")
    assert route.status is RouteStatus.OK
    assert route.implicit
    assert route.hosts == (MailHost("implicit6.test", 0, ("::1",)),)


async def test_no_mx_and_no_address_is_no_mail_host(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("txtonly.test")
    assert route.status is RouteStatus.NO_MAIL_HOST
    assert route.hosts == ()
    assert not route.implicit
    assert route.detail == "txtonly.test has no MX and no address"


async def test_servfail_is_dns_error(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("broken.test")
    assert route.status is RouteStatus.DNS_ERROR
    assert route.detail.startswith("DNS server failure")
    assert "SERVFAIL" in route.detail


async def test_silent_name_times_out_within_the_timeout(server: DnsServer) -> None:
    resolver = DnsResolver([f"127.0.0.1:{server.port}"], timeout=0.3)
    # The outer bound only catches a resolver that ignores its own timeout.
    route = await asyncio.wait_for(resolver.mail_route("slow.test"), timeout=5)
    assert route.status is RouteStatus.DNS_TIMEOUT
    assert "timed out" in route.detail


async def test_mx_host_lookup_failures_make_the_route_fail(server: DnsServer) -> None:
    resolver = DnsResolver([f"127.0.0.1:{server.port}"], timeout=0.3)
    slow, failing = await asyncio.gather(
        resolver.mail_route("slowmx.test"), resolver.mail_route("failmx.test")
    )
    assert slow.status is RouteStatus.DNS_TIMEOUT
    assert "mx.slowmx.test" in slow.detail
    assert slow.hosts == (MailHost("mx.slowmx.test", 10, ()),)
    assert failing.status is RouteStatus.DNS_ERROR
    assert "mx.failmx.test" in failing.detail


async def test_cname_mx_host_is_followed(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("alias.test")
    assert route.hosts == (MailHost("mail.alias.test", 10, ("127.0.0.7",)),)


async def test_idn_domain_in_ascii_form(resolver: DnsResolver) -> None:
    route = await resolver.mail_route("xn--bcher-kva.test")
    assert route.status is RouteStatus.OK
    assert route.hosts == (MailHost("mx.xn--bcher-kva.test", 10, ("127.0.0.8",)),)


async def test_domain_is_normalised(resolver: DnsResolver, server: DnsServer) -> None:
    first = await resolver.mail_route("OK.Test.")
    second = await resolver.mail_route("ok.test")
    assert first == second
    assert first.domain == "ok.test"
    assert server.queries[("ok.test", "MX")] == 1


@pytest.mark.parametrize("domain", ["", "a..test", "x" * 64 + ".test"])
async def test_impossible_domain_name_is_nxdomain_without_a_query(
    resolver: DnsResolver, server: DnsServer, domain: str
) -> None:
    route = await resolver.mail_route(domain)
    assert route.status is RouteStatus.NXDOMAIN
    assert sum(server.queries.values()) == 0


async def test_truncated_udp_answer_is_retried_over_tcp(
    resolver: DnsResolver, server: DnsServer
) -> None:
    route = await resolver.mail_route("big.test")
    assert route.status is RouteStatus.OK
    assert len(route.hosts) == BIG_MX_COUNT
    assert route.hosts[0] == MailHost("mail-exchanger-host-number-00.big.test", 0, ("127.0.0.11",))
    assert server.queries[("big.test", "MX")] == 2
    assert server.tcp_queries[("big.test", "MX")] == 1


async def test_resolver_uses_edns_to_avoid_tcp(resolver: DnsResolver, server: DnsServer) -> None:
    route = await resolver.mail_route("medium.test")
    assert len(route.hosts) == MEDIUM_MX_COUNT
    assert server.queries[("medium.test", "MX")] == 1
    assert server.tcp_queries[("medium.test", "MX")] == 0


# --- nameservers --------------------------------------------------------------------------------


async def test_next_nameserver_is_tried_when_one_is_dead(server: DnsServer) -> None:
    dead = f"127.0.0.1:{closed_udp_port()}"
    resolver = DnsResolver([dead, f"127.0.0.1:{server.port}"], timeout=0.4)
    route = await resolver.mail_route("implicit4.test")
    assert route.status is RouteStatus.OK


async def test_next_nameserver_is_tried_after_servfail(server: DnsServer) -> None:
    failing_zone = Zone()
    failing_zone.servfail("implicit4.test")
    async with DnsServer(failing_zone) as failing:
        nameservers = [f"127.0.0.1:{failing.port}", f"127.0.0.1:{server.port}"]
        route = await DnsResolver(nameservers, timeout=1.0).mail_route("implicit4.test")
        assert failing.queries[("implicit4.test", "MX")] == 1
    assert route.status is RouteStatus.OK


async def test_every_nameserver_failing_is_dns_error(server: DnsServer) -> None:
    async with DnsServer(server.zone) as twin:
        nameservers = [f"127.0.0.1:{server.port}", f"127.0.0.1:{twin.port}"]
        route = await DnsResolver(nameservers, timeout=1.0).mail_route("broken.test")
        assert twin.queries[("broken.test", "MX")] == 1
    assert route.status is RouteStatus.DNS_ERROR
    assert server.queries[("broken.test", "MX")] == 1


async def test_dead_nameserver_is_a_timeout() -> None:
    # UDP gives no "connection refused" to the resolver: a dead server is a silent one.
    resolver = DnsResolver([f"127.0.0.1:{closed_udp_port()}"], timeout=0.3)
    route = await resolver.mail_route("ok.test")
    assert route.status is RouteStatus.DNS_TIMEOUT


async def test_ipv6_nameserver_with_port() -> None:
    zone = Zone()
    zone.add("v6.test", "MX", "10 mx.v6.test.")
    zone.add("mx.v6.test", "AAAA", "::1")
    async with DnsServer(zone, host="::1") as v6_server:
        resolver = DnsResolver([f"[::1]:{v6_server.port}"], timeout=1.0)
        route = await resolver.mail_route("v6.test")
    assert route.hosts == (MailHost("mx.v6.test", 10, ("::1",)),)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("1.2.3.4", ("1.2.3.4", 53)),
        ("1.2.3.4:5353", ("1.2.3.4", 5353)),
        (" 10.0.0.1 ", ("10.0.0.1", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[::1]", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_nameserver_entries(entry: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(entry) == expected


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "dns.google",
        "1.2.3.4:",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:53x",
        "1.2.3.4.5",
        ":53",
        "[::1",
        "[::1]53",
        "[::1]:",
        "[1.2.3.4]:53",
        "1.2.3.4:５３",
    ],
)
def test_malformed_nameserver_is_rejected(entry: str) -> None:
    with pytest.raises(ValueError, match="bad DNS nameserver") as caught:
        DnsResolver(["127.0.0.1", entry])
    assert repr(entry) in str(caught.value)


def test_non_positive_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        DnsResolver(["127.0.0.1"], timeout=0)


# --- caching ------------------------------------------------------------------------------------


async def test_route_expires_with_the_mx_ttl(
    resolver: DnsResolver, server: DnsServer, clock: FakeClock
) -> None:
    await resolver.mail_route("ttl.test")
    clock.advance(299)
    await resolver.mail_route("ttl.test")
    assert server.queries[("ttl.test", "MX")] == 1
    clock.advance(2)
    route = await resolver.mail_route("ttl.test")
    assert route.hosts == (MailHost("mx.ttl.test", 10, ("127.0.0.10", "::1")),)
    assert server.queries[("ttl.test", "MX")] == 2
    assert server.queries[("mx.ttl.test", "A")] == 1  # its own TTL (3600) still runs
    clock.advance(3600)
    await resolver.mail_route("ttl.test")
    assert server.queries[("mx.ttl.test", "A")] == 2


async def test_ttl_is_capped_at_one_day(
    resolver: DnsResolver, server: DnsServer, clock: FakeClock
) -> None:
    await resolver.mail_route("week.test")
    clock.advance(86_399)
    await resolver.mail_route("week.test")
    assert server.queries[("week.test", "MX")] == 1
    clock.advance(2)
    await resolver.mail_route("week.test")
    assert server.queries[("week.test", "MX")] == 2


@pytest.mark.parametrize("domain", ["nope.test", "txtonly.test"])
async def test_negative_answers_live_for_the_soa_minimum(
    resolver: DnsResolver, server: DnsServer, clock: FakeClock, domain: str
) -> None:
    await resolver.mail_route(domain)
    clock.advance(59)
    await resolver.mail_route(domain)
    assert server.queries[(domain, "MX")] == 1
    clock.advance(2)
    await resolver.mail_route(domain)
    assert server.queries[(domain, "MX")] == 2


async def test_negative_answer_without_soa_lives_300_seconds(clock: FakeClock) -> None:
    async with DnsServer(Zone(negative_ttl=None)) as bare:
        resolver = DnsResolver([f"127.0.0.1:{bare.port}"], timeout=1.0, clock=clock)
        assert (await resolver.mail_route("nope.test")).status is RouteStatus.NXDOMAIN
        clock.advance(299)
        await resolver.mail_route("nope.test")
        assert bare.queries[("nope.test", "MX")] == 1
        clock.advance(2)
        await resolver.mail_route("nope.test")
        assert bare.queries[("nope.test", "MX")] == 2


async def test_failures_are_cached_briefly(
    resolver: DnsResolver, server: DnsServer, clock: FakeClock
) -> None:
    await resolver.mail_route("broken.test")
    clock.advance(29)
    assert (await resolver.mail_route("broken.test")).status is RouteStatus.DNS_ERROR
    assert server.queries[("broken.test", "MX")] == 1
    clock.advance(2)
    await resolver.mail_route("broken.test")
    assert server.queries[("broken.test", "MX")] == 2


async def test_timeouts_are_cached_briefly(server: DnsServer, clock: FakeClock) -> None:
    resolver = DnsResolver([f"127.0.0.1:{server.port}"], timeout=0.2, clock=clock)
    await resolver.mail_route("slow.test")
    sent = server.queries[("slow.test", "MX")]
    clock.advance(29)
    assert (await resolver.mail_route("slow.test")).status is RouteStatus.DNS_TIMEOUT
    assert server.queries[("slow.test", "MX")] == sent


async def test_concurrent_lookups_share_one_query() -> None:
    async with DnsServer(build_zone(), answer_delay=0.05) as slow_server:
        resolver = DnsResolver([f"127.0.0.1:{slow_server.port}"], timeout=2.0)
        routes = await asyncio.gather(*(resolver.mail_route("ok.test") for _ in range(10)))
        assert all(route == routes[0] for route in routes)
        assert routes[0].status is RouteStatus.OK
        assert slow_server.queries[("ok.test", "MX")] == 1
        assert slow_server.queries[("mx-a.ok.test", "A")] == 1


async def test_host_addresses_are_shared_between_domains(
    resolver: DnsResolver, server: DnsServer
) -> None:
    first = await resolver.mail_route("a.shared.test")
    second = await resolver.mail_route("b.shared.test")
    assert first.hosts == second.hosts == (MailHost("mx.provider.test", 10, ("127.0.0.9", "::1")),)
    assert server.queries[("mx.provider.test", "A")] == 1
    assert server.queries[("mx.provider.test", "AAAA")] == 1


async def test_cache_evicts_the_least_recently_used(server: DnsServer) -> None:
    resolver = DnsResolver([f"127.0.0.1:{server.port}"], timeout=1.0, cache_size=2)
    for domain in ("a", "b", "a", "c", "a", "b"):
        await resolver.mail_route(f"{domain}.shared.test")
    assert server.queries[("a.shared.test", "MX")] == 1  # kept: used again before c came
    assert server.queries[("b.shared.test", "MX")] == 2  # evicted by c
    assert server.queries[("c.shared.test", "MX")] == 1


# --- the mail world's DNS server ----------------------------------------------------------------


async def ask(
    server: DnsServer, name: str, rdtype: str, *, tcp: bool = False, payload: int | None = None
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=payload is not None, payload=payload)
    if tcp:
        return await dns.asyncquery.tcp(query, "127.0.0.1", timeout=2.0, port=server.port)
    return await dns.asyncquery.udp(query, "127.0.0.1", timeout=2.0, port=server.port)


async def test_server_nxdomain_carries_an_soa(server: DnsServer) -> None:
    response = await ask(server, "nope.test", "A")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    [soa] = response.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 60
    assert soa[0].minimum == 60


async def test_server_nodata_and_empty_non_terminal(server: DnsServer) -> None:
    nodata = await ask(server, "implicit4.test", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.answer == []
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    between = await ask(server, "shared.test", "A")  # only names below it have records
    assert between.rcode() == dns.rcode.NOERROR


async def test_server_names_are_case_insensitive(server: DnsServer) -> None:
    response = await ask(server, "MX-A.Ok.TEST.", "A")
    assert [rd.address for rd in response.answer[0]] == ["127.0.0.2"]
    assert server.queries[("mx-a.ok.test", "A")] == 1


async def test_server_follows_cname(server: DnsServer) -> None:
    response = await ask(server, "mail.alias.test", "A")
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert isinstance(response, dns.message.QueryMessage)
    assert response.resolve_chaining().answer is not None


async def test_server_truncates_over_udp_and_answers_over_tcp(server: DnsServer) -> None:
    small = await ask(server, "big.test", "MX")
    assert small.flags & dns.flags.TC
    medium = await ask(server, "medium.test", "MX")
    assert medium.flags & dns.flags.TC
    roomy = await ask(server, "big.test", "MX", payload=4096)
    assert not roomy.flags & dns.flags.TC
    assert len(roomy.answer[0]) == BIG_MX_COUNT
    full = await ask(server, "big.test", "MX", tcp=True)
    assert len(full.answer[0]) == BIG_MX_COUNT
    assert server.tcp_queries[("big.test", "MX")] == 1


async def test_server_servfail_and_silence(server: DnsServer) -> None:
    assert (await ask(server, "broken.test", "MX")).rcode() == dns.rcode.SERVFAIL
    query = dns.message.make_query("slow.test", "MX")
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(query, "127.0.0.1", timeout=0.2, port=server.port)
    assert server.queries[("slow.test", "MX")] == 1


async def test_server_delay_does_not_serialise_answers() -> None:
    # Ten answers delayed 0.3 s each would need 3 s one after another; each query allows 2 s.
    async with DnsServer(build_zone(), answer_delay=0.3) as slow_server:
        responses = await asyncio.gather(
            *(ask(slow_server, f"mx-{x}.ok.test", "A") for x in "abcabcabca")
        )
    assert all(response.rcode() == dns.rcode.NOERROR for response in responses)
