"""The client side of SMTP without any I/O: commands out as bytes, replies in as values.

Everything here is pure: feed the bytes a server sent, get ``Reply`` objects back; ask for a
command, get the bytes to write. The asyncio transport lives in ``session.py``.

The prober only asks about mailboxes, so there is deliberately no way to build ``DATA``
(or ``BDAT``): no message can ever be sent through this module.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mailsift.verify.errors import LocalProtocolError, RemoteProtocolError

DEFAULT_MAX_LINE_LENGTH = 2048
DEFAULT_MAX_LINES = 100
MAX_COMMAND_LENGTH = 512  # RFC 5321 4.5.3.1.4, CRLF included

_REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])([ -]?)(.*)", re.DOTALL)
_ENHANCED = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9.])")
_FORBIDDEN = ("\r", "\n", "\0")


class SmtpSyntaxError(RemoteProtocolError):
    """The server sent something that is not a well-formed, reasonably sized SMTP reply."""


class SmtpStateError(LocalProtocolError, RuntimeError):
    """A command was asked for at a point of the conversation where it makes no sense."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete server reply: its code, the text of each line and its RFC 3463 code."""

    code: int
    lines: tuple[str, ...]
    enhanced: tuple[int, int, int] | None

    @classmethod
    def build(cls, code: int, lines: tuple[str, ...]) -> Reply:
        """A reply with ``enhanced`` read from the first line, as a server would have sent it."""
        return cls(code, lines, _enhanced_code(code, lines[0] if lines else ""))

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 300

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600


def _enhanced_code(code: int, first_line: str) -> tuple[int, int, int] | None:
    match = _ENHANCED.match(first_line)
    if match is None or int(match[1]) != code // 100:
        return None  # a "5.x.x" on a 250 reply says nothing trustworthy
    return int(match[1]), int(match[2]), int(match[3])


class ReplyParser:
    """Turns a byte stream into ``Reply`` objects, refusing anything oversized or malformed.

    Memory stays bounded: at most one line (``max_line_length``) is buffered unparsed, and
    at most ``max_lines`` lines make up one reply. Once it has raised, it keeps raising.
    """

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        self._max_line_length = max_line_length
        self._max_lines = max_lines
        self._buffer = bytearray()
        self._code: int | None = None
        self._lines: list[str] = []
        self._error: SmtpSyntaxError | None = None

    @property
    def has_pending(self) -> bool:
        """True while bytes of an unfinished reply are held."""
        return bool(self._buffer or self._lines)

    def feed(self, data: bytes) -> list[Reply]:
        """Add bytes from the server; return every reply they complete, in order."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except SmtpSyntaxError as exc:
            self._error = exc
            self._buffer.clear()
            raise

    def _feed(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        self._buffer += data
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            reply = self._line(bytes(self._buffer[start:end]).removesuffix(b"\r"))
            if reply is not None:
                replies.append(reply)
            start = end + 1
        del self._buffer[:start]
        # One byte of slack: a CR may be waiting for its LF.
        if len(self._buffer) > self._max_line_length + 1:
            raise SmtpSyntaxError(f"reply line longer than {self._max_line_length} bytes")
        return replies

    def _line(self, raw: bytes) -> Reply | None:
        if len(raw) > self._max_line_length:
            raise SmtpSyntaxError(f"reply line longer than {self._max_line_length} bytes")
        match = _REPLY_LINE.fullmatch(raw)
        if match is None or (match[2] == b"" and match[3] != b""):
            raise SmtpSyntaxError(f"not an SMTP reply line: {raw[:40]!r}")
        code = int(match[1])
        if self._code is not None and code != self._code:
            raise SmtpSyntaxError(f"reply code changed from {self._code} to {code} mid-reply")
        if len(self._lines) >= self._max_lines:
            raise SmtpSyntaxError(f"reply longer than {self._max_lines} lines")
        self._code = code
        self._lines.append(match[3].decode("utf-8", errors="replace"))
        if match[2] == b"-":
            return None
        reply = Reply.build(code, tuple(self._lines))
        self._code, self._lines = None, []
        return reply


def parse_extensions(reply: Reply) -> dict[str, str]:
    """The EHLO keywords (upper-cased) and their parameters; the first line is the greeting."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions


# --- commands ----------------------------------------------------------------------------


def _line(*parts: bytes) -> bytes:
    line = b" ".join(parts) + b"\r\n"
    if len(line) > MAX_COMMAND_LENGTH:
        raise LocalProtocolError(f"command longer than {MAX_COMMAND_LENGTH} octets")
    return line


def _checked(value: str, what: str) -> str:
    if any(char in value for char in _FORBIDDEN):
        raise LocalProtocolError(f"{what} contains CR, LF or NUL: {value!r}")
    return value


def _domain(name: str) -> bytes:
    if not _checked(name, "client name").strip() or " " in name:
        raise LocalProtocolError(f"not a usable EHLO/HELO name: {name!r}")
    return name.encode("ascii")


def _path(address: str) -> bytes:
    """``<address>``, UTF-8 encoded; non-ASCII is only valid in an SMTPUTF8 transaction."""
    if any(char in _checked(address, "address") for char in "<>"):
        raise LocalProtocolError(f"address contains angle brackets: {address!r}")
    return b"<" + address.encode("utf-8") + b">"


def ehlo_command(name: str) -> bytes:
    return _line(b"EHLO", _domain(name))


def helo_command(name: str) -> bytes:
    return _line(b"HELO", _domain(name))


def starttls_command() -> bytes:
    return _line(b"STARTTLS")


def mail_command(sender: str, *, smtputf8: bool = False) -> bytes:
    """``MAIL FROM:<sender>``; an empty sender is the null reverse-path ``<>``."""
    path = b"MAIL FROM:" + _path(sender)
    return _line(path, b"SMTPUTF8") if smtputf8 else _line(path)


def rcpt_command(recipient: str) -> bytes:
    if not recipient:
        raise LocalProtocolError("empty recipient")
    return _line(b"RCPT TO:" + _path(recipient))


def check_envelope(sender: str, recipients: Iterable[str], *, smtputf8: bool) -> None:
    """Raise ``LocalProtocolError`` unless every address of the transaction can be sent."""
    _require_ascii(sender, smtputf8=smtputf8)
    mail_command(sender, smtputf8=smtputf8)
    for recipient in recipients:
        _require_ascii(recipient, smtputf8=smtputf8)
        rcpt_command(recipient)


def _require_ascii(address: str, *, smtputf8: bool) -> None:
    if not smtputf8 and not address.isascii():
        raise LocalProtocolError(f"a non-ASCII address needs SMTPUTF8: {address!r}")


def rset_command() -> bytes:
    return _line(b"RSET")


def noop_command() -> bytes:
    return _line(b"NOOP")


def quit_command() -> bytes:
    return _line(b"QUIT")


# --- the conversation ------------------------------------------------------------------------


class Step(StrEnum):
    """What a reply answers."""

    GREETING = "greeting"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"
    RSET = "rset"
    NOOP = "noop"
    QUIT = "quit"


@dataclass(frozen=True, slots=True)
class Answer:
    step: Step
    reply: Reply


SERVICE_CLOSING = 421


class SmtpClient:
    """One conversation's state: which replies are awaited, in order, and what may come next.

    Replies are matched to commands strictly in order, which is what makes PIPELINING
    (RFC 2920) safe: queue several commands, write their bytes at once, read the answers.
    A 421 answers the oldest command and ends the conversation: commands still pending
    will never be answered. A reply nobody asked for is a protocol error, except a 421.
    """

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        self._parser = ReplyParser(max_line_length=max_line_length, max_lines=max_lines)
        self._pending: deque[Step] = deque([Step.GREETING])
        self._transaction: bool | None = None  # None: no MAIL yet; else: is it SMTPUTF8?
        self.closing_reply: Reply | None = None  # the 421 or 221 that ended the conversation
        self.closed = False

    @property
    def pending(self) -> tuple[Step, ...]:
        return tuple(self._pending)

    def ehlo(self, name: str) -> bytes:
        self._transaction = None
        return self._queue(Step.EHLO, ehlo_command(name))

    def helo(self, name: str) -> bytes:
        self._transaction = None
        return self._queue(Step.HELO, helo_command(name))

    def starttls(self) -> bytes:
        if self._pending:
            raise SmtpStateError("STARTTLS must not be pipelined behind other commands")
        return self._queue(Step.STARTTLS, starttls_command())

    def mail_from(self, sender: str, *, smtputf8: bool = False) -> bytes:
        _require_ascii(sender, smtputf8=smtputf8)
        line = self._queue(Step.MAIL, mail_command(sender, smtputf8=smtputf8))
        self._transaction = smtputf8
        return line

    def rcpt_to(self, recipient: str) -> bytes:
        if self._transaction is None:
            raise SmtpStateError("RCPT before MAIL")
        _require_ascii(recipient, smtputf8=self._transaction)
        return self._queue(Step.RCPT, rcpt_command(recipient))

    def rset(self) -> bytes:
        self._transaction = None
        return self._queue(Step.RSET, rset_command())

    def noop(self) -> bytes:
        return self._queue(Step.NOOP, noop_command())

    def quit(self) -> bytes:
        return self._queue(Step.QUIT, quit_command())

    def _queue(self, step: Step, line: bytes) -> bytes:
        if self.closed:
            raise SmtpStateError("the conversation is over")
        if Step.STARTTLS in self._pending:
            raise SmtpStateError("nothing may follow STARTTLS before its reply")
        self._pending.append(step)
        return line

    def receive(self, data: bytes) -> list[Answer]:
        """Feed bytes from the server; return the answers they complete, oldest first."""
        if self.closed:
            return []  # the server said goodbye; whatever follows is not a reply
        answers: list[Answer] = []
        for reply in self._parser.feed(data):
            answer = self._match(reply)
            if answer is not None:
                answers.append(answer)
            if self.closed:
                break
        return answers

    def _match(self, reply: Reply) -> Answer | None:
        if not self._pending:
            if reply.code != SERVICE_CLOSING:
                raise SmtpSyntaxError(f"unsolicited reply: {reply.code} {reply.text[:80]}")
            self._close(reply)
            return None
        step = self._pending.popleft()
        if reply.code == SERVICE_CLOSING or step is Step.QUIT:
            self._close(reply)
        elif step is Step.STARTTLS and reply.is_positive and self._parser.has_pending:
            # Bytes sent before the TLS handshake must not pass for bytes sent after it.
            raise SmtpSyntaxError("data after the STARTTLS reply")
        return Answer(step, reply)

    def _close(self, reply: Reply) -> None:
        self.closed = True
        self.closing_reply = reply
        self._pending.clear()
