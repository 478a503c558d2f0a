"""The port through which the engine keeps per-domain findings beyond one process.

The engine learns, per domain, its mail route and whether it accepts every address, whether
its servers greylist, and, per mail server, how many recipients a session may carry. Within
a process the ``Verifier`` remembers them itself; a ``DomainMemory`` keeps them for every
worker and for later jobs (``mailsift.store.domain_memory`` keeps them in the database, with
a time to live). The engine reads findings before it plans a run and writes them as it learns
them; writes need not be awaited (an adapter may batch them).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from mailsift.verify.dns import MailRoute


@dataclass(frozen=True, slots=True)
class DomainFindings:
    route: MailRoute | None = None
    accept_all: bool | None = None  # None: not known
    greylisting: bool = False


class DomainMemory(Protocol):
    async def recall(self, domains: Collection[str]) -> Mapping[str, DomainFindings]:
        """What is known of these domains (those with nothing known are left out)."""
        ...

    async def recall_rcpt_caps(self, hosts: Collection[str]) -> Mapping[str, int]:
        """The recipient caps learnt of these mail servers (by IP address)."""
        ...

    def remember(
        self,
        domain: str,
        *,
        route: MailRoute | None = None,
        accept_all: bool | None = None,
        greylisting: bool = False,
    ) -> None:
        """Add findings of a domain (``None`` / ``False``: nothing new about that)."""
        ...

    def remember_rcpt_cap(self, host: str, cap: int) -> None: ...


class NoMemory:
    """A ``DomainMemory`` that keeps nothing (the engine used as a library)."""

    async def recall(self, domains: Collection[str]) -> Mapping[str, DomainFindings]:
        return {}

    async def recall_rcpt_caps(self, hosts: Collection[str]) -> Mapping[str, int]:
        return {}

    def remember(
        self,
        domain: str,
        *,
        route: MailRoute | None = None,
        accept_all: bool | None = None,
        greylisting: bool = False,
    ) -> None:
        return None

    def remember_rcpt_cap(self, host: str, cap: int) -> None:
        return None
