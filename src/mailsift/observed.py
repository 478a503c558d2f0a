"""The engine with its SMTP sessions and host pauses counted for ``/metrics``.

The engine knows nothing of Prometheus: a connector wrapped around the real one counts how
each session ended, and a gauge asks the engine's host manners how many servers are paused.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailsift.metrics import HOST_PAUSES, SMTP_SESSIONS
from mailsift.verify import SmtpConnector, SmtpConversation, Verifier
from mailsift.verify.errors import (
    ConnectFailed,
    ConnectionDropped,
    ProbeError,
    ProbeTimeout,
    SessionRefused,
    TargetRefused,
)
from mailsift.verify.session import Endpoint, SessionOptions
from mailsift.verify.smtp import Reply

# How a session that never opened ended, by the engine's error class.
_FAILED_OPENING: tuple[tuple[type[ProbeError], str], ...] = (
    (TargetRefused, "target_refused"),
    (ConnectFailed, "no_connect"),
    (ProbeTimeout, "timeout"),
    (SessionRefused, "refused"),
    (ConnectionDropped, "dropped"),
)


def _outcome_of(error: ProbeError) -> str:
    for error_class, outcome in _FAILED_OPENING:
        if isinstance(error, error_class):
            return outcome
    return "error"


class CountingConnector:
    """An ``SmtpConnector`` counting sessions in ``mailsift_smtp_sessions_total{outcome}``:
    ``completed`` (we said goodbye), ``dropped`` (the server hung up, or the session broke,
    before we did), or why it never opened."""

    def __init__(self, inner: SmtpConnector) -> None:
        self._inner = inner

    async def open(self, endpoint: Endpoint, options: SessionOptions) -> SmtpConversation:
        try:
            conversation = await self._inner.open(endpoint, options)
        except ProbeError as exc:
            SMTP_SESSIONS.labels(_outcome_of(exc)).inc()
            raise
        return _CountedConversation(conversation)


class _CountedConversation:
    def __init__(self, inner: SmtpConversation) -> None:
        self._inner = inner
        self._counted = False

    @property
    def endpoint(self) -> Endpoint:
        return self._inner.endpoint

    @property
    def is_open(self) -> bool:
        return self._inner.is_open

    @property
    def supports_smtputf8(self) -> bool:
        return self._inner.supports_smtputf8

    @property
    def supports_pipelining(self) -> bool:
        return self._inner.supports_pipelining

    @property
    def round_trip(self) -> float:
        return self._inner.round_trip

    @property
    def rcpt_arrivals(self) -> Sequence[float]:
        return self._inner.rcpt_arrivals

    async def probe(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        smtputf8: bool = False,
        reset_first: bool = False,
        then_quit: bool = False,
    ) -> tuple[Reply, list[Reply]]:
        try:
            replies = await self._inner.probe(
                sender,
                recipients,
                smtputf8=smtputf8,
                reset_first=reset_first,
                then_quit=then_quit,
            )
        except ProbeError:
            self._count("dropped")
            raise
        if then_quit:
            self._count("completed")
        return replies

    async def ask(self, recipients: Sequence[str], *, then_quit: bool = False) -> list[Reply]:
        try:
            replies = await self._inner.ask(recipients, then_quit=then_quit)
        except ProbeError:
            self._count("dropped")
            raise
        if then_quit:
            self._count("completed")
        return replies

    async def close(self) -> None:
        self._count("completed" if self._inner.is_open else "dropped")
        await self._inner.close()

    def _count(self, outcome: str) -> None:
        """Count the session once, by the first thing that ended it."""
        if not self._counted:
            self._counted = True
            SMTP_SESSIONS.labels(outcome).inc()


def observed_verifier(verifier: Verifier) -> Verifier:
    """``verifier`` with its sessions counted and its paused hosts shown in ``/metrics``."""
    verifier.connector = CountingConnector(verifier.connector)
    HOST_PAUSES.watch(verifier.manners)
    return verifier
