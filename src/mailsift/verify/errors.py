"""What can go wrong while talking to a mail server, as values the verdict can read."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailsift.verify.smtp import Reply


class Stage(StrEnum):
    """Where in the conversation something happened."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"
    RSET = "rset"


class LocalProtocolError(ValueError):
    """mailsift asked for something SMTP does not allow: a bug or misuse on this side."""


class RemoteProtocolError(Exception):
    """The server sent something that is not a well-formed, reasonably sized SMTP reply."""


class ProbeError(Exception):
    """Base of every failure talking to one mail server."""

    def __init__(self, stage: Stage, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


class TargetRefused(ProbeError):
    """The SSRF guard refused the address (private, loopback, reserved...)."""


class ConnectFailed(ProbeError):
    """TCP (or proxy) connection refused, unreachable or reset before the greeting."""


class ProbeTimeout(ProbeError):
    """The server did not answer in time (connect or command)."""


class ConnectionDropped(ProbeError):
    """The server closed the connection mid-conversation."""


class ProtocolViolation(ProbeError):
    """The server sent something that is not SMTP (junk, endless or oversized replies)."""


class ServerBusy(ProbeError):
    """The server asked to be left alone for a while (421, a rate limit) and was not asked
    again before the run had to answer."""


class SessionRefused(ProbeError):
    """The server answered a session-level command (greeting, EHLO, MAIL) with a non-2xx."""

    def __init__(self, stage: Stage, reply: Reply) -> None:
        super().__init__(stage, f"{reply.code} {reply.text}")
        self.reply = reply
