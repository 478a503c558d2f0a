"""Loopback SMTP servers that answer the way the internet's mail servers do.

One ``SmtpServer`` listens on one IP address and port; a ``HostBehaviour`` says how it behaves:
which domains and mailboxes it knows, greylisting, connection and recipient caps, connection and
recipient rates, Postfix's error limits, TLS, SMTPUTF8, PIPELINING, latency, and hostile modes
for robustness tests. Replies carry RFC 3463 enhanced
status codes and the texts real servers use. No message is ever accepted: DATA and BDAT are
refused with 503 and counted, because mailsift must never send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import ssl
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

MAX_LINE = 4096  # longest command line accepted (Postfix uses 2048)
HUGE_LINE_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_KEEP_TRANSCRIPTS = 1000
_KEEP_COMMANDS = 200
_MAIL_FROM = re.compile(r"^MAIL\s+FROM:\s*<([^<>\s]*)>\s*(.*)$", re.IGNORECASE)
_RCPT_TO = re.compile(r"^RCPT\s+TO:\s*<([^<>\s]*)>\s*(.*)$", re.IGNORECASE)
# Counters of limits a polite client never trips. Rate limits are not among them: a client
# cannot know a server's rate before it is told, only back off once it is.
_VIOLATIONS = (
    "connection_limit_violations",
    "rcpt_limit_violations",
    "error_sleeps",
    "error_limit_disconnects",
)


class Mailbox(Enum):
    """The state of one mailbox, and so the answer to ``RCPT TO`` for it."""

    ACTIVE = "active"  # 250 2.1.5
    DISABLED = "disabled"  # 550 5.2.1
    FULL = "full"  # 552 5.2.2
    OVER_QUOTA = "over_quota"  # 452 4.2.2, the temporary form of "full"


class Greeting(Enum):
    """What a client meets when it connects."""

    NORMAL = "normal"  # 220, then a real conversation
    TEMPFAIL = "tempfail"  # 421 4.3.2, then hang up
    REJECT = "reject"  # 554 5.7.1, then 503 to all but QUIT (RFC 5321 §3.1)
    DROP = "drop"  # accept the connection and close it without a word
    TARPIT = "tarpit"  # accept the connection and never speak
    JUNK = "junk"  # binary bytes instead of a greeting
    ENDLESS = "endless"  # a multi-line 220 reply that never ends
    HUGE_LINE = "huge_line"  # a greeting line of 10 MB


class Tls(Enum):
    NONE = "none"  # STARTTLS not offered
    OFFER = "offer"  # STARTTLS offered and working
    REFUSE = "refuse"  # STARTTLS offered, but answered 454 4.7.0


@dataclass(frozen=True)
class DomainRules:
    """What a server knows about one domain it receives mail for."""

    mailboxes: Mapping[str, Mailbox] = field(default_factory=dict)  # lower-case local parts
    catch_all: bool = False  # accept any local part not listed


@dataclass(frozen=True)
class ErrorLimits:
    """Postfix's anti-abuse limits on errors in one session (its defaults).

    Every reply of 400 or more to a command is an error. Once a session has made ``soft``
    errors, every reply leaves ``sleep`` seconds late (``smtpd_soft_error_limit``,
    ``smtpd_error_sleep_time``); after ``hard`` errors the server answers
    ``421 4.7.0 ... Error: too many errors`` and hangs up (``smtpd_hard_error_limit``).
    """

    soft: int = 10
    sleep: float = 1.0
    hard: int = 20


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` events from one client IP in any ``seconds`` (Postfix's anvil)."""

    count: int
    seconds: float


@dataclass
class HostBehaviour:
    """How one mail server behaves. Domain names are lower-case A-labels (punycode)."""

    hostname: str = "mx.mailworld.test"
    domains: dict[str, DomainRules] = field(default_factory=dict)
    greeting: Greeting = Greeting.NORMAL
    reject_rcpt: bool = False  # 554 5.7.1 at every RCPT: the client is on a blocklist
    tls: Tls = Tls.NONE
    tls_context: ssl.SSLContext | None = None  # server side, required for Tls.OFFER
    smtputf8: bool = True
    pipelining: bool = True
    greylist_seconds: float = 0.0  # 450 4.7.1 for a new (client, sender, recipient) this long
    max_connections_per_ip: int | None = None  # beyond it: 421 4.7.0 at the greeting
    max_rcpt_per_session: int | None = None  # beyond it: 452 4.5.3
    error_limits: ErrorLimits | None = None  # Postfix's error sleep and hang-up
    connection_rate: RateLimit | None = None  # beyond it: 421 4.7.0 at the greeting
    recipient_rate: RateLimit | None = None  # beyond it: 450 4.7.1 to RCPT
    reply_delay: float = 0.0  # network latency: replies leave this long after commands arrive
    # (the TLS handshake's first server flight too: TLS 1.3 costs one round trip)
    drip_interval: float = 0.0  # above 0: every byte is sent alone, this long after the last


@dataclass(frozen=True)
class Transcript:
    """The command lines one client sent in one session."""

    client: str
    commands: tuple[str, ...]


class ServerStats:
    """Counters of one server, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._active: Counter[str] = Counter()
        self._peak: dict[str, int] = {}
        self._rcpt_max = 0
        self._transcripts: deque[tuple[str, list[str]]] = deque(maxlen=_KEEP_TRANSCRIPTS)

    def _count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    @property
    def sessions(self) -> int:
        return self._count("sessions")

    @property
    def data_attempts(self) -> int:
        return self._count("data_attempts")

    @property
    def limit_violations(self) -> int:
        """Every politeness limit the client tripped: caps and error limits."""
        return sum(self._count(name) for name in _VIOLATIONS)

    @property
    def connection_limit_violations(self) -> int:
        return self._count("connection_limit_violations")

    @property
    def rcpt_limit_violations(self) -> int:
        return self._count("rcpt_limit_violations")

    @property
    def error_sleeps(self) -> int:
        """Replies delayed by the error sleep: the client made too many errors."""
        return self._count("error_sleeps")

    @property
    def error_limit_disconnects(self) -> int:
        """Sessions ended with 421 "too many errors"."""
        return self._count("error_limit_disconnects")

    @property
    def rate_limit_replies(self) -> int:
        """Connections or recipients refused for coming too fast (421 / 450 4.7.1)."""
        return self._count("rate_limit_replies")

    @property
    def rcpt_commands(self) -> int:
        return self._count("rcpt_commands")

    @property
    def quit_count(self) -> int:
        return self._count("quit_count")

    @property
    def unadvertised_pipelining(self) -> int:
        """Batches of several commands sent to a server that did not offer PIPELINING."""
        return self._count("unadvertised_pipelining")

    @property
    def rcpt_per_session_max(self) -> int:
        with self._lock:
            return self._rcpt_max

    @property
    def max_concurrent_seen(self) -> dict[str, int]:
        """The most simultaneous connections seen from each client IP."""
        with self._lock:
            return dict(self._peak)

    def counters(self) -> dict[str, int]:
        """Every count at once, plus the highest concurrency seen from any one client."""
        with self._lock:
            counts = {
                name: self._counts[name]
                for name in (
                    "sessions",
                    "data_attempts",
                    "connection_limit_violations",
                    "rcpt_limit_violations",
                    "rcpt_commands",
                    "quit_count",
                    "unadvertised_pipelining",
                    "error_sleeps",
                    "error_limit_disconnects",
                    "rate_limit_replies",
                )
            }
            counts["limit_violations"] = sum(counts[name] for name in _VIOLATIONS)
            counts["rcpt_per_session_max"] = self._rcpt_max
            counts["max_concurrent_seen"] = max(self._peak.values(), default=0)
            return counts

    def transcripts(self) -> list[Transcript]:
        """The latest sessions, oldest first (the oldest are forgotten after a thousand)."""
        with self._lock:
            return [Transcript(client, tuple(lines)) for client, lines in self._transcripts]

    # --- updates, from the server's event loop ---------------------------------

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def open_session(self, client: str) -> tuple[int, list[str]]:
        """Count a new connection; return the client's concurrency and its command log."""
        commands: list[str] = []
        with self._lock:
            self._counts["sessions"] += 1
            self._active[client] += 1
            active = self._active[client]
            self._peak[client] = max(self._peak.get(client, 0), active)
            self._transcripts.append((client, commands))
        return active, commands

    def close_session(self, client: str) -> None:
        with self._lock:
            self._active[client] -= 1

    def log_command(self, commands: list[str], line: str) -> None:
        with self._lock:
            if len(commands) < _KEEP_COMMANDS:
                commands.append(line[:300])

    def note_rcpt(self, in_session: int) -> None:
        with self._lock:
            self._counts["rcpt_commands"] += 1
            self._rcpt_max = max(self._rcpt_max, in_session)


class SmtpServer:
    """One mail server on ``host:port`` (port 0: any free port), behaving as ``behaviour`` says."""

    def __init__(self, behaviour: HostBehaviour, host: str = "127.0.0.1", port: int = 0) -> None:
        if behaviour.tls is Tls.OFFER and behaviour.tls_context is None:
            raise ValueError("Tls.OFFER needs a tls_context")
        self.behaviour = behaviour
        self.host = host
        self.stats = ServerStats()
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # When each (client IP, sender, recipient) was first seen, for greylisting.
        self.greylist: dict[tuple[str, str, str], float] = {}
        self.connection_rate = _RateCounter(behaviour.connection_rate)
        self.recipient_rate = _RateCounter(behaviour.recipient_rate)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._requested_port, backlog=1024
        )

    async def stop(self) -> None:
        """Stop listening and end every open session."""
        if self._server is None:
            return
        self._server.close()
        await asyncio.sleep(0)  # let sessions accepted just now start, so they can be ended
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = str(writer.get_extra_info("peername")[0])
        active, commands = self.stats.open_session(client)
        try:
            await _Session(self, reader, writer, client, commands).run(active)
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away: that is its right
        except asyncio.CancelledError:
            pass  # stop() ends the session; a cancelled task here would be logged as an error
        finally:
            self.stats.close_session(client)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)


class _RateCounter:
    """Events per client IP in fixed windows, as Postfix's anvil counts them: every attempt
    counts, refused or not, and a window starts at the first event after the last one ended.
    """

    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}

    def allows(self, client: str, now: float) -> bool:
        if self.limit is None:
            return True
        start, count = self._windows.get(client, (now, 0))
        if now - start >= self.limit.seconds:
            start, count = now, 0
        self._windows[client] = (start, count + 1)
        return count + 1 <= self.limit.count


@dataclass
class _Answer:
    """A reply, and what the session does once it is sent."""

    reply: str
    close: bool = False
    starttls: bool = False
    sleep: float = 0.0  # the error sleep, before this reply leaves

    @property
    def is_error(self) -> bool:
        return self.reply[:1] in ("4", "5")


def _reply(code: int, *lines: str) -> str:
    """Format a (possibly multi-line) reply: ``250-first``, ..., ``250 last``."""
    out = [f"{code}-{line}" for line in lines[:-1]]
    out.append(f"{code} {lines[-1]}")
    return "".join(f"{line}\r\n" for line in out)


def _a_label(domain: str) -> str | None:
    """The domain as a lower-case A-label, or None when it cannot be one."""
    domain = domain.rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


class _Session:
    """One client's conversation with one server."""

    def __init__(
        self,
        server: SmtpServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        commands: list[str],
    ) -> None:
        self.server = server
        self.b = server.behaviour
        self.stats = server.stats
        self.reader = reader
        self.writer = writer
        self.client = client
        self.commands = commands
        self.loop = asyncio.get_running_loop()
        self.greeted = False  # EHLO or HELO seen
        self.esmtp = False
        self.tls_active = False
        self.refused = False  # greeted with 554: only QUIT is served
        self.sender: str | None = None  # set between MAIL and the end of the transaction
        self.utf8 = False
        self.rcpts = 0
        self.errors = 0  # replies of 400 or more, as Postfix counts them for its limits

    # --- the conversation --------------------------------------------------------

    async def run(self, active: int) -> None:
        arrived = self.loop.time()
        cap = self.b.max_connections_per_ip
        if cap is not None and active > cap:
            self.stats.add("connection_limit_violations")
            text = f"{self.b.hostname} Error: too many connections from {self.client}"
            await self._send(_reply(421, f"4.7.0 {text}"), arrived)
            return
        if not self.server.connection_rate.allows(self.client, arrived):
            self.stats.add("rate_limit_replies")
            text = f"{self.b.hostname} Error: too many connections from {self.client}"
            await self._send(_reply(421, f"4.7.0 {text}"), arrived)
            return
        greeting = self.b.greeting
        if greeting in _HOSTILE:
            await _HOSTILE[greeting](self)
            return
        if greeting is Greeting.TEMPFAIL:
            text = f"4.3.2 {self.b.hostname} Service not available, closing transmission channel"
            await self._send(_reply(421, text), arrived)
            return
        if greeting is Greeting.REJECT:
            self.refused = True
            text = f"5.7.1 {self.b.hostname} Service unavailable; client [{self.client}] blocked"
            await self._send(_reply(554, text), arrived)
        else:
            await self._send(_reply(220, f"{self.b.hostname} ESMTP mailworld"), arrived)
        await self._converse()

    async def _converse(self) -> None:
        buffer = b""
        while True:
            data = await self.reader.read(_CHUNK)
            if not data:
                return
            arrived = self.loop.time()
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            answers = self._answer_all(lines)
            if len(buffer) > MAX_LINE:
                answers.append(_Answer(_reply(500, "5.5.0 Error: line too long"), close=True))
            last = answers[-1] if answers else None
            if last is not None and last.starttls:
                # The client's first TLS flight waits in the socket until the handshake starts,
                # so that the server's answer to it leaves one round trip later.
                transport = self.writer.transport
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()
            await self._send_answers(answers, arrived)
            if last is not None and last.close:
                return
            if last is not None and last.starttls:
                assert self.b.tls_context is not None
                if self.b.reply_delay > 0:
                    await asyncio.sleep(self.b.reply_delay)
                await self.writer.start_tls(self.b.tls_context)
                buffer = b""  # plaintext sent before the handshake must not count
                self._start_over(tls=True)

    def _answer_all(self, lines: list[bytes]) -> list[_Answer]:
        """Answer a batch of lines that arrived together, stopping at QUIT or STARTTLS."""
        if len(lines) > 1 and not self.b.pipelining:
            self.stats.add("unadvertised_pipelining")
        answers = []
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            self.stats.log_command(self.commands, line)
            if len(raw) > MAX_LINE:
                answers.append(_Answer(_reply(500, "5.5.0 Error: line too long"), close=True))
                break
            answer = self._answer(line)
            answers.append(answer)
            over_hard_limit = self._count_error(answer)
            if answer.close or answer.starttls:
                break
            if over_hard_limit:
                answers.append(self._too_many_errors())
                break
        return answers

    def _count_error(self, answer: _Answer) -> bool:
        """Apply Postfix's error limits to ``answer``; True when the hard limit is reached."""
        limits = self.b.error_limits
        if limits is None:
            return False
        if self.errors >= limits.soft:
            answer.sleep = limits.sleep
            self.stats.add("error_sleeps")
        if answer.is_error:
            self.errors += 1
        return self.errors >= limits.hard

    def _too_many_errors(self) -> _Answer:
        assert self.b.error_limits is not None
        self.stats.add("error_limit_disconnects")
        text = f"4.7.0 {self.b.hostname} Error: too many errors"
        return _Answer(_reply(421, text), close=True, sleep=self.b.error_limits.sleep)

    async def _send_answers(self, answers: list[_Answer], arrived: float) -> None:
        """Send the replies to commands that arrived together, error sleeps included."""
        text, slept = "", 0.0
        for answer in answers:
            if answer.sleep > 0:
                await self._send(text, arrived + slept)
                text, slept = "", slept + answer.sleep
            text += answer.reply
        await self._send(text, arrived + slept)

    async def _send(self, text: str, arrived: float) -> None:
        if not text:
            return
        wait = arrived + self.b.reply_delay - self.loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        data = text.encode("utf-8")
        if self.b.drip_interval <= 0:
            self.writer.write(data)
            await self.writer.drain()
            return
        for i in range(len(data)):
            self.writer.write(data[i : i + 1])
            await self.writer.drain()
            await asyncio.sleep(self.b.drip_interval)

    def _start_over(self, *, tls: bool) -> None:
        self.tls_active = self.tls_active or tls
        self.greeted = self.esmtp = False
        self._reset()

    def _reset(self) -> None:
        self.sender = None
        self.utf8 = False

    # --- commands ----------------------------------------------------------------

    def _answer(self, line: str) -> _Answer:
        verb, _, arg = line.strip().partition(" ")
        verb = verb.upper()
        if verb == "QUIT":
            self.stats.add("quit_count")
            return _Answer(_reply(221, "2.0.0 Bye"), close=True)
        if verb in ("DATA", "BDAT"):
            self.stats.add("data_attempts")
            return _Answer(_reply(503, "5.5.1 Error: no message is accepted here"))
        if verb == "RCPT":
            self.rcpts += 1
            self.stats.note_rcpt(self.rcpts)
        if self.refused:
            return _Answer(_reply(503, f"5.5.1 Error: access denied for [{self.client}]"))
        handler = _COMMANDS.get(verb)
        if handler is None:
            return _Answer(_reply(502, "5.5.2 Error: command not recognized"))
        return handler(self, line, arg.strip())

    def _ehlo(self, line: str, arg: str) -> _Answer:
        if not arg:
            return _Answer(_reply(501, "5.5.4 Syntax: EHLO hostname"))
        self._start_over(tls=False)
        self.greeted = self.esmtp = True
        lines = [self.b.hostname]
        if self.b.pipelining:
            lines.append("PIPELINING")
        lines.append("SIZE 10240000")
        if self.b.tls is not Tls.NONE and not self.tls_active:
            lines.append("STARTTLS")
        lines += ["ENHANCEDSTATUSCODES", "8BITMIME"]
        if self.b.smtputf8:
            lines.append("SMTPUTF8")
        return _Answer(_reply(250, *lines))

    def _helo(self, line: str, arg: str) -> _Answer:
        if not arg:
            return _Answer(_reply(501, "Syntax: HELO hostname"))
        self._start_over(tls=False)
        self.greeted = True
        return _Answer(_reply(250, self.b.hostname))

    def _starttls(self, line: str, arg: str) -> _Answer:
        if self.tls_active:
            return _Answer(_reply(554, "5.5.1 Error: TLS already active"))
        if self.b.tls is Tls.NONE:
            return _Answer(_reply(502, "5.5.1 Error: command not implemented"))
        if arg:
            return _Answer(_reply(501, "5.5.4 Syntax: STARTTLS"))
        if self.b.tls is Tls.REFUSE:
            return _Answer(_reply(454, "4.7.0 TLS not available due to local problem"))
        return _Answer(_reply(220, "2.0.0 Ready to start TLS"), starttls=True)

    def _mail(self, line: str, arg: str) -> _Answer:
        if not self.greeted:
            return _Answer(_reply(503, "5.5.1 Error: send HELO/EHLO first"))
        if self.sender is not None:
            return _Answer(_reply(503, "5.5.1 Error: nested MAIL command"))
        match = _MAIL_FROM.match(line.strip())
        if match is None:
            return _Answer(_reply(501, "5.5.4 Syntax: MAIL FROM:<address>"))
        sender, params = match.group(1), match.group(2).split()
        utf8 = False
        for param in params:
            key = param.partition("=")[0].upper()
            if key == "SMTPUTF8" and self.b.smtputf8 and self.esmtp:
                utf8 = True
            elif key not in ("SIZE", "BODY") or not self.esmtp:
                return _Answer(_reply(555, f"5.5.4 Unsupported option: {param}"))
        if not utf8 and not sender.isascii():
            return _Answer(_reply(550, "5.6.7 Must declare SMTPUTF8 to send unicode address"))
        self.sender, self.utf8 = sender, utf8
        return _Answer(_reply(250, "2.1.0 Ok"))

    def _rcpt(self, line: str, arg: str) -> _Answer:
        if self.sender is None:
            return _Answer(_reply(503, "5.5.1 Error: need MAIL command"))
        match = _RCPT_TO.match(line.strip())
        if match is None:
            return _Answer(_reply(501, "5.5.4 Syntax: RCPT TO:<address>"))
        if not self.server.recipient_rate.allows(self.client, self.loop.time()):
            self.stats.add("rate_limit_replies")
            return _Answer(_reply(450, f"4.7.1 Error: too many recipients from {self.client}"))
        if match.group(2):
            return _Answer(_reply(555, f"5.5.4 Unsupported options: {match.group(2)}"))
        address = match.group(1)
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            return _Answer(_reply(501, f"5.1.3 <{address}>: Bad recipient address syntax"))
        cap = self.b.max_rcpt_per_session
        if cap is not None and self.rcpts > cap:
            self.stats.add("rcpt_limit_violations")
            return _Answer(_reply(452, "4.5.3 Error: too many recipients"))
        if not self.utf8 and not address.isascii():
            return _Answer(_reply(553, "5.6.7 Must declare SMTPUTF8 to send unicode address"))
        return _Answer(self._judge_recipient(address, local, domain))

    def _judge_recipient(self, address: str, local: str, domain: str) -> str:
        if self.b.reject_rcpt:
            text = f"5.7.1 Service unavailable; client host [{self.client}] blocked using"
            return _reply(554, f"{text} bl.mailworld.test")
        a_label = _a_label(domain)
        rules = self.b.domains.get(a_label) if a_label else None
        if rules is None:
            return _reply(550, f"5.7.1 <{address}>: Relay access denied")
        if self._greylisted(address):
            text = "4.7.1 <{}>: Recipient address rejected: Greylisted, please try again later"
            return _reply(450, text.format(address))
        state = rules.mailboxes.get(local.lower())
        if state is None and rules.catch_all:
            state = Mailbox.ACTIVE
        return _mailbox_reply(address, state)

    def _greylisted(self, address: str) -> bool:
        if self.b.greylist_seconds <= 0:
            return False
        assert self.sender is not None
        triplet = (self.client, self.sender.lower(), address.lower())
        first = self.server.greylist.setdefault(triplet, self.loop.time())
        return self.loop.time() - first < self.b.greylist_seconds

    def _rset(self, line: str, arg: str) -> _Answer:
        self._reset()
        return _Answer(_reply(250, "2.0.0 Ok"))

    def _noop(self, line: str, arg: str) -> _Answer:
        return _Answer(_reply(250, "2.0.0 Ok"))

    def _vrfy(self, line: str, arg: str) -> _Answer:
        return _Answer(_reply(502, "5.5.1 VRFY command is disabled"))

    def _help(self, line: str, arg: str) -> _Answer:
        return _Answer(_reply(214, "2.0.0 See RFC 5321"))

    # --- hostile greetings -------------------------------------------------------

    async def _drop(self) -> None:
        return

    async def _tarpit(self) -> None:
        await self._discard_input()

    async def _junk(self) -> None:
        # Starts like a TLS record: what a port speaking another protocol would send.
        await self._pump([b"\x16\x03\x01\x02\x00" + random.Random(25).randbytes(4096)])
        await self._discard_input()

    async def _endless(self) -> None:
        first = f"220-{self.b.hostname} ESMTP mailworld\r\n".encode()
        more = f"220-{self.b.hostname} is still greeting you\r\n".encode() * 100
        await self._pump(itertools.chain([first], itertools.repeat(more)))

    async def _huge_line(self) -> None:
        chunks = itertools.repeat(b"x" * _CHUNK, HUGE_LINE_BYTES // _CHUNK)
        await self._pump(itertools.chain([b"220 "], chunks, [b"\r\n"]))
        await self._discard_input()

    async def _pump(self, chunks: Iterable[bytes]) -> None:
        """Write until done or the client leaves, yielding so other sessions run too."""
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            await asyncio.sleep(0)

    async def _discard_input(self) -> None:
        while await self.reader.read(_CHUNK):
            pass


def _mailbox_reply(address: str, state: Mailbox | None) -> str:
    if state is Mailbox.ACTIVE:
        return _reply(250, "2.1.5 Ok")
    if state is Mailbox.DISABLED:
        return _reply(550, f"5.2.1 <{address}>: Recipient address rejected: mailbox disabled")
    if state is Mailbox.FULL:
        return _reply(552, f"5.2.2 <{address}>: Recipient address rejected: mailbox full")
    if state is Mailbox.OVER_QUOTA:
        text = "4.2.2 <{}>: Recipient address rejected: mailbox full, try again later"
        return _reply(452, text.format(address))
    text = "5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table"
    return _reply(550, text.format(address))


_COMMANDS = {
    "EHLO": _Session._ehlo,
    "HELO": _Session._helo,
    "STARTTLS": _Session._starttls,
    "MAIL": _Session._mail,
    "RCPT": _Session._rcpt,
    "RSET": _Session._rset,
    "NOOP": _Session._noop,
    "VRFY": _Session._vrfy,
    "EXPN": _Session._vrfy,
    "HELP": _Session._help,
}

_HOSTILE = {
    Greeting.DROP: _Session._drop,
    Greeting.TARPIT: _Session._tarpit,
    Greeting.JUNK: _Session._junk,
    Greeting.ENDLESS: _Session._endless,
    Greeting.HUGE_LINE: _Session._huge_line,
}
