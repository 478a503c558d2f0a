"""How much one SMTP session may ask: recipients, and rejected recipients.

Stock MTAs count every rejected RCPT as a client error. Postfix, for one, answers one reply
a second after ``smtpd_soft_error_limit`` (10) errors and hangs up with ``421 4.7.0 Error:
too many errors`` after ``smtpd_hard_error_limit`` (20). A session therefore ends before it
collects ``error_cap`` rejections, and since nobody knows in advance which recipients will
be rejected, a pipelined batch after ``k`` rejections carries at most ``error_cap - k``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from mailsift.verify.smtp import Reply

# Postfix's ``smtpd_error_sleep_time``: once over its soft limit, every reply waits this long.
ERROR_SLEEP_SECONDS = 1.0
# A reply this much later than the session's slowest round trip, after rejections, is suspect.
LATE_SECONDS = 0.8


@dataclass(slots=True)
class SessionBudget:
    """The recipients and rejections one session has left.

    ``round_trip`` is how long the server took to answer one command (EHLO, then the slowest
    batch that was not late): a batch's replies are expected one round trip after it was
    sent (each one, without pipelining), and only a reply standing out from that is late.
    """

    rcpt_cap: int  # recipients the session may ask about
    error_cap: int  # rejected recipients it may collect
    round_trip: float = 0.0
    pipelining: bool = True
    used: int = 0
    errors: int = 0

    def room(self) -> int:
        """How many recipients the next batch may carry (0: end the session)."""
        return max(0, min(self.rcpt_cap - self.used, self.error_cap - self.errors))

    def record(
        self,
        replies: Sequence[Reply],
        arrivals: Sequence[float],
        sent_at: float,
        *,
        commands_before: int = 0,
    ) -> int | None:
        """Count a batch's replies; ``arrivals[i]`` is when ``replies[i]`` came.

        When the batch came back slower than its round trips by what error sleeps would
        explain, after rejections, returns an error cap to suspect for this server: one less
        than the rejections seen before the first slowed reply (the slowed ones are the last:
        an MTA sleeps before every reply once over its limit, whether it sends each reply at
        once or all together). The session then ends. A stall of the network or of either
        machine looks the same once, which is why ``HostManners`` wants it twice.
        ``commands_before`` counts the commands answered before the first RCPT (RSET, MAIL):
        without pipelining each is one more round trip.
        """
        excess = 0.0
        previous = sent_at
        for position in range(min(len(replies), len(arrivals))):
            gap, previous = arrivals[position] - previous, arrivals[position]
            trips = 0 if self.pipelining and position else 1
            trips += commands_before if not self.pipelining and not position else 0
            if gap - trips * self.round_trip > LATE_SECONDS:  # small delays never add up
                excess += gap - trips * self.round_trip
            elif trips:  # the slowest round trip the session has seen sets what is late
                self.round_trip = max(self.round_trip, gap / trips)
        errors_before = [self.errors]
        for reply in replies:
            self.used += 1
            if not reply.is_positive:
                self.errors += 1
            errors_before.append(self.errors)
        if not excess:
            return None
        slowed = min(len(replies), max(1, round(excess / ERROR_SLEEP_SECONDS)))
        limit = errors_before[len(replies) - slowed]  # rejections before the first slowed one
        if not limit:
            return None  # slow before any rejection: a slow server, not an error sleep
        self.error_cap = self.errors  # no room left: the session ends
        return max(1, limit - 1)

    def cap_after_too_many_errors(self) -> int:
        """The error cap to keep after a ``421 ... too many errors``: half of what it took
        (Postfix's soft limit is half its hard one by default)."""
        return max(1, self.errors // 2)


class LoopLag:
    """Whether this process's event loop has been running late: our own machine busy.

    A reply read late because the loop was busy is no sign of the server sleeping, so no
    error sleep is suspected across a moment when a timer of ours fired late.
    """

    TICK = 0.25  # seconds between timer checks
    BUSY = 0.1  # a timer firing this late means the loop is busy

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due = 0.0
        self._last_busy = float("-inf")
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._due = self._loop.time() + self.TICK
        self._handle = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self._loop.time()
        if now - self._due > self.BUSY:
            self._last_busy = now
        self.start()

    def busy_since(self, moment: float) -> bool:
        now = self._loop.time()
        overdue = self._handle is not None and now - self._due > self.BUSY
        return overdue or self._last_busy >= moment


def says_too_many_errors(reply: Reply) -> bool:
    return reply.code == 421 and "too many errors" in reply.text.lower()
