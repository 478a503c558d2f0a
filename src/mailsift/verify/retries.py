"""Retry timers: a 4xx answer (greylisting, a paused server) is asked again later.

Until the run's deadline the item waits on an event-loop timer, holding no connection;
past it, the item is settled on the evidence it has. With ``defer`` the run does not wait
at all: the item gets a provisional answer saying when to ask again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mailsift.verify.run_state import Item
from mailsift.verify.settling import Settler


class RetryTimers:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        deadline: float,  # loop time after which nothing is asked again
        retry_after: float,
        defer: bool,
        settler: Settler,
        requeue: Callable[[Item], None],
    ) -> None:
        self._loop = loop
        self._deadline = deadline
        self._retry_after = retry_after
        self._defer = defer
        self._settler = settler
        self._requeue = requeue
        self.closed = False

    def later(self, item: Item, *, after: float | None = None) -> None:
        """Ask about ``item`` again in ``after`` seconds (at least the retry interval)."""
        delay = max(after or 0.0, self._retry_after)
        if self._loop.time() + delay > self._deadline:
            self._settler.answer(item)
            return
        item.endpoint_index = 0
        if self._defer:
            self._settler.provisional(item, delay)
            return
        self._loop.call_later(delay, self._again, item)

    def _again(self, item: Item) -> None:
        if not self.closed:
            self._requeue(item)  # its evidence stays until a newer answer replaces it
