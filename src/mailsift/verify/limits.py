"""Politeness towards each mail server: how many connections, how many recipients, pauses.

The engine asks a ``HostLimiter`` for a slot before every connection to a mail server (keyed
by its IP address). The in-process limiter below holds for one process; a cluster swaps in
one that holds across machines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class HostLimiter(Protocol):
    """Caps simultaneous connections per mail server."""

    def slot(self, host: str) -> AbstractAsyncContextManager[None]: ...


class LocalHostLimiter:
    """At most ``per_host`` connections to one server from this process at any moment."""

    def __init__(self, per_host: int) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        self._per_host = per_host
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        semaphore = self._semaphores.setdefault(host, asyncio.Semaphore(self._per_host))
        self._users[host] = self._users.get(host, 0) + 1
        try:
            async with semaphore:
                yield
        finally:
            self._users[host] -= 1
            if not self._users[host]:  # forget idle hosts: lists name millions of them
                del self._users[host], self._semaphores[host]


def loop_time() -> float:
    """The running event loop's clock (what its timers use), else the monotonic clock."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class HostManners:
    """What each server told us about itself: pauses after 421, its real recipient cap, how
    many rejected recipients it tolerates in one session."""

    def __init__(self, clock: Callable[[], float] = loop_time) -> None:
        self._clock = clock
        self._paused_until: dict[str, float] = {}
        self._rcpt_caps: dict[str, int] = {}
        self._error_caps: dict[str, int] = {}
        self._suspected_caps: dict[str, int] = {}

    def pause(self, host: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused_until[host] = max(until, self._paused_until.get(host, 0.0))

    def paused_for(self, host: str) -> float:
        """Seconds left of the host's pause (0 when it may be contacted)."""
        until = self._paused_until.get(host)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._paused_until[host]
            return 0.0
        return left

    def rcpt_cap(self, host: str, default: int) -> int:
        return min(default, self._rcpt_caps.get(host, default))

    def lower_rcpt_cap(self, host: str, cap: int) -> None:
        self._rcpt_caps[host] = max(1, min(cap, self._rcpt_caps.get(host, cap)))

    def error_cap(self, host: str, default: int) -> int:
        return min(default, self._error_caps.get(host, default))

    def lower_error_cap(self, host: str, cap: int) -> None:
        self._error_caps[host] = max(1, min(cap, self._error_caps.get(host, cap)))

    def suspect_error_cap(self, host: str, cap: int) -> bool:
        """A session saw what looked like error sleeps from the ``cap + 1``-th rejection on.

        An MTA's limit is a fixed number, so the same estimate twice lowers the cap (True);
        stalls of the network or of either machine give estimates all over the place.
        """
        if self._suspected_caps.get(host) != cap:
            self._suspected_caps[host] = cap
            return False
        del self._suspected_caps[host]
        self.lower_error_cap(host, cap)
        return True
