"""The benchmark's synthetic mail world: a seeded plan, and a child process that serves it.

``make_plan`` draws a mailing list the way real ones look: five large mail providers hold
about 55 % of the addresses (the largest 25 %), the rest spreads over a long tail of small
domains (1 to 50 addresses each). Half of the tail is hosted: some by a provider whose one MX
host serves all its customers (as Google Workspace does), some by a provider that gives each
customer its own MX name on shared servers (as Microsoft 365 does). The other half runs its
own mail server, a few without PIPELINING. A few tail domains accept every address. About
75 % of mailboxes exist, 20 % do not, a few are full or disabled; 1 % of the list is not an
address at all and 1 % sits on domains that do not exist. The expected verdict of every
address follows from how it was drawn.

As on the internet, two mail servers in three offer STARTTLS (every large provider and hosting
server, and about 60 % of the self-hosted ones), and some run Postfix with its stock error
limits (two of the large providers and half of the self-hosted servers): a client that lets a
session collect 10 rejections is slowed down, one that reaches 20 is cut off, and the servers
count both as politeness violations.

``WorldProcess`` serves a plan with ``tests.mailworld`` servers in a separate process, so that
the client measured in another process shares nothing with them, and reports the servers'
counters when it stops.
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing
import multiprocessing.connection
import random
import resource
import traceback
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.mailworld.smtp_server import ErrorLimits, HostBehaviour, Mailbox, Tls
from tests.mailworld.world import HostSpec, MailWorld, WorldBuilder

from bench.lower_bound import ServerLoad
from mailsift.verify.lists import is_disposable

REPLY_DELAY = 0.050  # every SMTP reply, greeting included
DNS_DELAY = 0.020  # every DNS answer
PROVIDER_SHARES = (0.25, 0.12, 0.08, 0.06, 0.04)
PROVIDERS = ("gmail.com", "yahoo.com", "outlook.com", "gmx.de", "aol.com")
SYNTAX_SHARE = 0.01
NXDOMAIN_SHARE = 0.01
TAIL_MAX = 50
SHARED_MX_SHARE = 0.30  # tail domains on one provider MX host
CUSTOMER_MX_SHARE = 0.20  # tail domains with their own MX name on shared servers
NO_PIPELINING_SHARE = 0.15  # of the self-hosted servers
CATCH_ALL_SHARE = 0.03  # of the tail domains
SELF_HOSTED_STARTTLS_SHARE = 0.6  # with every provider's and hosting server's: 2 in 3 in all
SELF_HOSTED_ERROR_LIMITS_SHARE = 0.5  # Postfix with its stock error limits
ERROR_LIMITED_PROVIDERS = ("gmx.de", "aol.com")
_START_TIMEOUT = 300.0
_STOP_TIMEOUT = 300.0


def _words(text: str) -> tuple[str, ...]:
    """Word lists kept as running text: one line holds many names."""
    return tuple(text.split())


_FIRST = _words(
    "james mary john patricia robert jennifer michael linda william elizabeth david "
    "barbara richard susan joseph jessica thomas sarah charles karen chris nancy daniel "
    "lisa matthew betty anthony sandra mark ashley paul emily steven donna andrew michelle "
    "joshua carol kevin amanda brian melissa george deborah timothy stephanie ronald laura "
    "jason rebecca ed sharon jeff cynthia ryan kathleen jacob amy gary angela nick anna "
    "eric olivia lukas sofia noah mia leon emma finn hannah jonas lea elias lina paul "
    "marie felix clara"
)
_LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright "
    "scott torres nguyen hill flores green adams nelson baker hall rivera campbell "
    "mitchell carter roberts mueller schmidt schneider fischer weber meyer wagner becker "
    "schulz hoffmann dubois moreau laurent rossi russo ferrari esposito bianchi jansen "
    "devries bakker"
)
_WORDS = _words(
    "acme alpine apex arbor atlas aurora beacon birch blue bright cedar harbor citrus "
    "cobalt coral crest delta ember evergreen falcon fern forge granite harvest hazel "
    "horizon iron juniper keystone lake lantern maple meadow mesa north nova oak orbit "
    "pacific pine prairie quartz raven ridge river sage summit timber trail valley vertex "
    "willow zenith"
)
_TRADES = _words(
    "consulting dental design legal logistics media partners realty robotics software "
    "studio systems tech trading travel ventures works labs foods health capital energy "
    "print"
)
_TLDS = ("com", "com", "com", "net", "org", "io", "de", "co.uk", "fr", "nl")
_ROLES = ("info", "sales", "contact", "support", "office", "admin")


@dataclass(frozen=True, slots=True)
class Server:
    """One mail server: one host name, one loopback address."""

    name: str
    pipelining: bool = True
    starttls: bool = True
    error_limits: bool = False  # Postfix's stock smtpd_*_error_limit


@dataclass(frozen=True, slots=True)
class MailDomain:
    """A domain of the list. ``mx``: (MX host name, server name), most preferred first."""

    name: str
    mx: tuple[tuple[str, str], ...]
    mailboxes: dict[str, Mailbox] = field(default_factory=dict, hash=False)
    catch_all: bool = False
    listed: int = 0  # addresses of the list on this domain

    @property
    def server(self) -> str:
        """The server every recipient of the domain is asked on (its most preferred MX)."""
        return self.mx[0][1]

    def rejects(self, local: str) -> bool:
        """Whether the server answers RCPT for ``local`` with anything but 250."""
        if self.catch_all:
            return False
        return self.mailboxes.get(local) is not Mailbox.ACTIVE


@dataclass(frozen=True, slots=True)
class Expected:
    """The verdict the product contract demands for an address of the world."""

    result: str
    reason: str
    accept_all: bool = False


_FATES: tuple[tuple[float, Mailbox | None, Expected], ...] = (
    (0.75, Mailbox.ACTIVE, Expected("valid", "accepted_email")),
    (0.20, None, Expected("invalid", "rejected_email")),  # 550 5.1.1
    (0.03, Mailbox.FULL, Expected("risky", "low_deliverability")),  # 552 5.2.2
    (0.02, Mailbox.DISABLED, Expected("invalid", "rejected_email")),  # 550 5.2.1
)


@dataclass
class WorldPlan:
    """Everything about a world, before any server runs."""

    seed: int
    servers: list[Server]
    domains: list[MailDomain]
    nxdomains: list[str]
    addresses: list[str]  # the list, in the (shuffled) order a user would upload it
    expected: dict[str, Expected]

    def recipients_by_server(self) -> Counter[str]:
        """What each server must be asked: its listed addresses plus one probe per domain."""
        recipients: Counter[str] = Counter()
        for domain in self.domains:
            if domain.listed:
                recipients[domain.server] += domain.listed + 1
        return recipients

    def loads(self) -> list[ServerLoad]:
        return list(self.loads_by_server().values())

    def loads_by_server(self) -> dict[str, ServerLoad]:
        """Each server's load, its rejections in the order of the list (each domain's
        accept-all probe, rejected unless the domain is a catch-all, where it first appears)."""
        rejected: dict[str, list[bool]] = {server.name: [] for server in self.servers}
        domains = {domain.name: domain for domain in self.domains}
        probed: set[str] = set()
        for address in self.addresses:
            local, _, name = address.rpartition("@")
            domain = domains.get(name)
            if domain is None or self.expected[address].reason == "invalid_email":
                continue
            outcomes = rejected[domain.server]
            if name not in probed:
                probed.add(name)
                outcomes.append(not domain.catch_all)
            outcomes.append(domain.rejects(local))
        return {
            server.name: ServerLoad(
                len(rejected[server.name]),
                server.pipelining,
                starttls=server.starttls,
                rejected=tuple(rejected[server.name]),
            )
            for server in self.servers
            if rejected[server.name]
        }

    def truth_counts(self) -> Counter[str]:
        return Counter(expected.result for expected in self.expected.values())


# --- drawing a plan ---------------------------------------------------------------------------


class _Draw:
    """The state of one ``make_plan`` call."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.servers: list[Server] = []
        self.domains: list[MailDomain] = []
        self.taken: set[str] = set(PROVIDERS)
        self.addresses: list[str] = []
        self.expected: dict[str, Expected] = {}

    def server(
        self,
        name: str,
        *,
        pipelining: bool = True,
        starttls: bool = True,
        error_limits: bool = False,
    ) -> str:
        self.servers.append(Server(name, pipelining, starttls, error_limits))
        return name

    def domain_name(self) -> str:
        """A fresh, plausible company domain that no disposable-mail list names."""
        while True:
            name = f"{self.rng.choice(_WORDS)}{self.rng.choice(_TRADES)}"
            if self.rng.random() < 0.3:
                name += str(self.rng.randint(2, 99))
            name = f"{name}.{self.rng.choice(_TLDS)}"
            if name not in self.taken and not is_disposable(name):
                self.taken.add(name)
                return name

    def local_parts(self, count: int) -> list[str]:
        """``count`` distinct, name-like local parts."""
        seen: set[str] = set()
        while len(seen) < count:
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            local = self.rng.choice(
                (f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}", f"{first}{last[0]}")
            )
            if local in seen:
                local += str(self.rng.randint(1, 9999))
            seen.add(local)
        return sorted(seen)

    def mailbox_domain(
        self, name: str, mx: tuple[tuple[str, str], ...], size: int, *, catch_all: bool = False
    ) -> None:
        """Add a domain with ``size`` listed addresses and decide each one's fate."""
        locals_ = self.local_parts(size)
        if size >= 5 and self.rng.random() < 0.3:  # a team address or two
            for i, role in enumerate(self.rng.sample(_ROLES, 2)):
                if role not in locals_:
                    locals_[i] = role
        mailboxes: dict[str, Mailbox] = {}
        for local in locals_:
            address = f"{local}@{name}"
            self.addresses.append(address)
            if catch_all:
                self.expected[address] = Expected("risky", "low_deliverability", accept_all=True)
                continue
            mailbox, expected = self.fate()
            if mailbox is not None:
                mailboxes[local] = mailbox
            self.expected[address] = expected
        self.domains.append(MailDomain(name, mx, mailboxes, catch_all, listed=size))

    def fate(self) -> tuple[Mailbox | None, Expected]:
        """Whether a listed mailbox exists (None: it does not) and the verdict that follows."""
        draw = self.rng.random()
        for share, mailbox, expected in _FATES:
            if draw < share:
                return mailbox, expected
            draw -= share
        return _FATES[-1][1], _FATES[-1][2]

    def broken_address(self, domain: str) -> str:
        """An address no RFC 5321/5322 parser may accept, as list typos look."""
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        forms = (
            f"{first}.{last}{domain}",
            f"{first}..{last}@{domain}",
            f".{first}@{domain}",
            f"{first}.@{domain}",
            f"{first} {last}@{domain}",
            f"{first}@@{domain}",
            f"{first}@-{domain}",
            f"{first}@{domain.split('.')[0]}",
            f"{first}{'x' * 60}{last}@{domain}",
            f"{first},{last}@{domain}",
        )
        return self.rng.choice(forms)


def make_plan(addresses: int = 20_000, domains: int = 600, seed: int = 1) -> WorldPlan:
    """A world of ``addresses`` addresses over ``domains`` mail domains, the same for a seed.

    Raises ``ValueError`` when the tail cannot hold its share with 1 to 50 addresses per domain.
    """
    draw = _Draw(seed)
    sizes = _tail_sizes(draw.rng, addresses, domains - len(PROVIDERS))
    for provider, share in zip(PROVIDERS, PROVIDER_SHARES, strict=True):
        limited = provider in ERROR_LIMITED_PROVIDERS
        primary = draw.server(f"mx1.{provider}", error_limits=limited)
        backup = draw.server(f"mx2.{provider}", error_limits=limited)  # listed, never needed
        mx = ((primary, primary), (backup, backup))
        draw.mailbox_domain(provider, mx, round(addresses * share))
    shared = draw.server("aspmx.hostedmail.test")
    customer_servers = (draw.server("smtp1.protection.test"), draw.server("smtp2.protection.test"))
    for size in sizes:
        name = draw.domain_name()
        draw.mailbox_domain(
            name,
            _tail_mx(draw, name, shared, customer_servers),
            size,
            catch_all=draw.rng.random() < CATCH_ALL_SHARE,
        )
    nxdomains = _add_nxdomains(draw, addresses)
    _add_broken(draw, addresses)
    draw.rng.shuffle(draw.addresses)
    return WorldPlan(seed, draw.servers, draw.domains, nxdomains, draw.addresses, draw.expected)


def _tail_mx(
    draw: _Draw, name: str, shared: str, customer_servers: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """Where a small domain's mail goes: a hosting provider's servers, or its own."""
    kind = draw.rng.random()
    if kind < SHARED_MX_SHARE:
        return ((shared, shared),)
    if kind < SHARED_MX_SHARE + CUSTOMER_MX_SHARE:
        own_name = f"{name.replace('.', '-')}.mail.protection.test"
        return ((own_name, draw.rng.choice(customer_servers)),)
    own = draw.server(
        f"mx.{name}",
        pipelining=draw.rng.random() >= NO_PIPELINING_SHARE,
        starttls=draw.rng.random() < SELF_HOSTED_STARTTLS_SHARE,
        error_limits=draw.rng.random() < SELF_HOSTED_ERROR_LIMITS_SHARE,
    )
    return ((own, own),)


def _tail_sizes(rng: random.Random, addresses: int, count: int) -> list[int]:
    """``count`` domain sizes between 1 and 50, log-uniformly skewed, summing to the tail."""
    total = addresses - round(addresses * sum(PROVIDER_SHARES))
    total -= round(addresses * SYNTAX_SHARE) + round(addresses * NXDOMAIN_SHARE)
    if count < 1 or not count <= total <= count * TAIL_MAX:
        raise ValueError(
            f"{addresses} addresses need between {math.ceil(total / TAIL_MAX) + len(PROVIDERS)} "
            f"and {total + len(PROVIDERS)} domains (1 to {TAIL_MAX} per small domain)"
        )
    weights = [math.exp(rng.uniform(0.0, math.log(TAIL_MAX))) for _ in range(count)]
    scale = total / sum(weights)
    sizes = [min(TAIL_MAX, max(1, round(w * scale))) for w in weights]
    while (gap := total - sum(sizes)) != 0:  # spread the rounding error over random domains
        i = rng.randrange(count)
        step = 1 if gap > 0 else -1
        if 1 <= sizes[i] + step <= TAIL_MAX:
            sizes[i] += step
    return sizes


def _add_nxdomains(draw: _Draw, addresses: int) -> list[str]:
    wanted = round(addresses * NXDOMAIN_SHARE)
    names = [draw.domain_name() for _ in range(max(1, wanted // 20))]
    for i in range(wanted):
        name = names[i % len(names)]
        local = draw.local_parts(1)[0] + str(i)
        draw.addresses.append(f"{local}@{name}")
        draw.expected[f"{local}@{name}"] = Expected("invalid", "invalid_domain")
    return names


def _add_broken(draw: _Draw, addresses: int) -> None:
    added = 0
    while added < round(addresses * SYNTAX_SHARE):
        text = draw.broken_address(draw.rng.choice(draw.domains).name)
        if text not in draw.expected:
            draw.addresses.append(text)
            draw.expected[text] = Expected("invalid", "invalid_email")
            added += 1


# --- serving a plan ---------------------------------------------------------------------------


def build_world(plan: WorldPlan, *, per_host: int, per_session: int) -> MailWorld:
    """The ``MailWorld`` of ``plan``, its servers enforcing ``per_host`` and ``per_session``."""
    defaults = HostBehaviour(
        reply_delay=REPLY_DELAY,
        max_connections_per_ip=per_host,
        max_rcpt_per_session=per_session,
    )
    builder = WorldBuilder(host_defaults=defaults, dns_answer_delay=DNS_DELAY)
    specs = {
        s.name: builder.host(
            s.name,
            pipelining=s.pipelining,
            tls=Tls.OFFER if s.starttls else Tls.NONE,
            error_limits=ErrorLimits() if s.error_limits else None,
        )
        for s in plan.servers
    }
    for domain in plan.domains:
        mx: list[tuple[int, HostSpec]] = []
        for rank, (name, server) in enumerate(domain.mx, start=1):
            spec = specs[server]
            if name != spec.name:  # a customer's own MX name on a shared server
                builder.zone.add(name, "A", spec.ip)
                spec = HostSpec(name, spec.ip, spec.behaviour)
            mx.append((10 * rank, spec))
        builder.domain(domain.name, mx=mx, mailboxes=domain.mailboxes, catch_all=domain.catch_all)
    return builder.build()


@dataclass(frozen=True, slots=True)
class WorldPorts:
    smtp: int  # every mail server's port
    dns: int  # the DNS server's (UDP and TCP), on 127.0.0.1


class WorldProcess:
    """Serves a plan from a child process; ``stop()`` returns what the servers counted.

    That report holds ``totals`` (every server's counters summed, but ``max_concurrent_seen``
    and ``rcpt_per_session_max``: the highest), ``busiest_server`` (the one asked the most
    recipients, with its own counters) and ``cpu_seconds`` (the world process's CPU time).
    """

    def __init__(self, plan: WorldPlan, *, per_host: int, per_session: int) -> None:
        self._args = (plan, per_host, per_session)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None

    def start(self) -> WorldPorts:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(*self._args, child), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        ports = self._receive(_START_TIMEOUT)
        assert isinstance(ports, WorldPorts)
        return ports

    def stop(self) -> dict[str, Any]:
        if self._conn is None or self._process is None:
            raise RuntimeError("the world is not running")
        try:
            self._conn.send("stop")
            report = self._receive(_STOP_TIMEOUT)
            assert isinstance(report, dict)
            return report
        finally:
            self._process.join(_STOP_TIMEOUT)
            if self._process.is_alive():
                self._process.kill()
            self._conn.close()
            self._conn = self._process = None

    def _receive(self, timeout: float) -> object:
        assert self._conn is not None
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the world process gave no answer within {timeout:g} s")
        kind, value = self._conn.recv()
        if kind == "error":
            raise RuntimeError(f"the world process failed:\n{value}")
        return value

    def __enter__(self) -> WorldPorts:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self.stop()


def _serve(
    plan: WorldPlan, per_host: int, per_session: int, conn: multiprocessing.connection.Connection
) -> None:
    """The child: serve until told to stop, then send the counters back."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per server
        world = build_world(plan, per_host=per_host, per_session=per_session).start()
        # The world's objects live as long as it does: keep the collector from walking them
        # over and over, which would add its pauses to the replies' delay.
        gc.freeze()
    except Exception:
        conn.send(("error", traceback.format_exc()))
        return
    try:
        conn.send(("ready", WorldPorts(world.port, world.dns_port)))
        conn.recv()
        conn.send(("report", _report(world)))
    except Exception:
        with contextlib.suppress(OSError):  # the parent may be gone already
            conn.send(("error", traceback.format_exc()))
    finally:
        world.stop()


def _report(world: MailWorld) -> dict[str, Any]:
    name, busiest = max(world.servers.items(), key=lambda item: item[1].stats.rcpt_commands)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "totals": world.totals(),
        "busiest_server": {"name": name, **busiest.stats.counters()},
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    }
