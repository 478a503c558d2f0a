"""SmtpSession against small SMTP (and SOCKS5) servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from mailsift.verify.errors import (
    ConnectFailed,
    ConnectionDropped,
    ProbeTimeout,
    ProtocolViolation,
    SessionRefused,
    Stage,
    TargetRefused,
)
from mailsift.verify.session import (
    Endpoint,
    RcptInterrupted,
    SessionOptions,
    SmtpSession,
    tls_context,
)
from mailsift.verify.smtp import SmtpStateError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
StartMx = Callable[..., Awaitable[tuple["FakeMx", int]]]

MX_NAME = "mx.example.test"
SENDER = "verify@mailsift.test"


def options(**overrides: object) -> SessionOptions:
    settings: dict[str, object] = {
        "helo_name": "probe.mailsift.test",
        "connect_timeout": 1.0,
        "command_timeout": 1.0,
        "allow_private": True,
    }
    settings.update(overrides)
    return SessionOptions(**settings)  # type: ignore[arg-type]


def endpoint(port: int, mx_host: str = MX_NAME) -> Endpoint:
    return Endpoint(mx_host=mx_host, address="127.0.0.1", port=port)


class Servers:
    """Starts asyncio servers on free loopback ports and tears all of them down."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handler: Handler) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass  # the client went away, which several tests cause on purpose
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    started = Servers()
    yield started
    await started.stop()


# --- a scriptable SMTP server ------------------------------------------------------------------


@dataclass
class Connection:
    chunks: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    tls_commands: list[str] = field(default_factory=list)  # those received over TLS


@dataclass
class FakeMx:
    """A mail server that knows a few mailboxes and records every byte it is sent."""

    mailboxes: set[str] = field(default_factory=lambda: {"alice@example.test"})
    greeting: bytes = b"220 mx.example.test ESMTP ready\r\n"
    pipelining: bool = True
    smtputf8: bool = False
    starttls: str | None = None  # None, "offer", "refuse", "break" or "inject"
    tls: ssl.SSLContext | None = None
    ehlo_reply: bytes | None = None
    helo_reply: bytes = b"250 mx.example.test\r\n"
    mail_reply: bytes = b"250 2.1.0 Ok\r\n"
    special: dict[str, bytes] = field(default_factory=dict)  # RCPT address -> raw reply
    connections: list[Connection] = field(default_factory=list)

    @property
    def all_commands(self) -> list[str]:
        return [command for conn in self.connections for command in conn.commands]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection()
        self.connections.append(conn)
        writer.write(self.greeting)
        if not self.greeting.startswith(b"2"):
            await writer.drain()
            await self._await_quit(reader, writer, conn)
            return
        buffer, tls = b"", False
        while chunk := await reader.read(65536):
            conn.chunks.append(chunk)
            buffer += chunk
            while b"\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n", 1)
                command = raw.decode("utf-8", errors="replace")
                conn.commands.append(command)
                if tls:
                    conn.tls_commands.append(command)
                verb = command.split(" ", 1)[0].upper()
                writer.write(self.answer(verb, command, tls=tls))
                await writer.drain()
                if verb == "QUIT" or self.closes_after(command):
                    return
                if verb == "STARTTLS" and self.starttls == "inject":
                    return
                if verb == "STARTTLS" and self.starttls == "break":
                    await reader.read(65536)  # the ClientHello
                    writer.write(b"\x15\x03\x01\x00\x02\x02\x28 not a handshake")
                    return
                if verb == "STARTTLS" and self.starttls == "offer":
                    assert self.tls is not None
                    await writer.start_tls(self.tls)
                    tls = True

    async def _await_quit(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: Connection
    ) -> None:
        if self.greeting.startswith(b"421"):
            return
        line = await reader.readline()
        conn.commands.append(line.decode().strip())
        writer.write(b"221 bye\r\n")

    def closes_after(self, command: str) -> bool:
        reply = self.special.get(_address(command), b"")
        return reply.startswith(b"421")

    def answer(self, verb: str, command: str, *, tls: bool) -> bytes:
        if verb == "EHLO":
            return self.ehlo_reply or self._ehlo(tls=tls)
        if verb == "STARTTLS":
            return self._starttls_reply()
        if verb == "RCPT":
            address = _address(command)
            if address in self.special:
                return self.special[address]
            if address in self.mailboxes:
                return b"250 2.1.5 Ok\r\n"
            return b"550 5.1.1 <" + address.encode() + b">: no such user\r\n"
        fixed = {
            "HELO": self.helo_reply,
            "MAIL": self.mail_reply,
            "RSET": b"250 2.0.0 Ok\r\n",
            "NOOP": b"250 2.0.0 Ok\r\n",
            "QUIT": b"221 2.0.0 Bye\r\n",
        }
        return fixed.get(verb, b"502 5.5.2 Error: command not recognized\r\n")

    def _starttls_reply(self) -> bytes:
        if self.starttls == "refuse":
            return b"454 4.7.0 TLS not available\r\n"
        if self.starttls == "inject":  # one write: plain text right behind the 220
            return b"220 go\r\n250 sent in plain text, read as if encrypted\r\n"
        return b"220 go\r\n"

    def _ehlo(self, *, tls: bool) -> bytes:
        keywords = ["SIZE 10240000"]
        keywords += ["PIPELINING"] if self.pipelining else []
        keywords += ["SMTPUTF8"] if self.smtputf8 else []
        keywords += ["STARTTLS"] if self.starttls and not tls else []
        lines = [f"250-{MX_NAME}", *(f"250-{k}" for k in keywords[:-1]), f"250 {keywords[-1]}"]
        return "\r\n".join(lines).encode() + b"\r\n"


def _address(command: str) -> str:
    return command.partition("<")[2].partition(">")[0]


@pytest.fixture
def mx_servers(servers: Servers) -> Iterator[StartMx]:
    """Start FakeMx servers; whatever happens, none of them may ever see DATA or BDAT."""
    started: list[FakeMx] = []

    async def start(**config: object) -> tuple[FakeMx, int]:
        mx = FakeMx(**config)  # type: ignore[arg-type]
        started.append(mx)
        return mx, await servers.start(mx.handle)

    yield start
    for mx in started:
        verbs = {command.split(" ", 1)[0].upper() for command in mx.all_commands}
        assert not verbs & {"DATA", "BDAT"}


# --- TLS material ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(MX_NAME).configure_cert(context)
    return context


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the test CA the default trust store (OpenSSL reads SSL_CERT_FILE).

    The process keeps one verifying context; it is dropped so that the next session reads
    the trust store again, and dropped again afterwards so no other test trusts this CA.
    """
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


# --- plain sessions ------------------------------------------------------------------------------


async def test_pipelined_probe_sends_mail_and_rcpts_in_one_burst(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(pipelining=True)
    session = await SmtpSession.open(endpoint(port), options())
    assert session.greeting.code == 220
    assert session.supports_pipelining
    assert not session.tls_active

    mail, replies = await session.probe(SENDER, ["alice@example.test", "bob@example.test"])
    await session.close()

    assert mail.code == 250
    assert [r.code for r in replies] == [250, 550]
    assert replies[1].enhanced == (5, 1, 1)
    [burst] = [chunk for chunk in mx.connections[0].chunks if b"MAIL FROM" in chunk]
    assert burst == (
        b"MAIL FROM:<verify@mailsift.test>\r\n"
        b"RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
    )
    assert mx.all_commands[0] == "EHLO probe.mailsift.test"
    assert mx.all_commands[-1] == "QUIT"


async def test_pipelined_rset_and_quit_travel_with_the_transaction(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(pipelining=True)
    session = await SmtpSession.open(endpoint(port), options())
    await session.probe(SENDER, ["alice@example.test"])
    _, replies = await session.probe(SENDER, ["bob@example.test"], reset_first=True, then_quit=True)
    assert [r.code for r in replies] == [550]
    assert not session.is_open
    await session.close()  # already said goodbye: nothing more is sent

    bursts = [chunk for chunk in mx.connections[0].chunks if b"RSET" in chunk]
    assert bursts == [
        b"RSET\r\nMAIL FROM:<verify@mailsift.test>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n"
    ]
    assert mx.all_commands.count("QUIT") == 1


async def test_rset_and_quit_without_pipelining_go_one_at_a_time(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(pipelining=False)
    session = await SmtpSession.open(endpoint(port), options())
    await session.probe(SENDER, ["alice@example.test"])
    await session.probe(SENDER, ["bob@example.test"], reset_first=True, then_quit=True)
    assert not session.is_open
    assert all(chunk.count(b"\r\n") == 1 for chunk in mx.connections[0].chunks)
    assert mx.all_commands[-4:] == [
        "RSET",
        "MAIL FROM:<verify@mailsift.test>",
        "RCPT TO:<bob@example.test>",
        "QUIT",
    ]


async def test_without_pipelining_commands_go_one_at_a_time(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(pipelining=False)
    session = await SmtpSession.open(endpoint(port), options())
    assert not session.supports_pipelining

    mail, replies = await session.probe(SENDER, ["bob@example.test", "alice@example.test"])
    await session.close()

    assert mail.is_positive
    assert [r.code for r in replies] == [550, 250]
    assert all(chunk.count(b"\r\n") == 1 for chunk in mx.connections[0].chunks)
    assert mx.all_commands[1:4] == [
        "MAIL FROM:<verify@mailsift.test>",
        "RCPT TO:<bob@example.test>",
        "RCPT TO:<alice@example.test>",
    ]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_more_rcpts_in_the_open_transaction(mx_servers: StartMx, pipelining: bool) -> None:
    mx, port = await mx_servers(pipelining=pipelining)
    session = await SmtpSession.open(endpoint(port), options())
    _, first = await session.probe(SENDER, ["alice@example.test"])
    second = await session.ask(["carol@example.test", "alice@example.test"], then_quit=True)
    await session.close()

    assert [r.code for r in first] == [250]
    assert [r.code for r in second] == [550, 250]
    assert len(session.rcpt_arrivals) == 2
    assert session.rcpt_arrivals == sorted(session.rcpt_arrivals)
    assert [c.split(" ")[0] for c in mx.all_commands] == [
        "EHLO",
        "MAIL",
        "RCPT",
        "RCPT",
        "RCPT",
        "QUIT",
    ]


async def test_reset_between_probes(mx_servers: StartMx) -> None:
    mx, port = await mx_servers()
    session = await SmtpSession.open(endpoint(port), options())
    await session.probe(SENDER, ["alice@example.test"])
    assert (await session.reset()).code == 250
    _, replies = await session.probe(SENDER, ["carol@example.test"])
    await session.close()
    await session.close()  # idempotent

    assert [r.code for r in replies] == [550]
    assert [c.split(" ")[0] for c in mx.all_commands] == [
        "EHLO", "MAIL", "RCPT", "RSET", "MAIL", "RCPT", "QUIT",
    ]  # fmt: skip
    with pytest.raises(SmtpStateError):
        await session.probe(SENDER, ["alice@example.test"])


async def test_smtputf8_probe(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(smtputf8=True, mailboxes={"jos\u00e9@example.test"})
    session = await SmtpSession.open(endpoint(port), options())
    assert session.supports_smtputf8
    with pytest.raises(ValueError, match="SMTPUTF8"):
        await session.probe(SENDER, ["jos\u00e9@example.test"])
    _, [reply] = await session.probe(SENDER, ["jos\u00e9@example.test"], smtputf8=True)
    await session.close()

    assert reply.code == 250
    assert mx.all_commands[1:3] == [
        "MAIL FROM:<verify@mailsift.test> SMTPUTF8",
        "RCPT TO:<jos\u00e9@example.test>",
    ]


async def test_smtputf8_is_not_used_when_not_offered(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(smtputf8=False)
    session = await SmtpSession.open(endpoint(port), options())
    with pytest.raises(ValueError, match="does not offer SMTPUTF8"):
        await session.probe(SENDER, ["jos\u00e9@example.test"], smtputf8=True)
    await session.close()
    assert not any(c.startswith("MAIL") for c in mx.all_commands)


async def test_ehlo_refused_falls_back_to_helo(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(ehlo_reply=b"502 5.5.2 what?\r\n")
    session = await SmtpSession.open(endpoint(port), options())
    assert session.extensions == {}
    assert not session.supports_pipelining
    _, [reply] = await session.probe(SENDER, ["alice@example.test"])
    await session.close()
    assert reply.code == 250
    assert mx.all_commands[:2] == ["EHLO probe.mailsift.test", "HELO probe.mailsift.test"]


async def test_ehlo_and_helo_refused(mx_servers: StartMx) -> None:
    _, port = await mx_servers(ehlo_reply=b"502 no\r\n", helo_reply=b"550 5.7.1 go away\r\n")
    with pytest.raises(SessionRefused) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.EHLO
    assert caught.value.reply.enhanced == (5, 7, 1)


@pytest.mark.parametrize("pipelining", [True, False])
async def test_mail_from_refused(mx_servers: StartMx, pipelining: bool) -> None:
    mx, port = await mx_servers(pipelining=pipelining, mail_reply=b"550 5.7.1 sender blocked\r\n")
    session = await SmtpSession.open(endpoint(port), options())
    with pytest.raises(SessionRefused) as caught:
        await session.probe(SENDER, ["alice@example.test", "bob@example.test"])
    assert caught.value.stage is Stage.MAIL
    assert caught.value.reply.code == 550
    # The conversation is still in step: RSET gets its own answer.
    assert (await session.reset()).code == 250
    await session.close()
    assert mx.all_commands[-2:] == ["RSET", "QUIT"]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_421_among_rcpts(mx_servers: StartMx, pipelining: bool) -> None:
    special = {"busy@example.test": b"421 4.7.0 too many recipients, closing\r\n"}
    _, port = await mx_servers(pipelining=pipelining, special=special)
    session = await SmtpSession.open(endpoint(port), options())
    recipients = ["bob@example.test", "busy@example.test", "alice@example.test"]
    with pytest.raises(RcptInterrupted) as caught:
        await session.probe(SENDER, recipients)
    assert isinstance(caught.value, SessionRefused)
    assert caught.value.stage is Stage.RCPT
    assert caught.value.reply.code == 421
    assert caught.value.mail_reply.code == 250
    assert [r.code for r in caught.value.answered] == [550]
    with pytest.raises(SmtpStateError):
        await session.reset()
    await session.close()


async def test_rcpt_reply_timeout_names_the_rcpt_stage(servers: Servers) -> None:
    async def stalls_after_mail(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        writer.write(b"250-mx\r\n250 PIPELINING\r\n")
        await reader.readline()
        writer.write(b"250 sender ok\r\n")
        await asyncio.sleep(30)

    port = await servers.start(stalls_after_mail)
    session = await SmtpSession.open(endpoint(port), options(command_timeout=0.3))
    with pytest.raises(ProbeTimeout) as caught:
        await session.probe(SENDER, ["alice@example.test"])
    assert caught.value.stage is Stage.RCPT
    with pytest.raises(SmtpStateError):
        await session.reset()


async def test_421_after_the_last_reply_ends_the_session(servers: Servers) -> None:
    async def says_goodbye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        writer.write(b"250-mx\r\n250 PIPELINING\r\n")
        await reader.readuntil(b"RCPT TO:<alice@example.test>\r\n")
        writer.write(b"250 ok\r\n250 ok\r\n421 4.4.2 idle timeout, bye\r\n")
        await reader.read(100)

    port = await servers.start(says_goodbye)
    session = await SmtpSession.open(endpoint(port), options())
    mail, [reply] = await session.probe(SENDER, ["alice@example.test"])
    assert (mail.code, reply.code) == (250, 250)
    assert not session.is_open
    with pytest.raises(SessionRefused) as caught:
        await session.reset()
    assert caught.value.stage is Stage.RSET
    assert caught.value.reply.code == 421
    with pytest.raises(SmtpStateError):
        await session.reset()


async def test_cancelled_probe_closes_the_session(servers: Servers) -> None:
    got_mail = asyncio.Event()

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        writer.write(b"250 mx\r\n")
        await reader.readline()
        got_mail.set()
        await asyncio.sleep(30)

    port = await servers.start(stalls)
    session = await SmtpSession.open(endpoint(port), options(command_timeout=10.0))
    probe = asyncio.create_task(session.probe(SENDER, ["alice@example.test"]))
    await got_mail.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert not session.is_open
    with pytest.raises(SmtpStateError):
        await session.reset()


# --- refusals at the door ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "code"),
    [
        (b"421 4.3.2 try again later\r\n", 421),
        (b"554 5.7.1 your IP is listed\r\n", 554),
    ],
)
async def test_greeting_refused(mx_servers: StartMx, greeting: bytes, code: int) -> None:
    mx, port = await mx_servers(greeting=greeting)
    with pytest.raises(SessionRefused) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.GREETING
    assert caught.value.reply.code == code
    # After 554 the server waits for QUIT (RFC 5321 3.1); after 421 it has hung up.
    assert mx.all_commands == (["QUIT"] if code == 554 else [])


async def test_loopback_refused_unless_allowed(mx_servers: StartMx) -> None:
    mx, port = await mx_servers()
    with pytest.raises(TargetRefused) as caught:
        await SmtpSession.open(endpoint(port), options(allow_private=False))
    assert caught.value.stage is Stage.CONNECT
    await asyncio.sleep(0.05)
    assert mx.connections == []


async def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nobody listens there
    with pytest.raises(ConnectFailed) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.CONNECT


async def test_connect_timeout() -> None:
    # A listener whose accept queue is full drops new SYNs: the connect hangs.
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(listener.getsockname())
        await asyncio.sleep(0.05)
        with pytest.raises(ProbeTimeout) as caught:
            await SmtpSession.open(
                endpoint(listener.getsockname()[1]), options(connect_timeout=0.3)
            )
    assert caught.value.stage is Stage.CONNECT


# --- hostile and broken servers ------------------------------------------------------------------


async def test_tarpit(servers: Servers) -> None:
    async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    port = await servers.start(tarpit)
    with pytest.raises(ProbeTimeout) as caught:
        await SmtpSession.open(endpoint(port), options(command_timeout=0.3))
    assert caught.value.stage is Stage.GREETING


@pytest.mark.timeout(10)
async def test_trickling_reply_is_bounded_as_a_whole(servers: Servers) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Every byte comes well within the timeout; the whole line never does.
        for byte in b"220 mx.example.test ESMTP very slowly\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)

    port = await servers.start(trickle)
    with pytest.raises(ProbeTimeout) as caught:
        await SmtpSession.open(endpoint(port), options(command_timeout=0.7))
    assert caught.value.stage is Stage.GREETING


async def test_huge_line_fails_without_buffering_it(servers: Servers) -> None:
    block = b"A" * 65536

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ")
        for _ in range(10 * 1024 * 1024 // len(block)):
            writer.write(block)
            await writer.drain()

    port = await servers.start(flood)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolViolation) as caught:
            await SmtpSession.open(endpoint(port), options())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.stage is Stage.GREETING
    assert "longer than 2048 bytes" in caught.value.detail
    assert peak < 2_000_000  # a buffered 10 MB line would be far above


async def test_endless_multiline_reply(servers: Servers) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        while True:
            writer.write(b"250-still going\r\n" * 64)
            await writer.drain()

    port = await servers.start(endless)
    with pytest.raises(ProtocolViolation) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.EHLO
    assert "100 lines" in caught.value.detail


async def test_binary_junk(servers: Servers) -> None:
    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xde\xad\xbe\xef\r\n")
        await reader.read(100)

    port = await servers.start(junk)
    with pytest.raises(ProtocolViolation) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.GREETING


async def test_unsolicited_reply_is_a_protocol_violation(servers: Servers) -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        writer.write(b"250 mx\r\n250 nobody asked\r\n")
        await reader.read(100)

    port = await servers.start(chatty)
    with pytest.raises(ProtocolViolation) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.EHLO


async def test_eof_mid_conversation(servers: Servers) -> None:
    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()

    port = await servers.start(hangs_up)
    with pytest.raises(ConnectionDropped) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.EHLO


async def test_eof_mid_reply(servers: Servers) -> None:
    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        await reader.readline()
        writer.write(b"250-mx\r\n250-PIPELI")

    port = await servers.start(hangs_up)
    with pytest.raises(ConnectionDropped) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.EHLO


# --- STARTTLS ----------------------------------------------------------------------------------


async def test_starttls_without_verification(
    mx_servers: StartMx, server_tls: ssl.SSLContext
) -> None:
    mx, port = await mx_servers(starttls="offer", tls=server_tls)
    session = await SmtpSession.open(endpoint(port), options(tls_verify=False))
    assert session.tls_active
    assert "STARTTLS" not in session.extensions  # the post-TLS EHLO replaced the old list
    _, [reply] = await session.probe(SENDER, ["alice@example.test"])
    await session.close()

    assert reply.code == 250
    [conn] = mx.connections
    assert conn.commands[:3] == ["EHLO probe.mailsift.test", "STARTTLS", "EHLO probe.mailsift.test"]
    assert conn.tls_commands[:3] == [
        "EHLO probe.mailsift.test",
        "MAIL FROM:<verify@mailsift.test>",
        "RCPT TO:<alice@example.test>",
    ]


@pytest.mark.usefixtures("trust_ca")
async def test_starttls_with_verification(mx_servers: StartMx, server_tls: ssl.SSLContext) -> None:
    _, port = await mx_servers(starttls="offer", tls=server_tls)
    session = await SmtpSession.open(endpoint(port), options(tls_verify=True))
    assert session.tls_active
    await session.close()


@pytest.mark.usefixtures("trust_ca")
async def test_verified_starttls_never_downgrades(
    mx_servers: StartMx, server_tls: ssl.SSLContext
) -> None:
    mx, port = await mx_servers(starttls="offer", tls=server_tls)
    with pytest.raises(ConnectFailed) as caught:
        await SmtpSession.open(
            endpoint(port, mx_host="other.example.test"), options(tls_verify=True)
        )
    assert caught.value.stage is Stage.STARTTLS
    assert "certificate" in caught.value.detail
    assert len(mx.connections) == 1


def _tls_context_of(session: SmtpSession) -> ssl.SSLContext:
    ssl_object = session._writer.transport.get_extra_info("ssl_object")
    assert isinstance(ssl_object, ssl.SSLObject)
    return ssl_object.context


@pytest.mark.parametrize("verify", [False, True])
async def test_sessions_share_one_tls_context_per_mode(
    request: pytest.FixtureRequest, mx_servers: StartMx, server_tls: ssl.SSLContext, verify: bool
) -> None:
    """Loading the CA bundle costs ~20 ms of CPU: it happens once, not per STARTTLS."""
    if verify:
        request.getfixturevalue("trust_ca")
    _, port = await mx_servers(starttls="offer", tls=server_tls)
    first = await SmtpSession.open(endpoint(port), options(tls_verify=verify))
    second = await SmtpSession.open(endpoint(port), options(tls_verify=verify))
    try:
        assert first.tls_active
        assert second.tls_active
        shared = _tls_context_of(first)
        assert _tls_context_of(second) is shared
        assert shared.check_hostname is verify
        assert shared.verify_mode is (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
        assert tls_context(verify=not verify) is not shared
    finally:
        await first.close()
        await second.close()


async def test_untrusted_certificate_fails_verification(
    mx_servers: StartMx, server_tls: ssl.SSLContext
) -> None:
    _, port = await mx_servers(starttls="offer", tls=server_tls)
    with pytest.raises(ConnectFailed) as caught:
        await SmtpSession.open(endpoint(port), options(tls_verify=True))
    assert caught.value.stage is Stage.STARTTLS


async def test_starttls_refused_then_plain_retry(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(starttls="refuse")
    session = await SmtpSession.open(endpoint(port), options())
    assert not session.tls_active
    _, [reply] = await session.probe(SENDER, ["alice@example.test"])
    await session.close()

    assert reply.code == 250
    first, second = mx.connections
    assert first.commands == ["EHLO probe.mailsift.test", "STARTTLS", "QUIT"]
    assert "STARTTLS" not in second.commands
    assert second.commands[0] == "EHLO probe.mailsift.test"


async def test_broken_handshake_then_plain_retry(
    mx_servers: StartMx, server_tls: ssl.SSLContext
) -> None:
    mx, port = await mx_servers(starttls="break", tls=server_tls)
    session = await SmtpSession.open(endpoint(port), options())
    assert not session.tls_active
    await session.close()
    assert len(mx.connections) == 2
    assert "STARTTLS" not in mx.connections[1].commands


async def test_plain_text_after_the_starttls_reply_is_refused(mx_servers: StartMx) -> None:
    mx, port = await mx_servers(starttls="inject")
    with pytest.raises(ProtocolViolation) as caught:
        await SmtpSession.open(endpoint(port), options())
    assert caught.value.stage is Stage.STARTTLS
    assert len(mx.connections) == 1


async def test_starttls_can_be_turned_off(mx_servers: StartMx, server_tls: ssl.SSLContext) -> None:
    mx, port = await mx_servers(starttls="offer", tls=server_tls)
    session = await SmtpSession.open(endpoint(port), options(starttls=False))
    assert not session.tls_active
    assert "STARTTLS" in session.extensions
    await session.close()
    assert mx.all_commands == ["EHLO probe.mailsift.test", "QUIT"]


# --- SOCKS5 ------------------------------------------------------------------------------------


@dataclass
class Socks5Relay:
    """A minimal SOCKS5 server (RFC 1928, username/password per RFC 1929), loopback only."""

    username: bytes
    password: bytes
    requests: list[tuple[str, int]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        if 2 not in await reader.readexactly(count):
            writer.write(b"\x05\xff")
            return
        writer.write(b"\x05\x02")
        if not await self._authenticated(reader, writer):
            return
        host, port = await self._request(reader)
        self.requests.append((host, port))
        if host != "127.0.0.1":
            writer.write(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton(host) + port.to_bytes(2, "big"))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            upstream_writer.close()

    async def _authenticated(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        _version, length = await reader.readexactly(2)
        username = await reader.readexactly(length)
        password = await reader.readexactly((await reader.readexactly(1))[0])
        ok = (username, password) == (self.username, self.password)
        writer.write(b"\x01\x00" if ok else b"\x01\x01")
        await writer.drain()
        return ok

    @staticmethod
    async def _request(reader: asyncio.StreamReader) -> tuple[str, int]:
        _version, _command, _reserved, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        return host, int.from_bytes(await reader.readexactly(2), "big")


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(65536):
        sink.write(data)
        await sink.drain()
    if sink.can_write_eof():
        sink.write_eof()


async def test_session_through_socks5(mx_servers: StartMx, servers: Servers) -> None:
    mx, smtp_port = await mx_servers()
    relay = Socks5Relay(b"probe", b"s3cret")
    proxy_port = await servers.start(relay.handle)
    proxy_url = f"socks5://probe:s3cret@127.0.0.1:{proxy_port}"

    session = await SmtpSession.open(endpoint(smtp_port), options(proxy_url=proxy_url))
    _, [reply] = await session.probe(SENDER, ["alice@example.test"])
    await session.close()

    assert reply.code == 250
    assert relay.requests == [("127.0.0.1", smtp_port)]
    assert mx.all_commands[-1] == "QUIT"


async def test_socks5_wrong_credentials(mx_servers: StartMx, servers: Servers) -> None:
    mx, smtp_port = await mx_servers()
    relay = Socks5Relay(b"probe", b"s3cret")
    proxy_port = await servers.start(relay.handle)
    proxy_url = f"socks5://probe:wrong@127.0.0.1:{proxy_port}"

    with pytest.raises(ConnectFailed) as caught:
        await SmtpSession.open(endpoint(smtp_port), options(proxy_url=proxy_url))
    assert caught.value.stage is Stage.CONNECT
    assert relay.requests == []
    assert mx.connections == []


async def test_socks5_proxy_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        proxy_port = probe.getsockname()[1]
    proxy_url = f"socks5://probe:s3cret@127.0.0.1:{proxy_port}"
    with pytest.raises(ConnectFailed) as caught:
        await SmtpSession.open(endpoint(2525), options(proxy_url=proxy_url))
    assert caught.value.stage is Stage.CONNECT
