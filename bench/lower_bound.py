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

Two more costs when the world has them:

- STARTTLS: 3 more round trips a session (STARTTLS; the TLS 1.3 handshake, one round trip;
  EHLO again);
- an error budget of B rejected recipients a session (``Politeness.error_budget``): nobody
  knows which recipients a server will reject, so after k rejections a batch may carry at most
  B - k recipients, and a session ends at B rejections. ``budgeted_sessions`` follows that rule
  over a server's recipients in the list's order, with the largest batches it allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

PIPELINED_SESSION_ROUNDS = 3
STEPWISE_SESSION_OVERHEAD = 4  # greeting, EHLO, MAIL, QUIT
STARTTLS_ROUNDS = 3  # STARTTLS, the TLS handshake, EHLO again
PIPELINED_OVERHEAD = 2  # greeting, EHLO; MAIL rides with the first batch, QUIT with the last


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """What one mail server (one IP address) must be asked.

    ``recipients``: the list's addresses it receives mail for, plus one accept-all probe per
    domain it serves.
    """

    recipients: int
    pipelining: bool = True
    starttls: bool = False
    # Which recipients the server rejects, in the order a client asks them (needed with an
    # error budget; empty: none).
    rejected: tuple[bool, ...] = ()


@dataclass(frozen=True, slots=True)
class Politeness:
    per_host: int  # N: simultaneous sessions per mail server
    per_session: int  # M: recipients per session
    concurrency: int  # sessions open at once, over all servers
    error_budget: int | None = None  # B: rejected recipients a session may collect


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


def budgeted_sessions(load: ServerLoad, per_session: int, error_budget: int) -> list[int]:
    """The round trips of each session one server needs under an error budget.

    Sessions are filled in order; each batch is as large as the rule allows (at most
    ``per_session - asked`` and ``error_budget - rejected`` recipients), and a session ends
    when either reaches 0. QUIT rides with the last batch (a client cannot know it is the
    last, so this is the least it could cost). Without PIPELINING every RCPT is its own batch.
    """
    overhead = (PIPELINED_OVERHEAD if load.pipelining else STEPWISE_SESSION_OVERHEAD) + (
        STARTTLS_ROUNDS if load.starttls else 0
    )
    rejected = list(load.rejected) + [False] * (load.recipients - len(load.rejected))
    sessions: list[int] = []
    position = 0
    while position < load.recipients:
        asked = errors = batches = 0
        while position < load.recipients:
            room = min(per_session - asked, error_budget - errors)
            if room <= 0:
                break
            batch = rejected[position : position + (room if load.pipelining else 1)]
            batches += 1
            asked += len(batch)
            errors += sum(batch)
            position += len(batch)
        sessions.append(overhead + batches)
    return sessions


def _budgeted_server_rounds(sessions: list[int], per_host: int) -> int:
    """The least makespan of ``sessions`` on ``per_host`` lanes, bounded from below: the work
    shared evenly, no session cut in two, and of the ``per_host + 1`` longest two share a lane.
    """
    longest = sorted(sessions, reverse=True)
    two_on_a_lane = longest[per_host - 1] + longest[per_host] if len(longest) > per_host else 0
    return max(math.ceil(sum(sessions) / per_host), longest[0], two_on_a_lane)


def lower_bound(
    loads: Iterable[ServerLoad], politeness: Politeness, latency: Latency
) -> LowerBound:
    """DNS, then the slower of: the busiest server, and all sessions over ``concurrency``."""
    loads = [load for load in loads if load.recipients > 0]
    if not loads:
        return LowerBound(0.0, 0.0, 0.0, 0.0, 0)
    if politeness.error_budget is not None or any(load.starttls for load in loads):
        return _budgeted_lower_bound(loads, politeness, latency)
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


def _budgeted_lower_bound(
    loads: list[ServerLoad], politeness: Politeness, latency: Latency
) -> LowerBound:
    """``lower_bound`` with STARTTLS and an error budget: each server's sessions follow
    ``budgeted_sessions`` (without a budget, only ``per_session`` ends a session)."""
    budget = politeness.error_budget or politeness.per_session
    per_server = [budgeted_sessions(load, politeness.per_session, budget) for load in loads]
    d = latency.reply_delay
    busiest = max(_budgeted_server_rounds(s, politeness.per_host) for s in per_server)
    session_time = sum(sum(s) for s in per_server)
    dns = latency.dns_delay * latency.dns_steps
    busiest_seconds = busiest * d
    concurrency_seconds = session_time * d / politeness.concurrency
    return LowerBound(
        seconds=dns + max(busiest_seconds, concurrency_seconds),
        dns_seconds=dns,
        busiest_server_seconds=busiest_seconds,
        concurrency_seconds=concurrency_seconds,
        sessions=sum(len(s) for s in per_server),
    )
