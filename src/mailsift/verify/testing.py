"""In-memory stand-ins for the engine's ports, for tests of its scheduling without sockets.

``ScriptedConnector`` plays mail servers (``ScriptedServer``: mailboxes, greetings, recipient
caps, Postfix-style error limits, scripted replies per recipient) and counts what a server
would hold against a client; ``StaticResolver`` answers DNS from a table; ``run_virtually``
runs a coroutine on an event loop whose clock jumps ahead instead of sleeping, so retry
intervals, pauses and deadlines of minutes take no time at all.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mailsift.verify.connector import SmtpConversation
from mailsift.verify.dns import MailHost, MailRoute, RouteStatus
from mailsift.verify.errors import ConnectFailed, SessionRefused, Stage
from mailsift.verify.session import Endpoint, RcptInterrupted, SessionOptions
from mailsift.verify.smtp import Reply, SmtpStateError

T = TypeVar("T")


def reply(code: int, text: str) -> Reply:
    """A one-line reply, its enhanced code read as a server would have sent it."""
    return Reply.build(code, (text,))


ACCEPTED = reply(250, "2.1.5 Ok")
NO_SUCH_USER = reply(550, "5.1.1 Recipient address rejected: User unknown")
TOO_MANY_RECIPIENTS = reply(452, "4.5.3 Error: too many recipients")
TOO_MANY_ERRORS = reply(421, "4.7.0 mx.example.test Error: too many errors")
TOO_MANY_CONNECTIONS = reply(421, "4.7.0 Error: too many connections")
GREYLISTED = reply(450, "4.2.0 Recipient address rejected: Greylisted")
RATE_LIMITED = reply(450, "4.7.1 Error: too much mail, rate limit exceeded")


@dataclass
class ScriptedServer:
    """One mail server's behaviour, and counters of what clients did to it.

    ``scripts`` maps a recipient to the replies it gets, one per time it is asked (the last
    one repeats). Errors are counted per session as Postfix does: from ``soft_error_limit``
    rejected commands on every reply waits ``error_sleep`` seconds, and at
    ``hard_error_limit`` the server answers ``421 ... too many errors`` and hangs up.
    """

    mailboxes: Iterable[str] = ()
    catch_all: bool = False
    scripts: Mapping[str, Sequence[Reply]] = field(default_factory=dict)
    greeting: Reply = field(default_factory=lambda: reply(220, "mx ESMTP"))
    mail_reply: Reply = field(default_factory=lambda: reply(250, "2.1.0 Ok"))
    refuse_connections: bool = False
    pipelining: bool = True
    smtputf8: bool = True
    max_connections: int | None = None
    max_rcpt_per_transaction: int | None = None
    soft_error_limit: int | None = None
    hard_error_limit: int | None = None
    error_sleep: float = 1.0
    reply_delay: float = 0.0  # seconds before each reply (each batch when pipelining)

    def __post_init__(self) -> None:
        self.mailboxes = frozenset(m.lower() for m in self.mailboxes)
        self.asked: dict[str, int] = {}
        self.open_now = 0
        self.counters = dict.fromkeys(
            (
                "connections",
                "sessions",
                "max_open",
                "rcpts",
                "rcpt_max_per_session",
                "errors_max_per_session",
                "error_sleeps",
                "forced_disconnects",
                "connection_limit_violations",
                "rcpt_limit_violations",
            ),
            0,
        )

    def answer(self, recipient: str) -> Reply:
        times = self.asked.get(recipient, 0)
        self.asked[recipient] = times + 1
        script = self.scripts.get(recipient)
        if script:
            return script[min(times, len(script) - 1)]
        if self.catch_all or recipient.lower() in self.mailboxes:
            return ACCEPTED
        return NO_SUCH_USER

    def bump(self, counter: str, value: int = 1) -> None:
        self.counters[counter] += value

    def raise_max(self, counter: str, value: int) -> None:
        self.counters[counter] = max(self.counters[counter], value)


class ScriptedConnector:
    """An ``SmtpConnector`` whose servers are ``ScriptedServer`` values, by IP address."""

    def __init__(self, servers: Mapping[str, ScriptedServer]) -> None:
        self.servers = servers

    async def open(self, endpoint: Endpoint, options: SessionOptions) -> SmtpConversation:
        server = self.servers.get(endpoint.address)
        if server is None or server.refuse_connections:
            raise ConnectFailed(Stage.CONNECT, "[Errno 111] Connection refused")
        server.bump("connections")
        if server.max_connections is not None and server.open_now >= server.max_connections:
            server.bump("connection_limit_violations")
            raise SessionRefused(Stage.GREETING, TOO_MANY_CONNECTIONS)
        await asyncio.sleep(2 * server.reply_delay)  # the greeting, then EHLO
        if not server.greeting.is_positive:
            raise SessionRefused(Stage.GREETING, server.greeting)
        server.bump("sessions")
        return _ScriptedSession(endpoint, server)


class _ScriptedSession:
    def __init__(self, endpoint: Endpoint, server: ScriptedServer) -> None:
        self.endpoint = endpoint
        self.server = server
        self.rcpt_arrivals: list[float] = []
        self.round_trip = server.reply_delay
        self._open = True
        self._mail: Reply | None = None
        self._in_transaction = 0
        self._rcpts = 0
        self._errors = 0
        server.open_now += 1
        server.raise_max("max_open", server.open_now)

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def supports_smtputf8(self) -> bool:
        return self.server.smtputf8

    @property
    def supports_pipelining(self) -> bool:
        return self.server.pipelining

    async def probe(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool = False,
        reset_first: bool = False,
        then_quit: bool = False,
    ) -> tuple[Reply, list[Reply]]:
        self._usable()
        if smtputf8 and not self.server.smtputf8:
            raise SmtpStateError("the server does not offer SMTPUTF8")
        mail = self.server.mail_reply
        if not mail.is_positive:
            self._errors += 1
            raise SessionRefused(Stage.MAIL, mail)
        self._mail, self._in_transaction = mail, 0
        replies = await self._ask(recipients)
        if then_quit:
            await self.close()
        return mail, replies

    async def ask(self, recipients: Sequence[str], *, then_quit: bool = False) -> list[Reply]:
        self._usable()
        if self._mail is None:
            raise SmtpStateError("RCPT before MAIL")
        replies = await self._ask(recipients)
        if then_quit:
            await self.close()
        return replies

    async def _ask(self, recipients: Sequence[str]) -> list[Reply]:
        server, loop = self.server, asyncio.get_running_loop()
        self.rcpt_arrivals = []
        replies: list[Reply] = []
        if server.pipelining:
            await asyncio.sleep(server.reply_delay)
        for recipient in recipients:
            if not server.pipelining:
                await asyncio.sleep(server.reply_delay)
            if server.hard_error_limit is not None and self._errors >= server.hard_error_limit:
                server.bump("forced_disconnects")
                self._close()
                raise RcptInterrupted(TOO_MANY_ERRORS, self._mail or ACCEPTED, replies)
            if server.soft_error_limit is not None and self._errors >= server.soft_error_limit:
                server.bump("error_sleeps")
                await asyncio.sleep(server.error_sleep)
            answer = self._answer(recipient)
            if answer.code == 421:
                self._close()
                self._arrived(len(replies))
                raise RcptInterrupted(answer, self._mail or ACCEPTED, replies)
            if not answer.is_positive:
                self._errors += 1
                server.raise_max("errors_max_per_session", self._errors)
            if not server.pipelining:
                self.rcpt_arrivals.append(loop.time())
            replies.append(answer)
        self._arrived(len(replies))
        return replies

    def _arrived(self, count: int) -> None:
        """Pipelined replies travel together, as an MTA flushes once its input is drained."""
        if self.server.pipelining:
            self.rcpt_arrivals = [asyncio.get_running_loop().time()] * count

    def _answer(self, recipient: str) -> Reply:
        server = self.server
        self._rcpts += 1
        self._in_transaction += 1
        server.bump("rcpts")
        server.raise_max("rcpt_max_per_session", self._rcpts)
        cap = server.max_rcpt_per_transaction
        if cap is not None and self._in_transaction > cap:
            server.bump("rcpt_limit_violations")
            return TOO_MANY_RECIPIENTS
        return server.answer(recipient)

    def _usable(self) -> None:
        if not self._open:
            raise SmtpStateError("the session is closed")

    def _close(self) -> None:
        if self._open:
            self._open = False
            self.server.open_now -= 1

    async def close(self) -> None:
        self._close()


class StaticResolver:
    """A ``Resolver`` answering from a table; any other domain does not exist."""

    def __init__(self, routes: Mapping[str, MailRoute]) -> None:
        self.routes = routes
        self.asked: list[str] = []

    async def mail_route(self, domain: str) -> MailRoute:
        self.asked.append(domain)
        return self.routes.get(domain) or MailRoute(domain, RouteStatus.NXDOMAIN)


def mx_route(domain: str, *hosts: tuple[str, str]) -> MailRoute:
    """A domain whose MX hosts are ``(name, ip)`` pairs, in order of preference."""
    mail_hosts = tuple(MailHost(name, 10 * (i + 1), (ip,)) for i, (name, ip) in enumerate(hosts))
    return MailRoute(domain, RouteStatus.OK, mail_hosts)


# --- a clock that does not wait -------------------------------------------------------------


class _LeapingSelector(selectors.DefaultSelector):
    """Never waits for a timer: it moves the loop's clock to it instead."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._loop.now += timeout
        elif not ready and timeout is None:
            ready = super().select(None)  # nothing scheduled: only I/O can wake us
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when every task waits on a timer."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_LeapingSelector(self))

    def time(self) -> float:
        return self.now


def run_virtually(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh ``VirtualClockLoop``."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
