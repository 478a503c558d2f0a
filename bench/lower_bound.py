"""The least wall time any polite client could take to probe a world's mail servers.

Time is counted in round trips: every reply of a mail server leaves ``reply_delay`` after
the commands it answers arrived, and commands sent together are answered together. A session
therefore costs, at the least:

- with PIPELINING: 3 round trips, whatever its recipients (greeting; EHLO; MAIL, every RCPT
  and QUIT in one group, as RFC 2920 allows);
- without: 4 + k round trips for k recipients (greeting; EHLO; MAIL; each RCPT; QUIT).

A server may hold ``per_host`` sessions at once and ``per_session`` recipients per session, so
its sessions are packed onto ``per_host`` lanes. Before the first session come the DNS
lookups (MX, then the MX host's address). See bench/README.md for the formula.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

PIPELINED_SESSION_ROUNDS = 3
STEPWISE_SESSION_OVERHEAD = 4  # greeting, EHLO, MAIL, QUIT


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """What one mail server (one IP address) must be asked.

    ``recipients``: the list's addresses it receives mail for, plus one accept-all probe per
    domain it serves.
    """

    recipients: int
    pipelining: bool = True


@dataclass(frozen=True, slots=True)
class Politeness:
    per_host: int  # N: simultaneous sessions per mail server
    per_session: int  # M: recipients per session
    concurrency: int  # sessions open at once, over all servers


@dataclass(frozen=True, slots=True)
class Latency:
    reply_delay: float  # seconds before each SMTP reply
    dns_delay: float  # seconds before each DNS answer
    dns_steps: int = 2  # MX, then A (and AAAA, asked at the same time)


@dataclass(frozen=True, slots=True)
class LowerBound:
    """The bound and what it is made of, in seconds."""

    seconds: float
    dns_seconds: float
    busiest_server_seconds: float  # the slowest server's sessions, packed onto its lanes
    concurrency_seconds: float  # all session time spread over every allowed connection
    sessions: int  # the fewest sessions the world needs


def session_rounds(recipients: int, *, pipelining: bool) -> int:
    """Round trips of one session asking about ``recipients`` mailboxes."""
    if pipelining:
        return PIPELINED_SESSION_ROUNDS
    return STEPWISE_SESSION_OVERHEAD + recipients


def fewest_sessions(recipients: int, per_session: int) -> int:
    return math.ceil(recipients / per_session)


def server_rounds(load: ServerLoad, per_host: int, per_session: int) -> int:
    """The fewest round trips in which one server's recipients can all be asked."""
    if load.recipients <= 0:
        return 0
    sessions = fewest_sessions(load.recipients, per_session)
    if load.pipelining:
        # Every session lasts the same: fill the lanes one wave at a time.
        return math.ceil(sessions / per_host) * PIPELINED_SESSION_ROUNDS
    # More sessions than the fewest can pay off (one recipient each on idle lanes), but not
    # once every lane has one: from there each extra session only adds its overhead.
    most = min(load.recipients, max(sessions, per_host) + per_host)
    return min(
        _stepwise_makespan(load.recipients, count, per_host, per_session)
        for count in range(sessions, most + 1)
    )


def _stepwise_makespan(recipients: int, sessions: int, lanes: int, per_session: int) -> int:
    """Makespan of ``sessions`` stepwise sessions spread evenly over ``lanes``.

    A lane with s sessions and r recipients (s <= r <= s * per_session) takes 4s + r rounds.
    An even spread is best because a lane's room, min(s * per_session, T - 4s), is concave
    in s.
    """
    base, extra = divmod(sessions, lanes)
    counts = [base + 1] * extra + [base] * (lanes - extra)
    counts = [count for count in counts if count]
    total = STEPWISE_SESSION_OVERHEAD * sessions + recipients
    makespan = max(
        math.ceil(total / len(counts)),
        max((STEPWISE_SESSION_OVERHEAD + 1) * count for count in counts),
    )
    while _room(counts, makespan, per_session) < recipients:
        makespan += 1
    return makespan


def _room(counts: list[int], makespan: int, per_session: int) -> int:
    return sum(
        min(count * per_session, makespan - STEPWISE_SESSION_OVERHEAD * count) for count in counts
    )


def _least_session_rounds(load: ServerLoad, per_session: int) -> int:
    """The least session time a server needs, over all its lanes together."""
    sessions = fewest_sessions(load.recipients, per_session)
    if load.pipelining:
        return sessions * PIPELINED_SESSION_ROUNDS
    return sessions * STEPWISE_SESSION_OVERHEAD + load.recipients


def lower_bound(
    loads: Iterable[ServerLoad], politeness: Politeness, latency: Latency
) -> LowerBound:
    """DNS, then the slower of: the busiest server, and all sessions over ``concurrency``."""
    loads = [load for load in loads if load.recipients > 0]
    if not loads:
        return LowerBound(0.0, 0.0, 0.0, 0.0, 0)
    d = latency.reply_delay
    busiest = max(
        server_rounds(load, politeness.per_host, politeness.per_session) for load in loads
    )
    session_time = sum(_least_session_rounds(load, politeness.per_session) for load in loads)
    dns = latency.dns_delay * latency.dns_steps
    busiest_seconds = busiest * d
    concurrency_seconds = session_time * d / politeness.concurrency
    return LowerBound(
        seconds=dns + max(busiest_seconds, concurrency_seconds),
        dns_seconds=dns,
        busiest_server_seconds=busiest_seconds,
        concurrency_seconds=concurrency_seconds,
        sessions=sum(fewest_sessions(load.recipients, politeness.per_session) for load in loads),
    )
