"""The port between the planner and the wire: open an SMTP conversation with one server.

The planner only ever talks to mail servers through an ``SmtpConnector``, the way an httpx
client only talks through its transport. ``SocketConnector`` is the real one (``session.py``
over TCP, SOCKS5 and STARTTLS); ``testing.ScriptedConnector`` is an in-memory one, so the
scheduling (budgets, failover, retries, pauses) can be tested without sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mailsift.verify.session import Endpoint, SessionOptions, SmtpSession
from mailsift.verify.smtp import Reply


class SmtpConversation(Protocol):
    """An open, greeted session, as the planner uses it (``SmtpSession`` is one).

    ``rcpt_arrivals`` holds the event-loop time at which each RCPT reply of the last
    ``probe`` or ``ask`` arrived and ``round_trip`` how long EHLO took, so the planner can
    notice a server that slows down.
    """

    @property
    def endpoint(self) -> Endpoint: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def supports_smtputf8(self) -> bool: ...

    @property
    def supports_pipelining(self) -> bool: ...

    @property
    def round_trip(self) -> float: ...

    @property
    def rcpt_arrivals(self) -> Sequence[float]: ...

    async def probe(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool = False,
        reset_first: bool = False,
        then_quit: bool = False,
    ) -> tuple[Reply, list[Reply]]: ...

    async def ask(self, recipients: Sequence[str], *, then_quit: bool = False) -> list[Reply]: ...

    async def close(self) -> None: ...


class SmtpConnector(Protocol):
    """Opens conversations; raises a ``ProbeError`` when the server cannot be talked to."""

    async def open(self, endpoint: Endpoint, options: SessionOptions) -> SmtpConversation: ...


class SocketConnector:
    """The real connector: TCP (or SOCKS5), the greeting, EHLO and STARTTLS."""

    async def open(self, endpoint: Endpoint, options: SessionOptions) -> SmtpConversation:
        return await SmtpSession.open(endpoint, options)
