"""The loopback mail world answers as designed: its SMTP servers over raw sockets, its DNS
through dnspython. Everything else is tested against this world, so it must be trustworthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from mailsift.settings import Settings
from tests.mailworld.smtp_server import (
    HUGE_LINE_BYTES,
    DomainRules,
    ErrorLimits,
    Greeting,
    HostBehaviour,
    Mailbox,
    RateLimit,
    SmtpServer,
    Tls,
)
from tests.mailworld.world import MailWorld, WorldBuilder

WAIT = 3.0  # generous: only reached when something is broken
SENDER = "MAIL FROM:<verify@mailsift.test>"


@dataclass
class Reply:
    code: int
    lines: list[str]

    @property
    def status(self) -> str:
        """The enhanced status code (RFC 3463) of a one-line reply."""
        return self.lines[0].split(" ", 1)[0]


class Client:
    """A bare SMTP client: it sends exactly what a test says and parses replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, local_ip: str | None = None) -> Client:
        local = (local_ip, 0) if local_ip else None
        reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        return cls(reader, writer)

    async def reply(self) -> Reply:
        lines = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), WAIT)
            if not raw:
                raise EOFError("connection closed")
            line = raw.decode().rstrip("\r\n")
            lines.append(line[4:])
            if line[3:4] != "-":
                return Reply(int(line[:3]), lines)

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self.writer.drain()

    async def ask(self, line: str) -> Reply:
        await self.send(line)
        return await self.reply()

    async def hello(self) -> Reply:
        """Read the greeting, send EHLO, and return the EHLO reply."""
        assert (await self.reply()).code == 220
        return await self.ask("EHLO probe.mailsift.test")

    async def rcpt(self, address: str, mail: str = SENDER) -> Reply:
        """Open a transaction and ask about one recipient."""
        await self.hello()
        assert (await self.ask(mail)).code == 250
        return await self.ask(f"RCPT TO:<{address}>")

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), WAIT) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connect(host: str, port: int, local_ip: str | None = None) -> AsyncIterator[Client]:
    client = await Client.open(host, port, local_ip)
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def serving(**changes: object) -> AsyncIterator[SmtpServer]:
    """A fresh server on 127.0.0.1 receiving mail for ``ok.test`` (alice exists)."""
    rules = {"ok.test": DomainRules({"alice": Mailbox.ACTIVE})}
    behaviour = HostBehaviour(hostname="mx.fresh.test", domains=rules)
    for name, value in changes.items():
        setattr(behaviour, name, value)
    server = SmtpServer(behaviour)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def world_client(world: MailWorld, host: str) -> contextlib.AbstractAsyncContextManager[Client]:
    return connect(world.ip(host), world.port)


# --- mailboxes and domains -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "code", "status"),
    [
        ("alice@ok.test", 250, "2.1.5"),
        ("Alice@OK.test", 250, "2.1.5"),
        ("nobody@ok.test", 550, "5.1.1"),
        ("disabled@ok.test", 550, "5.2.1"),
        ("full@ok.test", 552, "5.2.2"),
        ("overquota@ok.test", 452, "4.2.2"),
        ("alice@norelay.test", 550, "5.7.1"),
    ],
)
async def test_mailbox_answers(mail_world: MailWorld, address: str, code: int, status: str) -> None:
    async with world_client(mail_world, "mx1.ok.test") as client:
        reply = await client.rcpt(address)
    assert (reply.code, reply.status) == (code, status)


async def test_catch_all_domain_accepts_any_local_part(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.catchall.test") as client:
        first = await client.rcpt("never-issued-7f3a@catchall.test")
        second = await client.ask("RCPT TO:<alice@catchall.test>")
    assert (first.code, second.code) == (250, 250)


async def test_backup_mx_works_while_primary_refuses(mail_world: MailWorld) -> None:
    with pytest.raises(ConnectionRefusedError):
        await Client.open(mail_world.ip("mx1.backup.test"), mail_world.port)
    async with world_client(mail_world, "mx2.backup.test") as client:
        assert (await client.rcpt("alice@backup.test")).code == 250


@pytest.mark.parametrize("host", ["mx1.refused.test", "mx2.refused.test"])
async def test_refused_hosts_have_nothing_listening(mail_world: MailWorld, host: str) -> None:
    with pytest.raises(ConnectionRefusedError):
        await Client.open(mail_world.ip(host), mail_world.port)


async def test_implicit_mx_hosts_speak_smtp_on_ipv4_and_ipv6(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "implicit-a.test") as client:
        assert (await client.rcpt("alice@implicit-a.test")).code == 250
    async with connect("::1", mail_world.port) as client:
        assert (await client.rcpt("alice@implicit-aaaa.test")).code == 250


# --- greetings -------------------------------------------------------------------------


async def test_greeting_421_then_hang_up(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.greet421.test") as client:
        greeting = await client.reply()
        assert (greeting.code, greeting.status) == (421, "4.3.2")
        assert await client.at_eof()


async def test_greeting_554_serves_only_quit(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.greet554.test") as client:
        greeting = await client.reply()
        assert (greeting.code, greeting.status) == (554, "5.7.1")
        assert (await client.ask("EHLO probe.mailsift.test")).code == 503
        assert (await client.ask(SENDER)).code == 503
        assert (await client.ask("QUIT")).code == 221


async def test_rcpt_refused_by_policy(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.rcpt554.test") as client:
        reply = await client.rcpt("alice@rcpt554.test")
    assert (reply.code, reply.status) == (554, "5.7.1")


async def test_tarpit_accepts_and_never_speaks(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.tarpit.test") as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.read(1), 0.3)


async def test_drop_closes_without_a_word(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.drop.test") as client:
        assert await client.at_eof()


# --- extensions ------------------------------------------------------------------------


async def test_starttls_upgrades_with_the_worlds_certificate(mail_world: MailWorld) -> None:
    context = ssl.create_default_context()
    mail_world.ca.configure_trust(context)
    async with world_client(mail_world, "mx.tls.test") as client:
        assert "STARTTLS" in (await client.hello()).lines
        assert (await client.ask("STARTTLS")).code == 220
        await client.writer.start_tls(context, server_hostname="mx.tls.test")
        assert client.writer.get_extra_info("ssl_object") is not None
        again = await client.ask("EHLO probe.mailsift.test")
        assert "STARTTLS" not in again.lines
        assert (await client.ask(SENDER)).code == 250
        assert (await client.ask("RCPT TO:<alice@tls.test>")).code == 250


async def test_starttls_refused_and_session_goes_on(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.tlsrefused.test") as client:
        assert "STARTTLS" in (await client.hello()).lines
        refusal = await client.ask("STARTTLS")
        assert (refusal.code, refusal.status) == (454, "4.7.0")
        assert (await client.ask(SENDER)).code == 250
        assert (await client.ask("RCPT TO:<alice@tlsrefused.test>")).code == 250


async def test_smtputf8_server_takes_unicode_when_declared(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.utf8.test") as client:
        assert "SMTPUTF8" in (await client.hello()).lines
        assert (await client.ask(f"{SENDER} SMTPUTF8")).code == 250
        assert (await client.ask("RCPT TO:<josé@utf8.test>")).code == 250
        assert (await client.ask("RCPT TO:<zoë@utf8.test>")).code == 550
        assert (await client.ask("RSET")).code == 250
        assert (await client.ask(SENDER)).code == 250
        undeclared = await client.ask("RCPT TO:<josé@utf8.test>")
    assert (undeclared.code, undeclared.status) == (553, "5.6.7")


async def test_server_without_smtputf8_bounces_unicode(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.noutf8.test") as client:
        assert "SMTPUTF8" not in (await client.hello()).lines
        assert (await client.ask(f"{SENDER} SMTPUTF8")).code == 555
        sender = await client.ask("MAIL FROM:<jösé@mailsift.test>")
        assert (sender.code, sender.status) == (550, "5.6.7")
        assert (await client.ask(SENDER)).code == 250
        recipient = await client.ask("RCPT TO:<josé@noutf8.test>")
        assert (recipient.code, recipient.status) == (553, "5.6.7")
        assert (await client.ask("RCPT TO:<alice@noutf8.test>")).code == 250


async def test_idn_domain_is_known_by_its_punycode(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.bücher.test") as client:
        assert (await client.rcpt("alice@xn--bcher-kva.test")).code == 250
        assert (await client.ask("RCPT TO:<nobody@xn--bcher-kva.test>")).code == 550
        unicode_domain = await client.ask("RCPT TO:<alice@bücher.test>")
    assert (unicode_domain.code, unicode_domain.status) == (553, "5.6.7")


@pytest.mark.parametrize(
    ("host", "offered"), [("mx1.ok.test", True), ("mx.nopipelining.test", False)]
)
async def test_pipelined_commands_are_answered_in_order(
    mail_world: MailWorld, host: str, offered: bool
) -> None:
    server = mail_world.server(host)
    before = server.stats.unadvertised_pipelining
    domain = host.split(".", 1)[1]
    async with world_client(mail_world, host) as client:
        await client.reply()
        await client.send(
            "EHLO probe.mailsift.test",
            SENDER,
            f"RCPT TO:<alice@{domain}>",
            f"RCPT TO:<nobody@{domain}>",
            "RSET",
            "QUIT",
        )
        replies = [await client.reply() for _ in range(6)]
    assert ("PIPELINING" in replies[0].lines) is offered
    assert [r.code for r in replies] == [250, 250, 250, 550, 250, 221]
    assert (server.stats.unadvertised_pipelining > before) is not offered


async def test_greylisting_in_the_standard_world(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.greylist.test") as client:
        reply = await client.rcpt("alice@greylist.test", "MAIL FROM:<first-time@mailsift.test>")
    assert (reply.code, reply.status) == (450, "4.7.1")


async def test_greylisting_lets_the_same_triplet_through_later() -> None:
    async with serving(greylist_seconds=0.2) as server, connect("127.0.0.1", server.port) as client:
        assert (await client.rcpt("alice@ok.test")).code == 450
        assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 450
        await asyncio.sleep(0.25)
        assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250
        assert (await client.ask("RCPT TO:<nobody@ok.test>")).code == 450  # a new triplet
        assert (await client.ask("RSET")).code == 250
        assert (await client.ask("MAIL FROM:<other@mailsift.test>")).code == 250
        assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 450  # a new sender


# --- limits and counters ---------------------------------------------------------------


async def test_connection_cap_per_client_ip() -> None:
    async with serving(max_connections_per_ip=2) as server:
        port = server.port
        async with connect("127.0.0.1", port) as one, connect("127.0.0.1", port) as two:
            assert (await one.reply()).code == (await two.reply()).code == 220
            async with connect("127.0.0.1", port) as third:
                refusal = await third.reply()
                assert (refusal.code, refusal.status) == (421, "4.7.0")
                assert await third.at_eof()
            async with connect("127.0.0.1", port, local_ip="127.0.0.2") as elsewhere:
                assert (await elsewhere.reply()).code == 220
            assert (await two.ask("QUIT")).code == 221
            assert await two.at_eof()
            async with connect("127.0.0.1", port) as fourth:
                assert (await fourth.reply()).code == 220
        stats = server.stats
        assert stats.limit_violations == stats.connection_limit_violations == 1
        assert stats.max_concurrent_seen == {"127.0.0.1": 3, "127.0.0.2": 1}
        assert stats.sessions == 5


async def test_recipient_cap_per_session() -> None:
    async with serving(max_rcpt_per_session=3) as server:
        async with connect("127.0.0.1", server.port) as client:
            assert (await client.rcpt("alice@ok.test")).code == 250
            for _ in range(2):
                assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250
            over = await client.ask("RCPT TO:<alice@ok.test>")
            assert (over.code, over.status) == (452, "4.5.3")
            assert (await client.ask("RSET")).code == 250
            assert (await client.ask(SENDER)).code == 250
            assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 452
        async with connect("127.0.0.1", server.port) as fresh:
            assert (await fresh.rcpt("alice@ok.test")).code == 250
        stats = server.stats
        assert stats.rcpt_limit_violations == stats.limit_violations == 2
        assert (stats.rcpt_commands, stats.rcpt_per_session_max) == (6, 5)


async def test_error_limits_sleep_then_hang_up_as_postfix_does() -> None:
    limits = ErrorLimits(soft=3, sleep=0.01, hard=5)
    async with serving(error_limits=limits) as server:
        async with connect("127.0.0.1", server.port) as client:
            assert (await client.rcpt("nobody1@ok.test")).code == 550  # error 1
            for n in (2, 3):
                assert (await client.ask(f"RCPT TO:<nobody{n}@ok.test>")).code == 550
            assert server.stats.error_sleeps == 0  # three errors made, none answered late yet
            assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250  # late: 1 sleep
            assert (await client.ask("RCPT TO:<nobody4@ok.test>")).code == 550  # error 4
            await client.send("RCPT TO:<nobody5@ok.test>")
            assert (await client.reply()).code == 550  # error 5: the hard limit
            goodbye = await client.reply()
            assert (goodbye.code, goodbye.status) == (421, "4.7.0")
            assert goodbye.lines == ["4.7.0 mx.fresh.test Error: too many errors"]
            assert await client.at_eof()
        stats = server.stats
        assert (stats.error_sleeps, stats.error_limit_disconnects) == (3, 1)
        assert stats.limit_violations == 4
        assert stats.counters()["limit_violations"] == 4


async def test_errors_under_the_soft_limit_cost_nothing() -> None:
    async with serving(error_limits=ErrorLimits()) as server:
        async with connect("127.0.0.1", server.port) as client:
            assert (await client.rcpt("nobody0@ok.test")).code == 550
            for n in range(1, 9):
                assert (await client.ask(f"RCPT TO:<nobody{n}@ok.test>")).code == 550
            assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250
            assert (await client.ask("QUIT")).code == 221
        counters = server.stats.counters()
        assert (counters["error_sleeps"], counters["error_limit_disconnects"]) == (0, 0)
        assert counters["limit_violations"] == 0


async def test_pipelined_errors_past_the_hard_limit_end_the_session() -> None:
    async with serving(error_limits=ErrorLimits(sleep=0.001)) as server:
        async with connect("127.0.0.1", server.port) as client:
            await client.hello()
            rcpts = [f"RCPT TO:<nobody{n}@ok.test>" for n in range(30)]
            await client.send(SENDER, *rcpts, "QUIT")
            codes = [(await client.reply()).code for _ in range(22)]
            assert codes == [250] + [550] * 20 + [421]
            assert await client.at_eof()
        assert server.stats.error_sleeps == 10  # the 11th to 20th rejections
        assert server.stats.rcpt_commands == 20  # nothing read after the hard limit


async def test_recipient_rate_limit_answers_450_and_forgives_after_its_window() -> None:
    async with serving(recipient_rate=RateLimit(2, 0.2)) as server:
        async with connect("127.0.0.1", server.port) as client:
            assert (await client.rcpt("alice@ok.test")).code == 250
            assert (await client.ask("RCPT TO:<nobody@ok.test>")).code == 550
            over = await client.ask("RCPT TO:<alice@ok.test>")
            assert (over.code, over.status) == (450, "4.7.1")
            assert over.lines == ["4.7.1 Error: too many recipients from 127.0.0.1"]
            await asyncio.sleep(0.25)
            assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250
        assert server.stats.rate_limit_replies == 1
        assert server.stats.limit_violations == 0  # a client learns a rate by being told


async def test_connection_rate_limit_answers_421_at_the_greeting() -> None:
    async with serving(connection_rate=RateLimit(1, 0.2)) as server:
        async with connect("127.0.0.1", server.port) as first:
            assert (await first.reply()).code == 220
            async with connect("127.0.0.1", server.port) as second:
                refusal = await second.reply()
                assert (refusal.code, refusal.status) == (421, "4.7.0")
                assert "too many connections from 127.0.0.1" in refusal.lines[0]
                assert await second.at_eof()
            async with connect("127.0.0.1", server.port, local_ip="127.0.0.2") as other:
                assert (await other.reply()).code == 220  # counted per client address
        await asyncio.sleep(0.25)
        async with connect("127.0.0.1", server.port) as later:
            assert (await later.reply()).code == 220
        assert server.stats.rate_limit_replies == 1


def test_two_hosts_in_three_offer_starttls_unless_told() -> None:
    builder = WorldBuilder(starttls_share=2 / 3)
    hosts = [builder.host(f"mx{i}.tls.test") for i in range(9)]
    told = builder.host("mx.told.test", tls=Tls.NONE)
    offered = [h.behaviour is not None and h.behaviour.tls is Tls.OFFER for h in hosts]
    assert offered == [False, True, True] * 3
    contexts = [h.behaviour is not None and h.behaviour.tls_context is not None for h in hosts]
    assert contexts == offered
    assert told.behaviour is not None
    assert told.behaviour.tls is Tls.NONE


def test_the_standard_world_offers_starttls_on_two_hosts_in_three(mail_world: MailWorld) -> None:
    listening = [s.behaviour for s in mail_world.hosts.values() if s.behaviour is not None]
    share = sum(b.tls is Tls.OFFER for b in listening) / len(listening)
    assert 0.55 < share < 0.75


async def test_starttls_works_with_the_handshake_held_back_one_reply_delay() -> None:
    builder = WorldBuilder()
    context = builder.tls_context("mx.fresh.test", "127.0.0.1")
    client_context = ssl.create_default_context()
    builder.ca.configure_trust(client_context)
    tls = {"tls": Tls.OFFER, "tls_context": context, "reply_delay": 0.01}
    async with serving(**tls) as server, connect("127.0.0.1", server.port) as client:
        await client.hello()
        assert (await client.ask("STARTTLS")).code == 220
        await client.writer.start_tls(client_context, server_hostname="mx.fresh.test")
        again = await client.ask("EHLO probe.mailsift.test")
        assert again.code == 250
        assert "STARTTLS" not in again.lines
        assert (await client.ask(SENDER)).code == 250
        assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 250


@pytest.mark.parametrize("command", ["DATA", "BDAT 10 LAST", "data"])
async def test_data_is_refused_and_counted(command: str) -> None:
    async with serving() as server:
        async with connect("127.0.0.1", server.port) as client:
            await client.rcpt("alice@ok.test")
            refusal = await client.ask(command)
            assert (refusal.code, refusal.status) == (503, "5.5.1")
            assert (await client.ask("QUIT")).code == 221
        assert server.stats.data_attempts == 1
        assert server.stats.quit_count == 1


async def test_transcript_keeps_each_sessions_commands() -> None:
    async with serving() as server:
        async with connect("127.0.0.1", server.port) as client:
            await client.rcpt("alice@ok.test")
            await client.ask("QUIT")
        (transcript,) = server.stats.transcripts()
    assert transcript.client == "127.0.0.1"
    assert transcript.commands == (
        "EHLO probe.mailsift.test",
        SENDER,
        "RCPT TO:<alice@ok.test>",
        "QUIT",
    )


async def test_sequence_and_syntax_errors() -> None:
    async with serving() as server, connect("127.0.0.1", server.port) as client:
        await client.reply()
        assert (await client.ask(SENDER)).code == 503  # before EHLO
        assert (await client.ask("EHLO probe.mailsift.test")).code == 250
        assert (await client.ask("RCPT TO:<alice@ok.test>")).code == 503  # before MAIL
        assert (await client.ask("MAIL FROM:alice")).code == 501
        assert (await client.ask(SENDER)).code == 250
        assert (await client.ask(SENDER)).code == 503  # nested
        assert (await client.ask("RCPT TO:<no-at-sign>")).code == 501
        assert (await client.ask("FROB")).code == 502
        too_long = await client.ask("NOOP " + "x" * 5000)
        assert too_long.code == 500
        assert await client.at_eof()


# --- latency -----------------------------------------------------------------------------


async def test_pipelined_batch_is_answered_together_after_one_delay() -> None:
    async with serving(reply_delay=0.3) as server, connect("127.0.0.1", server.port) as client:
        await client.reply()
        await client.send("EHLO probe.mailsift.test", SENDER, "RCPT TO:<alice@ok.test>", "NOOP")
        with pytest.raises(TimeoutError):  # nothing can come back before the delay
            await asyncio.wait_for(client.reader.read(1), 0.15)
        first = await asyncio.wait_for(client.reader.read(1), WAIT)
        rest = await asyncio.wait_for(client.reader.read(65536), WAIT)
    lines = (first + rest).decode().splitlines()
    assert [line[:4] for line in lines if line[3] == " "] == ["250 "] * 4


# --- hostile servers ---------------------------------------------------------------------


async def test_junk_instead_of_a_greeting(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.junk.test") as client:
        data = await asyncio.wait_for(client.reader.readexactly(4096), WAIT)
    assert not data[:3].isdigit()
    assert b"\x00" in data


async def test_endless_greeting_never_ends(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.endless.test") as client:
        data = await asyncio.wait_for(client.reader.readexactly(2 * 1024 * 1024), WAIT)
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) > 10_000
    assert all(line.startswith(b"220-") for line in lines)


async def test_huge_greeting_line(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.hugeline.test") as client:
        client.reader._limit = 2 * HUGE_LINE_BYTES  # type: ignore[attr-defined]
        line = await asyncio.wait_for(client.reader.readuntil(b"\r\n"), WAIT)
    assert line.startswith(b"220 ")
    assert len(line) == HUGE_LINE_BYTES + 6


async def test_slow_drip_sends_one_byte_at_a_time(mail_world: MailWorld) -> None:
    async with world_client(mail_world, "mx.slowdrip.test") as client:
        assert await asyncio.wait_for(client.reader.read(100), WAIT) == b"2"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.read(100), 0.3)


async def test_drip_delivers_a_whole_conversation_eventually() -> None:
    async with serving(drip_interval=0.002) as server, connect("127.0.0.1", server.port) as client:
        assert (await client.rcpt("alice@ok.test")).code == 250


# --- scale and shutdown ------------------------------------------------------------------


async def _one_session(port: int) -> int:
    async with connect("127.0.0.1", port) as client:
        code = (await client.rcpt("alice@ok.test")).code
        await client.ask("QUIT")
        return code


async def test_hundreds_of_concurrent_sessions() -> None:
    async with serving() as server:
        codes = await asyncio.gather(*(_one_session(server.port) for _ in range(300)))
        assert codes == [250] * 300
        assert server.stats.sessions == server.stats.quit_count == 300
        assert server.stats.max_concurrent_seen["127.0.0.1"] > 1


async def test_stop_ends_open_sessions_and_leaves_no_tasks() -> None:
    before = asyncio.all_tasks()
    tarpit = SmtpServer(HostBehaviour(greeting=Greeting.TARPIT))
    normal = SmtpServer(HostBehaviour())
    for server in (tarpit, normal):
        await server.start()
    clients = [await Client.open("127.0.0.1", s.port) for s in (tarpit, normal, normal)]
    for client in clients[1:]:
        assert (await client.reply()).code == 220
    for server in (tarpit, normal):
        await server.stop()
    for client in clients:
        assert await client.at_eof()
        await client.close()
    assert asyncio.all_tasks() == before


# --- DNS ---------------------------------------------------------------------------------


def resolver(world: MailWorld, lifetime: float = WAIT) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = world.dns_port
    res.lifetime = lifetime
    return res


def mx_of(world: MailWorld, domain: str) -> list[tuple[int, str]]:
    answer = resolver(world).resolve(domain, "MX")
    return sorted((r.preference, r.exchange.to_text()) for r in answer)


def test_mx_records_point_at_the_hosts(mail_world: MailWorld) -> None:
    assert mx_of(mail_world, "ok.test") == [(10, "mx1.ok.test."), (20, "mx2.ok.test.")]
    assert mx_of(mail_world, "backup.test") == [(10, "mx1.backup.test."), (20, "mx2.backup.test.")]
    assert mx_of(mail_world, "xn--bcher-kva.test") == [(10, "mx.xn--bcher-kva.test.")]
    assert mx_of(mail_world, "norelay.test") == [(10, "mx1.ok.test.")]
    assert mx_of(mail_world, "nullmx.test") == [(0, ".")]
    addresses = resolver(mail_world).resolve("mx1.ok.test", "A")
    assert [r.address for r in addresses] == [mail_world.ip("mx1.ok.test")]


def test_implicit_mx_domains_have_addresses_only(mail_world: MailWorld) -> None:
    res = resolver(mail_world)
    for domain in ("implicit-a.test", "implicit-aaaa.test", "noaddress.test"):
        with pytest.raises(dns.resolver.NoAnswer):
            res.resolve(domain, "MX")
    assert [r.address for r in res.resolve("implicit-a.test", "A")] == [
        mail_world.ip("implicit-a.test")
    ]
    assert [r.address for r in res.resolve("implicit-aaaa.test", "AAAA")] == ["::1"]
    for domain, rdtype in [("implicit-aaaa.test", "A"), ("noaddress.test", "A")]:
        with pytest.raises(dns.resolver.NoAnswer):
            res.resolve(domain, rdtype)


def test_missing_failing_and_silent_domains(mail_world: MailWorld) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(mail_world).resolve("nxdomain.test", "MX")
    query = dns.message.make_query("servfail.test", "MX")
    answer = dns.query.udp(query, "127.0.0.1", timeout=WAIT, port=mail_world.dns_port)
    assert answer.rcode() == dns.rcode.SERVFAIL
    with pytest.raises(dns.exception.Timeout):
        resolver(mail_world, lifetime=0.3).resolve("dnstimeout.test", "MX")


def test_every_listening_host_shares_the_port(mail_world: MailWorld) -> None:
    ports = {server.port for server in mail_world.servers.values()}
    assert ports == {mail_world.port}
    assert "mx1.refused.test" not in mail_world.servers
    listening = {name for name, spec in mail_world.hosts.items() if spec.behaviour is not None}
    assert set(mail_world.servers) == listening


# --- the world's contract -----------------------------------------------------------------


def test_expected_verdicts_follow_the_policy(mail_world: MailWorld) -> None:
    expected = mail_world.expected
    assert expected["alice@ok.test"] == ("valid", "accepted_email")
    assert expected["info@ok.test"] == ("valid", "accepted_email")
    assert mail_world.expected_flags["info@ok.test"] == {"role"}
    assert (
        expected["nobody@ok.test"] == expected["disabled@ok.test"] == ("invalid", "rejected_email")
    )
    assert expected["full@ok.test"] == ("risky", "low_deliverability")
    assert expected["alice@catchall.test"] == ("risky", "low_deliverability")
    for domain in ("nullmx.test", "nxdomain.test", "noaddress.test"):
        assert expected[f"alice@{domain}"] == ("invalid", "invalid_domain")
    assert expected["alice@refused.test"] == ("unknown", "no_connect")
    assert expected["alice@tarpit.test"] == ("unknown", "timeout")
    assert expected["alice@greylist.test"] == ("valid", "accepted_email")
    assert expected["josé@noutf8.test"] == ("invalid", "rejected_email")
    assert expected["josé@utf8.test"] == ("valid", "accepted_email")
    assert expected["alice@mailinator.com"] == ("risky", "low_quality")
    assert expected["alice@bücher.test"] == ("valid", "accepted_email")


def test_every_expected_address_has_a_domain_in_the_world(mail_world: MailWorld) -> None:
    res = resolver(mail_world)
    for address in mail_world.expected:
        domain = address.rsplit("@", 1)[1].encode("idna").decode()
        if domain in ("nxdomain.test", "servfail.test", "dnstimeout.test"):
            continue
        assert res.resolve(domain, "SOA", raise_on_no_answer=False).response.rcode() == 0


def test_env_and_settings_point_at_the_world(mail_world: MailWorld) -> None:
    env = mail_world.env()
    assert env["MAILSIFT_SMTP_PORT"] == str(mail_world.port)
    assert env["MAILSIFT_DNS_NAMESERVERS"] == f"127.0.0.1:{mail_world.dns_port}"
    settings = mail_world.settings()
    assert isinstance(settings, Settings)
    assert settings.smtp_port == mail_world.port
    assert settings.allow_private_targets is True
    assert settings.dns_nameservers == [f"127.0.0.1:{mail_world.dns_port}"]
    assert settings.proxies == []
    assert settings.envelope_sender == "verify@mailsift.test"
    assert mail_world.settings(command_timeout=5).command_timeout == 5


def test_totals_add_up_every_server(mail_world: MailWorld) -> None:
    before = mail_world.totals()

    async def session() -> None:
        async with world_client(mail_world, "mx.catchall.test") as client:
            await client.rcpt("a@catchall.test")
            await client.ask("RCPT TO:<b@catchall.test>")
            await client.ask("QUIT")

    asyncio.run(session())
    after = mail_world.totals()
    assert after["sessions"] - before["sessions"] == 1
    assert after["rcpt_commands"] - before["rcpt_commands"] == 2
    assert after["quit_count"] - before["quit_count"] == 1
    assert after["data_attempts"] == 0


def test_builder_makes_a_custom_world() -> None:
    builder = WorldBuilder(host_defaults=HostBehaviour(reply_delay=0.01), dns_answer_delay=0.01)
    hosts = [builder.host(f"mx{i}.bench.test") for i in range(3)]
    dead = builder.host("mx.dead.test", listening=False)
    for i in range(9):
        builder.domain(f"d{i}.bench.test", mx=[(10, hosts[i % 3])], mailboxes=["user"])
    builder.domain("dead.test", mx=[(10, dead)])

    async def probe(world: MailWorld) -> int:
        async with world_client(world, "mx1.bench.test") as client:
            return (await client.rcpt("user@d4.bench.test")).code

    with builder.build() as world:
        assert {s.port for s in world.servers.values()} == {world.port}
        assert world.server("mx0.bench.test").behaviour.reply_delay == 0.01
        assert mx_of(world, "d4.bench.test") == [(10, "mx1.bench.test.")]
        assert asyncio.run(probe(world)) == 250
        assert world.dns_queries()[("d4.bench.test", "MX")] == 1
        assert "mx.dead.test" not in world.servers
    assert world.totals()["sessions"] == 1  # still readable once stopped
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(probe(world))
