"""One SMTP conversation over asyncio: connect (direct or SOCKS5), STARTTLS, probe, quit.

The protocol itself lives in ``smtp.py``; this module moves its bytes and turns every way
a conversation can fail into one of the errors of ``errors.py``, with the stage it failed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from python_socks import ProxyError
from python_socks.async_.asyncio import Proxy

from mailsift.verify.errors import (
    ConnectFailed,
    ConnectionDropped,
    LocalProtocolError,
    ProbeError,
    ProbeTimeout,
    ProtocolViolation,
    SessionRefused,
    Stage,
)
from mailsift.verify.netguard import check_target
from mailsift.verify.smtp import (
    SERVICE_CLOSING,
    Answer,
    Reply,
    SmtpClient,
    SmtpStateError,
    SmtpSyntaxError,
    Step,
    check_envelope,
    parse_extensions,
)

_READ_CHUNK = 4096
_STREAM_LIMIT = 16 * 1024  # the StreamReader pauses the socket beyond twice this
_QUIT_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 1.0

_STAGES = {
    Step.GREETING: Stage.GREETING,
    Step.EHLO: Stage.EHLO,
    Step.HELO: Stage.EHLO,
    Step.STARTTLS: Stage.STARTTLS,
    Step.MAIL: Stage.MAIL,
    Step.RCPT: Stage.RCPT,
    # Housekeeping outside any transaction.
    Step.RSET: Stage.RSET,
    Step.NOOP: Stage.RSET,
    Step.QUIT: Stage.RSET,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    mx_host: str  # the MX name, for reporting and TLS SNI
    address: str  # the IP address to connect to
    port: int


@dataclass(frozen=True, slots=True)
class SessionOptions:
    helo_name: str
    connect_timeout: float
    command_timeout: float
    starttls: bool = True  # use STARTTLS when offered
    tls_verify: bool = False  # check the certificate (and hostname = mx_host) when True
    proxy_url: str | None = None  # "socks5://user:pass@host:port"
    allow_private: bool = False  # passed to netguard.check_target


class RcptInterrupted(SessionRefused):
    """A 421 arrived among the RCPT replies: the server is closing the session.

    ``reply`` is the 421, ``mail_reply`` answered MAIL FROM and ``answered`` holds the
    replies to the first ``len(answered)`` recipients, in order. The recipients after
    those got no reply and can be asked again in another session.
    """

    def __init__(self, reply: Reply, mail_reply: Reply, answered: Sequence[Reply]) -> None:
        super().__init__(Stage.RCPT, reply)
        self.mail_reply = mail_reply
        self.answered = tuple(answered)


class _TlsUnavailable(Exception):
    """STARTTLS was refused or its handshake failed: worth one more try in plain text."""


class SmtpSession:
    """An open, greeted SMTP session, ready to probe mailboxes. It never sends DATA.

    A session that fails with anything but a ``SessionRefused`` closes itself; after a
    ``SessionRefused`` on MAIL or RSET it is still usable unless ``is_open`` says otherwise.
    ``close()`` is always safe.
    """

    greeting: Reply
    extensions: dict[str, str]
    tls_active: bool

    def __init__(
        self,
        endpoint: Endpoint,
        options: SessionOptions,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.endpoint = endpoint
        self.options = options
        self.greeting = Reply(0, (), None)
        self.extensions = {}
        self.tls_active = False
        self._reader = reader
        self._writer = writer
        self._client = SmtpClient()
        self._ready: deque[Answer] = deque()
        self._mail_reply = Reply(0, (), None)  # MAIL's reply in the open transaction
        self.rcpt_arrivals: list[float] = []  # loop time of each RCPT reply of the last call
        self.round_trip = 0.0  # seconds EHLO took: how fast the server answers a command
        self._broken = False  # the byte stream can no longer be trusted
        self._closed = False

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(cls, endpoint: Endpoint, options: SessionOptions) -> SmtpSession:
        """Connect, read the greeting, EHLO (or HELO) and upgrade to TLS when offered.

        When STARTTLS is refused or its handshake fails, reconnects once without it.
        """
        check_target(endpoint.address, allow_private=options.allow_private)
        try:
            return await cls._open(endpoint, options, starttls=options.starttls)
        except _TlsUnavailable:
            return await cls._open(endpoint, options, starttls=False)

    @classmethod
    async def _open(
        cls, endpoint: Endpoint, options: SessionOptions, *, starttls: bool
    ) -> SmtpSession:
        reader, writer = await _connect(endpoint, options)
        session = cls(endpoint, options, reader, writer)
        try:
            await session._start(starttls=starttls)
        except BaseException:
            await session.close()
            raise
        return session

    async def _start(self, *, starttls: bool) -> None:
        self.greeting = await self._next_reply()
        if not self.greeting.is_positive:
            raise SessionRefused(Stage.GREETING, self.greeting)
        await self._hello()
        if starttls and "STARTTLS" in self.extensions:
            await self._starttls()
            await self._hello()

    async def _hello(self) -> None:
        name = self.options.helo_name
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        reply = await self._command(self._client.ehlo(name))
        self.round_trip = loop.time() - asked_at
        if reply.is_positive:
            self.extensions = parse_extensions(reply)
            return
        if reply.is_permanent:  # EHLO unknown to the server: try the old greeting
            reply = await self._command(self._client.helo(name))
            if reply.is_positive:
                self.extensions = {}
                return
        raise SessionRefused(Stage.EHLO, reply)

    async def _starttls(self) -> None:
        reply = await self._command(self._client.starttls())
        if not reply.is_positive:
            raise _TlsUnavailable(f"{reply.code} {reply.text}")
        hostname = self.endpoint.mx_host.rstrip(".") or self.endpoint.address
        try:
            async with asyncio.timeout(self.options.command_timeout):
                await self._writer.start_tls(
                    tls_context(verify=self.options.tls_verify), server_hostname=hostname
                )
        except ssl.SSLCertVerificationError as exc:
            # A certificate that fails a check the operator asked for: no downgrade to plain.
            self._broken = True
            raise ConnectFailed(
                Stage.STARTTLS, f"certificate rejected: {exc.verify_message}"
            ) from exc
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            self._broken = True
            raise _TlsUnavailable(str(exc)) from exc
        self.tls_active = True
        self.extensions = {}

    # --- the public conversation ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """False once closed, or once the server has announced it is closing (421)."""
        return not (self._closed or self._client.closed)

    @property
    def supports_pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    @property
    def supports_smtputf8(self) -> bool:
        return "SMTPUTF8" in self.extensions

    async def probe(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool = False,
        reset_first: bool = False,
        then_quit: bool = False,
    ) -> tuple[Reply, list[Reply]]:
        """Ask about ``recipients`` in one MAIL transaction; return MAIL's and each RCPT's reply.

        ``reset_first`` sends RSET before MAIL (ending the previous transaction) and
        ``then_quit`` ends the session after the last RCPT; with PIPELINING both travel in
        the same write as MAIL and the RCPTs, which saves a round trip each.

        Raises ``SessionRefused(Stage.RSET)`` or ``SessionRefused(Stage.MAIL)`` when RSET or
        MAIL FROM is not accepted, and ``RcptInterrupted`` (a ``SessionRefused`` at
        ``Stage.RCPT``) when the server sends 421 among the RCPT replies.
        """
        await self._check_usable(Stage.MAIL)
        if smtputf8 and not self.supports_smtputf8:
            raise LocalProtocolError("the server does not offer SMTPUTF8")
        check_envelope(sender, recipients, smtputf8=smtputf8)
        async with self._guard():
            if self.supports_pipelining:
                return await self._probe_pipelined(
                    sender,
                    recipients,
                    smtputf8=smtputf8,
                    reset_first=reset_first,
                    then_quit=then_quit,
                )
            if reset_first:
                await self._reset()
            answer = await self._probe_stepwise(sender, recipients, smtputf8=smtputf8)
        if then_quit:
            await self.close()
        return answer

    async def ask(self, recipients: Sequence[str], *, then_quit: bool = False) -> list[Reply]:
        """More RCPTs in the transaction the last ``probe`` opened; their replies, in order.

        Raises ``RcptInterrupted`` like ``probe`` when the server sends 421 among them.
        """
        await self._check_usable(Stage.RCPT)
        async with self._guard():
            self.rcpt_arrivals = []
            replies: list[Reply] = []
            if self.supports_pipelining:
                batch = b"".join(self._client.rcpt_to(recipient) for recipient in recipients)
                if then_quit:
                    batch += self._client.quit()
                await self._send(batch)
                for _ in recipients:
                    self._rcpt_reply(await self._next_reply(), replies)
                if then_quit:
                    await self._settle()
                return replies
            for recipient in recipients:
                self._rcpt_reply(await self._command(self._client.rcpt_to(recipient)), replies)
        if then_quit:
            await self.close()
        return replies

    async def _probe_pipelined(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool,
        reset_first: bool,
        then_quit: bool,
    ) -> tuple[Reply, list[Reply]]:
        # RFC 2920: RSET, MAIL and every RCPT (and QUIT last) in one write, then the replies.
        batch = self._client.rset() if reset_first else b""
        batch += self._client.mail_from(sender, smtputf8=smtputf8)
        batch += b"".join(self._client.rcpt_to(recipient) for recipient in recipients)
        if then_quit:
            batch += self._client.quit()
        self.rcpt_arrivals = []
        await self._send(batch)
        if reset_first:
            rset = await self._next_reply()
            if not rset.is_positive:
                await self._settle()
                raise SessionRefused(Stage.RSET, rset)
        mail = self._mail_reply = await self._next_reply()
        if not mail.is_positive:
            await self._settle()
            raise SessionRefused(Stage.MAIL, mail)
        replies: list[Reply] = []
        for _ in recipients:
            self._rcpt_reply(await self._next_reply(), replies)
        if then_quit:
            await self._settle()  # the 221; the server closes the connection after it
        return mail, replies

    async def _probe_stepwise(
        self, sender: str, recipients: Sequence[str], *, smtputf8: bool
    ) -> tuple[Reply, list[Reply]]:
        self.rcpt_arrivals = []
        mail = self._mail_reply = await self._command(
            self._client.mail_from(sender, smtputf8=smtputf8)
        )
        if not mail.is_positive:
            raise SessionRefused(Stage.MAIL, mail)
        replies: list[Reply] = []
        for recipient in recipients:
            self._rcpt_reply(await self._command(self._client.rcpt_to(recipient)), replies)
        return mail, replies

    def _rcpt_reply(self, reply: Reply, replies: list[Reply]) -> None:
        """File one RCPT reply (and when it came), or stop at a 421: the server is closing."""
        if reply.code == SERVICE_CLOSING:
            raise RcptInterrupted(reply, self._mail_reply, replies)
        self.rcpt_arrivals.append(asyncio.get_running_loop().time())
        replies.append(reply)

    async def reset(self) -> Reply:
        """RSET: end the transaction. A non-2xx reply raises ``SessionRefused(Stage.RSET)``."""
        await self._check_usable(Stage.RSET)
        async with self._guard():
            return await self._reset()

    async def _reset(self) -> Reply:
        reply = await self._command(self._client.rset())
        if not reply.is_positive:
            raise SessionRefused(Stage.RSET, reply)
        return reply

    async def close(self) -> None:
        """QUIT when the conversation is in a clean state (briefly), then close. Idempotent."""
        if not self._closed:
            self._closed = True
            graceful = self._in_sync()
            try:
                if graceful:
                    with contextlib.suppress(ProbeError, SmtpStateError):
                        await self._command(self._client.quit(), limit=_QUIT_TIMEOUT)
            finally:  # cancelled while saying goodbye: the socket must still be released
                if (graceful or self._said_goodbye()) and not self._broken:
                    self._writer.close()
                else:
                    self._writer.transport.abort()
        await self._wait_closed()

    # --- moving bytes ---------------------------------------------------------------------------

    async def _check_usable(self, stage: Stage) -> None:
        if self._closed:
            raise SmtpStateError("the session is closed")
        goodbye = self._client.closing_reply
        if goodbye is not None:  # a 421 that came on its own, after the last awaited reply
            await self.close()
            raise SessionRefused(stage, goodbye)

    def _owed(self) -> int:
        """Replies to commands already sent that the caller has not consumed yet."""
        return len(self._ready) + len(self._client.pending)

    def _said_goodbye(self) -> bool:
        """QUIT was already answered (it was pipelined behind the last RCPT)."""
        goodbye = self._client.closing_reply
        return goodbye is not None and goodbye.is_positive

    def _in_sync(self) -> bool:
        return not (self._broken or self._client.closed or self._owed())

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Close the session when a failure (or a cancellation) leaves it out of step."""
        try:
            yield
        except BaseException:
            if not self._in_sync():
                await self.close()
            raise

    async def _settle(self) -> None:
        """Read the replies still owed (pipelined RCPTs after a refused MAIL), ignoring them."""
        try:
            for _ in range(self._owed()):
                await self._next_reply()
        except ProbeError:
            self._broken = True

    async def _command(self, data: bytes, *, limit: float | None = None) -> Reply:
        await self._send(data, limit=limit)
        return await self._next_reply(limit=limit)

    def _stage(self) -> Stage:
        pending = self._client.pending
        return _STAGES[pending[0]] if pending else Stage.RSET

    @contextlib.contextmanager
    def _wire_errors(self, stage: Stage, *, too_slow: str) -> Iterator[None]:
        """The one place where what the socket and the parser raise becomes a ``ProbeError``.

        Each of them leaves the byte stream out of step, so the session is marked broken.
        """
        try:
            yield
        except TimeoutError as exc:
            self._broken = True
            raise ProbeTimeout(stage, too_slow) from exc
        except SmtpSyntaxError as exc:
            self._broken = True
            raise ProtocolViolation(stage, str(exc)) from exc
        except OSError as exc:  # ssl.SSLError included
            self._broken = True
            raise ConnectionDropped(stage, f"connection lost: {exc}") from exc
        except ConnectionDropped:
            self._broken = True
            raise

    async def _send(self, data: bytes, *, limit: float | None = None) -> None:
        limit = limit if limit is not None else self.options.command_timeout
        with self._wire_errors(self._stage(), too_slow=f"could not send within {limit}s"):
            self._writer.write(data)
            async with asyncio.timeout(limit):
                await self._writer.drain()

    async def _next_reply(self, *, limit: float | None = None) -> Reply:
        """The next reply. ``limit`` bounds reading all of it, so trickled bytes cannot stall us."""
        if not self._ready:
            await self._fill(limit if limit is not None else self.options.command_timeout)
        return self._ready.popleft().reply

    async def _fill(self, limit: float) -> None:
        stage = self._stage()
        with self._wire_errors(stage, too_slow=f"no complete reply within {limit}s"):
            async with asyncio.timeout(limit):
                while not self._ready:
                    chunk = await self._reader.read(_READ_CHUNK)
                    if not chunk:
                        raise ConnectionDropped(stage, "the server closed the connection")
                    self._ready.extend(self._client.receive(chunk))

    async def _wait_closed(self) -> None:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()
            await asyncio.sleep(0)  # let the transport release its socket
        except OSError:  # ssl.SSLError included: why it ended was already reported
            return


async def _connect(
    endpoint: Endpoint, options: SessionOptions
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(options.connect_timeout):
            if options.proxy_url is None:
                return await asyncio.open_connection(
                    endpoint.address, endpoint.port, limit=_STREAM_LIMIT
                )
            proxy = Proxy.from_url(options.proxy_url)
            sock = await proxy.connect(dest_host=endpoint.address, dest_port=endpoint.port)
            try:
                return await asyncio.open_connection(sock=sock, limit=_STREAM_LIMIT)
            except BaseException:
                sock.close()
                raise
    except TimeoutError as exc:  # also python-socks' ProxyTimeoutError
        raise ProbeTimeout(
            Stage.CONNECT, f"no connection within {options.connect_timeout}s"
        ) from exc
    except (OSError, ProxyError) as exc:
        raise ConnectFailed(Stage.CONNECT, str(exc) or type(exc).__name__) from exc


@functools.cache
def tls_context(*, verify: bool) -> ssl.SSLContext:
    """The client context for every STARTTLS of the process, one per verification mode.

    Building one loads the system's CA bundle (about 20 ms of CPU), so it is built once and
    shared: an ``SSLContext`` is meant to serve many connections. ``tls_context.cache_clear()``
    makes the next session read the trust store again (after changing ``SSL_CERT_FILE``).
    """
    if verify:
        return ssl.create_default_context()
    # Opportunistic TLS (RFC 7435): encrypt even when the certificate proves nothing, and
    # skip loading a trust store that would never be consulted.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
