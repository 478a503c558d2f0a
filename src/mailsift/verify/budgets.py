"""How much one SMTP session may ask: recipients, and rejected recipients.

Stock MTAs count every rejected RCPT as a client error. Postfix, for one, answers one reply
a second after ``smtpd_soft_error_limit`` (10) errors and hangs up with ``421 4.7.0 Error:
too many errors`` after ``smtpd_hard_error_limit`` (20). A session therefore ends before it
collects ``error_cap`` rejections, and since nobody knows in advance which recipients will
be rejected, a pipelined batch after ``k`` rejections carries at most ``error_cap - k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailsift.verify.smtp import Reply

# A reply this much slower than the one before it, after rejections, is an error sleep
# (Postfix's ``smtpd_error_sleep_time`` is 1 s) ...
LATE_REPLY_SECONDS = 0.8
# ... provided the server was seen answering at least this fast in the same session.
FAST_REPLY_SECONDS = 0.4


@dataclass(slots=True)
class SessionBudget:
    """The recipients and rejections one session has left."""

    rcpt_cap: int  # recipients the session may ask about
    error_cap: int  # rejected recipients it may collect
    used: int = 0
    errors: int = 0
    _fast_seen: bool = False

    def room(self) -> int:
        """How many recipients the next batch may carry (0: end the session)."""
        return max(0, min(self.rcpt_cap - self.used, self.error_cap - self.errors))

    def record(
        self, replies: Sequence[Reply], arrivals: Sequence[float], sent_at: float
    ) -> int | None:
        """Count a batch's replies; ``arrivals[i]`` is when ``replies[i]`` came.

        Returns the lower error cap to keep for this server when one reply came late after
        rejections (the session then ends: every further reply would be slowed too).
        """
        lowered: int | None = None
        previous = sent_at
        for position, reply in enumerate(replies):
            arrived = arrivals[position] if position < len(arrivals) else previous
            gap, previous = arrived - previous, arrived
            if gap > LATE_REPLY_SECONDS and self.errors and self._fast_seen:
                if lowered is None:
                    lowered = max(1, self.errors - 1)
            elif gap < FAST_REPLY_SECONDS:
                self._fast_seen = True
            self.used += 1
            if not reply.is_positive:
                self.errors += 1
        if lowered is not None:
            self.error_cap = self.errors  # no room left: the session ends
        return lowered

    def cap_after_too_many_errors(self) -> int:
        """The error cap to keep after a ``421 ... too many errors``: half of what it took
        (Postfix's soft limit is half its hard one by default)."""
        return max(1, self.errors // 2)


def says_too_many_errors(reply: Reply) -> bool:
    return reply.code == 421 and "too many errors" in reply.text.lower()
