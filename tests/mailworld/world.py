"""A small internet of mail on loopback: one DNS server and many SMTP servers.

``MailWorld`` runs them in a background thread with its own event loop, so synchronous tests,
asynchronous tests and CLI subprocesses can all use it. ``MailWorld.standard()`` is the world the
test suite shares: one domain per behaviour, and in ``expected`` the verdict the policy in the
product contract demands for each of its addresses. ``WorldBuilder`` builds other worlds (the
benchmark's large synthetic one) from the same parts.

Every mail server listens on the same port, each on its own loopback address inside a /16 of
127.0.0.0/8 picked at random per world, so that worlds started by concurrent test runs never
answer for one another. Addresses with nothing listening give a refused connection.

Choices where the policy table leaves room, and why:

- ``greet421.test`` (421 at the greeting) -> unknown / unavailable_smtp: a 421 is a 4xx, which the
  policy retries until the deadline and then reports as unavailable, not as a refusal.
- ``servfail.test`` (SERVFAIL) -> unknown / no_connect: the domain may exist, but no mail server
  could be found to connect to. ``dnstimeout.test`` (no DNS answer) -> unknown / timeout.
- ``junk.test``, ``endless.test``, ``hugeline.test`` (not SMTP) -> unknown / invalid_smtp;
  ``slowdrip.test`` (one byte a second) -> unknown / timeout; ``drop.test`` (closes at once)
  -> unknown / no_connect.
- ``tlsrefused.test``: after 454 to STARTTLS the session goes on in plain text, so its mailboxes
  are judged as usual.
- ``norelay.test``'s MX does not receive mail for it (550 5.7.1) -> unknown / invalid_smtp.
- ``errorlimits.test`` (Postfix's error limits, 60 % of its addresses dead): a polite client
  never collects enough rejections in a session to be slowed down or cut off, so each address
  has its mailbox's verdict. ``build_rate_limited`` adds ``rcptrate.test`` (450 4.7.1 "too many
  recipients" beyond 4 a second) and ``connrate.test`` (421 beyond two connections a second),
  where a client that backs off gets every real answer too.

Two hosts in three that are not told otherwise offer STARTTLS with a certificate of the world's
own CA (``WorldBuilder(starttls_share=...)``), as on the internet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import trustme

from mailsift.settings import Settings
from tests.mailworld.dns_server import DnsServer, Zone
from tests.mailworld.smtp_server import (
    DomainRules,
    ErrorLimits,
    Greeting,
    HostBehaviour,
    Mailbox,
    RateLimit,
    SmtpServer,
    Tls,
)

T = TypeVar("T")
IPV6_HOST = "::1"
_START_ATTEMPTS = 20
_TIMEOUT = 30.0
_MAX_COUNTERS = ("rcpt_per_session_max", "max_concurrent_seen")
STANDARD_STARTTLS_SHARE = 2 / 3


@dataclasses.dataclass
class HostSpec:
    """A mail server of a world: its DNS name, its address, and how it behaves.

    ``behaviour`` is None when nothing listens at the address.
    """

    name: str
    ip: str
    behaviour: HostBehaviour | None


def a_label(domain: str) -> str:
    """The domain as DNS and SMTP servers see it: lower-case, punycode where needed."""
    return domain.rstrip(".").lower().encode("idna").decode("ascii")


class WorldBuilder:
    """Assembles a world: hosts with addresses, domains served by them, and expectations.

    ``host_defaults`` is the behaviour every host starts from (``reply_delay`` for instance);
    ``subnet`` is the 127.X.0.0/16 the hosts get addresses from (default: a random one);
    ``starttls_share`` of the listening hosts not told about TLS offer working STARTTLS,
    spread evenly in the order they are added.
    """

    def __init__(
        self,
        *,
        host_defaults: HostBehaviour | None = None,
        dns_answer_delay: float = 0.0,
        subnet: str | None = None,
        starttls_share: float = 0.0,
    ) -> None:
        self.zone = Zone()
        self.ca = trustme.CA()
        self.hosts: list[HostSpec] = []
        self.expected: dict[str, tuple[str, str]] = {}
        self.expected_flags: dict[str, frozenset[str]] = {}
        self.dns_answer_delay = dns_answer_delay
        self._defaults = host_defaults or HostBehaviour()
        self._starttls_share = starttls_share
        self._untold_tls = 0  # listening hosts added without a word about TLS
        network = subnet or f"127.{random.randint(2, 254)}.0.0/16"
        self._addresses = ipaddress.IPv4Network(network).hosts()

    def address(self) -> str:
        """A fresh loopback address of this world (skipping those ending in .0/.1/.255)."""
        for ip in self._addresses:
            if ip.packed[-1] not in (0, 1, 255):
                return str(ip)
        raise RuntimeError("the world's subnet is full")

    def host(
        self, name: str, *, listening: bool = True, ipv6: bool = False, **changes: Any
    ) -> HostSpec:
        """Add a host named ``name`` (with its A or AAAA record); ``changes`` tune its behaviour.

        ``ipv6`` puts it on ::1, which only one host of a world can have.
        """
        if ipv6 and any(h.ip == IPV6_HOST for h in self.hosts):
            raise ValueError("only one host can listen on ::1")
        ip = IPV6_HOST if ipv6 else self.address()
        name = a_label(name)
        self.zone.add(name, "AAAA" if ipv6 else "A", ip)
        behaviour = None
        if listening:
            changes.setdefault("domains", {})
            if "tls" not in changes and self._defaults.tls is Tls.NONE:
                changes["tls"] = self._next_untold_tls()
            behaviour = dataclasses.replace(self._defaults, hostname=name, **changes)
            if behaviour.tls is Tls.OFFER and behaviour.tls_context is None:
                behaviour.tls_context = self.tls_context(name, ip)
        spec = HostSpec(name, ip, behaviour)
        self.hosts.append(spec)
        return spec

    def _next_untold_tls(self) -> Tls:
        """OFFER for ``starttls_share`` of the hosts, evenly: with 2/3, the 2nd and 3rd of
        every three."""
        n, share = self._untold_tls, self._starttls_share
        self._untold_tls += 1
        return Tls.OFFER if int((n + 1) * share) > int(n * share) else Tls.NONE

    def domain(
        self,
        name: str,
        *,
        mx: Sequence[tuple[int, HostSpec]] = (),
        served_by: Sequence[HostSpec] = (),
        mailboxes: Mapping[str, Mailbox] | Iterable[str] = (),
        catch_all: bool = False,
    ) -> str:
        """Add a mail domain with MX records to ``mx``; every MX host (and any host in
        ``served_by``, e.g. an implicit MX) receives mail for it. Returns its A-label.
        """
        domain = a_label(name)
        for preference, host in mx:
            self.zone.add(domain, "MX", f"{preference} {host.name}.")
        if not isinstance(mailboxes, Mapping):
            mailboxes = dict.fromkeys(mailboxes, Mailbox.ACTIVE)
        rules = DomainRules({k.lower(): v for k, v in mailboxes.items()}, catch_all=catch_all)
        for host in [*(h for _, h in mx), *served_by]:
            if host.behaviour is not None:
                host.behaviour.domains[domain] = rules
        return domain

    def expect(self, address: str, result: str, reason: str, flags: Iterable[str] = ()) -> None:
        """Record the verdict (and flags) the policy demands for ``address``."""
        self.expected[address] = (result, reason)
        if flags:
            self.expected_flags[address] = frozenset(flags)

    def tls_context(self, name: str, ip: str) -> ssl.SSLContext:
        """A server context with a certificate for ``name`` and ``ip``, signed by ``self.ca``."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(name, ip).configure_cert(context)
        return context

    def build(self) -> MailWorld:
        return MailWorld(self)


class MailWorld:
    """A built world, started and stopped as a whole (also as a context manager)."""

    def __init__(self, builder: WorldBuilder) -> None:
        self.zone = builder.zone
        self.ca = builder.ca
        self.hosts = {spec.name: spec for spec in builder.hosts}
        self.expected = dict(builder.expected)
        self.expected_flags = dict(builder.expected_flags)
        self.servers: dict[str, SmtpServer] = {}
        self.dns = DnsServer(self.zone, answer_delay=builder.dns_answer_delay)
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def standard(cls) -> MailWorld:
        """The shared test world: one domain per behaviour (see the module docstring)."""
        builder = WorldBuilder(starttls_share=STANDARD_STARTTLS_SHARE)
        build_standard(builder)
        return builder.build()

    # --- life cycle --------------------------------------------------------------

    def start(self) -> MailWorld:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="mailworld", daemon=True)
        self._thread.start()
        try:
            self._run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(self._stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_TIMEOUT)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> MailWorld:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> None:
        await self.dns.start()
        for _ in range(_START_ATTEMPTS):
            try:
                await self._start_smtp()
                return
            except OSError:
                await self._stop_smtp()  # the port was taken on one of the addresses
        raise OSError("no port free on every address of the world")

    async def _start_smtp(self) -> None:
        """Start every listening host on one shared port, the first one choosing it."""
        specs = [s for s in self.hosts.values() if s.behaviour is not None]
        specs.sort(key=lambda s: s.ip != IPV6_HOST)  # ::1 is shared with others: bind it first
        port = 0
        for spec in specs:
            assert spec.behaviour is not None
            server = SmtpServer(spec.behaviour, spec.ip, port)
            await server.start()
            self.servers[spec.name] = server
            port = server.port
        self._port = port

    async def _stop_smtp(self) -> None:
        await asyncio.gather(*(server.stop() for server in self.servers.values()))
        self.servers.clear()

    async def _stop(self) -> None:
        # The servers stay in ``servers``: their counters can still be read.
        await asyncio.gather(*(server.stop() for server in self.servers.values()))
        await self.dns.stop()

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the world's event loop (to read or change server state safely)."""

        async def run() -> T:
            return fn()

        result: T = self._run(run())
        return result

    # --- what tests read ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The SMTP port every mail server of the world listens on."""
        return self._port

    @property
    def dns_port(self) -> int:
        return self.dns.port

    def ip(self, host: str) -> str:
        return self.hosts[a_label(host)].ip

    def server(self, host: str) -> SmtpServer:
        return self.servers[a_label(host)]

    def dns_queries(self) -> Counter[tuple[str, str]]:
        """A copy of the DNS server's query counts by (name, type)."""
        return self.call(lambda: Counter(self.dns.queries))

    def env(self) -> dict[str, str]:
        """The ``MAILSIFT_*`` variables that point the engine at this world."""
        return {
            "MAILSIFT_DNS_NAMESERVERS": f"127.0.0.1:{self.dns_port}",
            "MAILSIFT_DNS_TIMEOUT": "1",
            "MAILSIFT_SMTP_PORT": str(self.port),
            "MAILSIFT_ALLOW_PRIVATE_TARGETS": "1",
            "MAILSIFT_PROXIES": "",
            "MAILSIFT_CONNECT_TIMEOUT": "1",
            "MAILSIFT_COMMAND_TIMEOUT": "1",
            "MAILSIFT_GREYLIST_RETRY_AFTER": "1",
            "MAILSIFT_GREYLIST_DEADLINE": "8",
            "MAILSIFT_HOST_PAUSE": "0.5",
            "MAILSIFT_TLS_VERIFY": "0",
            "MAILSIFT_HELO_NAME": "probe.mailsift.test",
            "MAILSIFT_MAIL_FROM": "verify@mailsift.test",
        }

    def settings(self, **overrides: Any) -> Settings:
        """``Settings`` for this world; keyword arguments override single fields."""
        values: dict[str, Any] = {
            key.removeprefix("MAILSIFT_").lower(): value for key, value in self.env().items()
        }
        values.update(overrides)
        return Settings(**values)

    def totals(self) -> dict[str, int]:
        """Every server's counters summed (``*_max`` and ``max_*`` ones: the highest)."""
        totals: dict[str, int] = {}
        for server in list(self.servers.values()):
            for name, value in server.stats.counters().items():
                if name in _MAX_COUNTERS:
                    totals[name] = max(totals.get(name, 0), value)
                else:
                    totals[name] = totals.get(name, 0) + value
        return totals


# --- the standard world ----------------------------------------------------------


def build_standard(b: WorldBuilder) -> None:
    """Fill ``b`` with the standard world: every behaviour on its own domain."""
    _ordinary_domains(b)
    _dns_cases(b)
    _unreachable_domains(b)
    _refusing_domains(b)
    _protocol_domains(b)
    _hostile_domains(b)


def _mail_domain(
    b: WorldBuilder,
    domain: str,
    mailboxes: Mapping[str, Mailbox] | Iterable[str] = ("alice",),
    **changes: Any,
) -> HostSpec:
    """A domain with one MX host, ``mx.<domain>``, tuned by ``changes``."""
    host = b.host(f"mx.{domain}", **changes)
    b.domain(domain, mx=[(10, host)], mailboxes=mailboxes)
    return host


def _ordinary_domains(b: WorldBuilder) -> None:
    boxes = {
        "alice": Mailbox.ACTIVE,
        "bob": Mailbox.ACTIVE,
        "info": Mailbox.ACTIVE,
        "full": Mailbox.FULL,
        "overquota": Mailbox.OVER_QUOTA,
        "disabled": Mailbox.DISABLED,
    }
    mx1, mx2 = b.host("mx1.ok.test"), b.host("mx2.ok.test")
    b.domain("ok.test", mx=[(10, mx1), (20, mx2)], mailboxes=boxes)
    for user in ("alice", "bob"):
        b.expect(f"{user}@ok.test", "valid", "accepted_email")
    b.expect("info@ok.test", "valid", "accepted_email", flags=["role"])
    b.expect("full@ok.test", "risky", "low_deliverability")
    b.expect("overquota@ok.test", "risky", "low_deliverability")
    for user in ("disabled", "nobody"):
        b.expect(f"{user}@ok.test", "invalid", "rejected_email")

    catchall = b.host("mx.catchall.test")
    b.domain("catchall.test", mx=[(10, catchall)], catch_all=True)
    for user in ("alice", "x7q2m9zk"):
        b.expect(f"{user}@catchall.test", "risky", "low_deliverability", flags=["accept_all"])

    _mail_domain(b, "mailinator.com")
    b.expect("alice@mailinator.com", "risky", "low_quality", flags=["disposable"])

    primary = b.host("mx1.backup.test", listening=False)
    backup = b.host("mx2.backup.test")
    b.domain("backup.test", mx=[(10, primary), (20, backup)], mailboxes=["alice"])
    _expect_alice_and_nobody(b, "backup.test")


def _expect_alice_and_nobody(b: WorldBuilder, domain: str) -> None:
    b.expect(f"alice@{domain}", "valid", "accepted_email")
    b.expect(f"nobody@{domain}", "invalid", "rejected_email")


def _dns_cases(b: WorldBuilder) -> None:
    nowhere = b.address()  # nothing listens there: an engine that wrongly follows it fails
    b.zone.add("nullmx.test", "MX", "0 .")
    b.zone.add("nullmx.test", "A", nowhere)
    b.zone.add("noaddress.test", "TXT", '"v=spf1 -all"')
    for domain in ("nullmx.test", "nxdomain.test", "noaddress.test"):
        b.expect(f"alice@{domain}", "invalid", "invalid_domain")

    implicit_a = b.host("implicit-a.test")
    b.domain("implicit-a.test", served_by=[implicit_a], mailboxes=["alice"])
    _expect_alice_and_nobody(b, "implicit-a.test")
    implicit_aaaa = b.host("implicit-aaaa.test", ipv6=True)
    b.domain("implicit-aaaa.test", served_by=[implicit_aaaa], mailboxes=["alice"])
    _expect_alice_and_nobody(b, "implicit-aaaa.test")

    b.zone.servfail("servfail.test")
    b.expect("alice@servfail.test", "unknown", "no_connect")
    b.zone.silent("dnstimeout.test")
    b.expect("alice@dnstimeout.test", "unknown", "timeout")


def _unreachable_domains(b: WorldBuilder) -> None:
    mx1 = b.host("mx1.refused.test", listening=False)
    mx2 = b.host("mx2.refused.test", listening=False)
    b.domain("refused.test", mx=[(10, mx1), (20, mx2)])
    b.expect("alice@refused.test", "unknown", "no_connect")
    _mail_domain(b, "drop.test", greeting=Greeting.DROP)
    b.expect("alice@drop.test", "unknown", "no_connect")
    _mail_domain(b, "tarpit.test", greeting=Greeting.TARPIT)
    b.expect("alice@tarpit.test", "unknown", "timeout")


def _refusing_domains(b: WorldBuilder) -> None:
    _mail_domain(b, "greylist.test", greylist_seconds=1.0)
    _expect_alice_and_nobody(b, "greylist.test")
    _mail_domain(b, "greet421.test", greeting=Greeting.TEMPFAIL)
    b.expect("alice@greet421.test", "unknown", "unavailable_smtp")
    _mail_domain(b, "greet554.test", greeting=Greeting.REJECT)
    b.expect("alice@greet554.test", "unknown", "invalid_smtp")
    _mail_domain(b, "rcpt554.test", reject_rcpt=True)
    b.expect("alice@rcpt554.test", "unknown", "invalid_smtp")
    b.zone.add("norelay.test", "MX", "10 mx1.ok.test.")
    b.expect("alice@norelay.test", "unknown", "invalid_smtp")
    users = [f"user{i:02d}" for i in range(1, 13)]
    _mail_domain(b, "capped.test", users, max_connections_per_ip=2, max_rcpt_per_session=5)
    for user in users:
        b.expect(f"{user}@capped.test", "valid", "accepted_email")
    b.expect("nobody@capped.test", "invalid", "rejected_email")
    _error_limited_domain(b)


def build_rate_limited(b: WorldBuilder) -> None:
    """Hosts that limit rates, in a world of their own: a client backs off and is told again,
    which takes longer than the standard world's short deadlines allow under load."""
    few = [f"user{i:02d}" for i in range(1, 6)]
    many = [f"user{i:02d}" for i in range(1, 13)]
    limited: list[tuple[str, list[str], dict[str, RateLimit]]] = [
        ("rcptrate.test", few, {"recipient_rate": RateLimit(4, 1.0)}),
        ("connrate.test", many, {"connection_rate": RateLimit(2, 1.0)}),
    ]
    for domain, users, limit in limited:
        _mail_domain(b, domain, users, **limit)
        for user in users:
            b.expect(f"{user}@{domain}", "valid", "accepted_email")
        b.expect(f"nobody@{domain}", "invalid", "rejected_email")


ERROR_LIMITS_LIVE = 16  # of 40 addresses on errorlimits.test; the 24 others are dead


def _error_limited_domain(b: WorldBuilder) -> None:
    """A Postfix-style host with mostly dead addresses: enough for 20 errors twice over."""
    live = [f"live{i:02d}" for i in range(ERROR_LIMITS_LIVE)]
    _mail_domain(b, "errorlimits.test", live, error_limits=ErrorLimits())
    for user in live:
        b.expect(f"{user}@errorlimits.test", "valid", "accepted_email")
    for i in range(40 - ERROR_LIMITS_LIVE):
        b.expect(f"dead{i:02d}@errorlimits.test", "invalid", "rejected_email")


def _protocol_domains(b: WorldBuilder) -> None:
    _mail_domain(b, "tls.test", tls=Tls.OFFER)
    _expect_alice_and_nobody(b, "tls.test")
    _mail_domain(b, "tlsrefused.test", tls=Tls.REFUSE)
    _expect_alice_and_nobody(b, "tlsrefused.test")
    _mail_domain(b, "utf8.test", ["alice", "josé"], smtputf8=True)
    _expect_alice_and_nobody(b, "utf8.test")
    b.expect("josé@utf8.test", "valid", "accepted_email")
    b.expect("zoë@utf8.test", "invalid", "rejected_email")
    _mail_domain(b, "noutf8.test", ["alice", "josé"], smtputf8=False)
    _expect_alice_and_nobody(b, "noutf8.test")
    b.expect("josé@noutf8.test", "invalid", "rejected_email")
    _mail_domain(b, "nopipelining.test", ["alice", "bob"], pipelining=False)
    _expect_alice_and_nobody(b, "nopipelining.test")
    b.expect("bob@nopipelining.test", "valid", "accepted_email")
    # Without SMTPUTF8 the server only understands the punycode form of the domain.
    _mail_domain(b, "bücher.test", smtputf8=False)
    _expect_alice_and_nobody(b, "bücher.test")


def _hostile_domains(b: WorldBuilder) -> None:
    hostile = {
        "junk.test": Greeting.JUNK,
        "endless.test": Greeting.ENDLESS,
        "hugeline.test": Greeting.HUGE_LINE,
    }
    for domain, greeting in hostile.items():
        _mail_domain(b, domain, greeting=greeting)
        b.expect(f"alice@{domain}", "unknown", "invalid_smtp")
    _mail_domain(b, "slowdrip.test", drip_interval=1.0)
    b.expect("alice@slowdrip.test", "unknown", "timeout")
