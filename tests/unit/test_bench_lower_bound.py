"""The benchmark's lower bound, on worlds small enough to count by hand."""

from __future__ import annotations

import itertools
import math

import pytest
from bench.lower_bound import (
    Latency,
    Politeness,
    ServerLoad,
    budgeted_sessions,
    lower_bound,
    server_rounds,
    session_rounds,
)
from bench.world import make_plan

D = 0.05
LATENCY = Latency(reply_delay=D, dns_delay=0.02)
POLITE = Politeness(per_host=2, per_session=25, concurrency=200)


def test_a_pipelined_session_is_three_round_trips_whatever_its_size() -> None:
    assert session_rounds(1, pipelining=True) == 3
    assert session_rounds(25, pipelining=True) == 3


def test_a_stepwise_session_pays_one_round_trip_per_recipient() -> None:
    # greeting, EHLO, MAIL, 3 x RCPT, QUIT
    assert session_rounds(3, pipelining=False) == 7


@pytest.mark.parametrize(
    ("recipients", "rounds"),
    [
        (1, 3),  # one session
        (25, 3),  # still one
        (26, 3),  # two sessions, side by side
        (50, 3),
        (51, 6),  # three sessions: two waves
        (5001, 303),  # 201 sessions: 101 waves
    ],
)
def test_pipelined_sessions_fill_the_lanes_wave_by_wave(recipients: int, rounds: int) -> None:
    assert server_rounds(ServerLoad(recipients), per_host=2, per_session=25) == rounds


@pytest.mark.parametrize(
    ("recipients", "per_host", "per_session", "rounds"),
    [
        (1, 2, 25, 5),  # 4 + 1
        (2, 2, 25, 5),  # two sessions of one recipient, side by side
        (2, 1, 25, 6),  # one lane: one session of two beats two of one
        (26, 2, 25, 17),  # 13 + 13 recipients: 4 + 13 each
        (51, 2, 25, 34),  # 4+25 on one lane; 4+25 and 4+1 on the other
        (7, 3, 2, 11),  # four sessions of at most two: 4+2 | 4+2 | 4+4+3
    ],
)
def test_stepwise_sessions_are_balanced_over_the_lanes(
    recipients: int, per_host: int, per_session: int, rounds: int
) -> None:
    load = ServerLoad(recipients, pipelining=False)
    assert server_rounds(load, per_host, per_session) == rounds


def _brute_force_stepwise(recipients: int, lanes: int, per_session: int) -> int:
    """Try every (sessions, recipients) pair on every lane: the true optimum."""
    best = None
    choices = [
        (s, r)
        for s in range(recipients + 1)
        for r in range(recipients + 1)
        if (s == r == 0) or (s >= 1 and s <= r <= s * per_session)
    ]
    for plan in itertools.product(choices, repeat=lanes):
        if sum(r for _, r in plan) != recipients:
            continue
        makespan = max(4 * s + r for s, r in plan)
        best = makespan if best is None else min(best, makespan)
    assert best is not None
    return best


@pytest.mark.parametrize("lanes", [1, 2, 3])
@pytest.mark.parametrize("per_session", [1, 2, 3, 5])
@pytest.mark.parametrize("recipients", range(1, 10))
def test_stepwise_rounds_match_an_exhaustive_search(
    recipients: int, lanes: int, per_session: int
) -> None:
    load = ServerLoad(recipients, pipelining=False)
    assert server_rounds(load, lanes, per_session) == _brute_force_stepwise(
        recipients, lanes, per_session
    )


def test_the_busiest_server_sets_the_bound_after_dns() -> None:
    loads = [ServerLoad(5001), ServerLoad(51), ServerLoad(26, pipelining=False)]
    bound = lower_bound(loads, POLITE, LATENCY)
    assert bound.dns_seconds == pytest.approx(0.04)
    assert bound.busiest_server_seconds == pytest.approx(303 * D)
    assert bound.seconds == pytest.approx(0.04 + 303 * D)
    assert bound.sessions == 201 + 3 + 2


def test_few_connections_overall_can_set_the_bound() -> None:
    # Ten servers with one pipelined session each, two connections in all: 30 rounds / 2.
    loads = [ServerLoad(10)] * 10
    polite = Politeness(per_host=2, per_session=25, concurrency=2)
    bound = lower_bound(loads, polite, LATENCY)
    assert bound.busiest_server_seconds == pytest.approx(3 * D)
    assert bound.concurrency_seconds == pytest.approx(15 * D)
    assert bound.seconds == pytest.approx(0.04 + 15 * D)


def test_nothing_to_ask_costs_nothing() -> None:
    assert lower_bound([ServerLoad(0)], POLITE, LATENCY).seconds == 0.0


def test_the_benchmark_world_is_bounded_by_its_largest_provider() -> None:
    plan = make_plan(2_000, 60, seed=3)
    loads = plan.loads()
    # A quarter of the list on one server, plus the domain's accept-all probe.
    assert max(load.recipients for load in loads) == 501
    assert sum(load.recipients for load in loads) == sum(d.listed + 1 for d in plan.domains)
    bound = lower_bound(loads, POLITE, LATENCY)
    # Its server offers STARTTLS: 21 sessions of 2 + 3 + 1 round trips, over two lanes.
    assert bound.busiest_server_seconds == pytest.approx(63 * D)


def test_two_servers_in_three_offer_starttls_and_some_have_error_limits() -> None:
    plan = make_plan(2_000, 60, seed=3)
    share = sum(server.starttls for server in plan.servers) / len(plan.servers)
    assert 0.55 < share < 0.8
    assert any(server.error_limits for server in plan.servers)
    # Every recipient's reply is known to the world: rejections are the dead, the full and
    # the disabled mailboxes, and the probes of domains that are not catch-all.
    loads = plan.loads()
    rejected = sum(sum(load.rejected) for load in loads)
    dead = sum(1 for e in plan.expected.values() if e.reason in {"rejected_email"})
    full = sum(1 for e in plan.expected.values() if e.reason == "low_deliverability")
    full -= sum(1 for e in plan.expected.values() if e.accept_all)
    probes = sum(1 for d in plan.domains if d.listed and not d.catch_all)
    assert rejected == dead + full + probes


BUDGET = Politeness(per_host=5, per_session=50, concurrency=200, error_budget=8)


def test_an_error_budget_caps_each_batch_before_anything_is_known() -> None:
    # Nothing rejected: 50 recipients in batches of 8 (7 batches) after greeting and EHLO.
    assert budgeted_sessions(ServerLoad(50), per_session=50, error_budget=8) == [2 + 7]
    # STARTTLS adds STARTTLS, the handshake and EHLO again.
    assert budgeted_sessions(ServerLoad(50, starttls=True), 50, 8) == [2 + 3 + 7]


def test_after_k_rejections_a_batch_carries_at_most_budget_minus_k() -> None:
    # Batch 1: 8 recipients, 2 rejected; batch 2: 6, 3 rejected; batch 3: 3, all rejected:
    # the budget is spent and a second session asks the last recipient.
    pattern = [True, True] + [False] * 6 + [True] * 3 + [False] * 3 + [True] * 3 + [False]
    load = ServerLoad(len(pattern), rejected=tuple(pattern))
    assert budgeted_sessions(load, per_session=50, error_budget=8) == [2 + 3, 2 + 1]


def test_without_pipelining_a_budget_only_ends_sessions() -> None:
    load = ServerLoad(10, pipelining=False, rejected=(True,) * 10)
    # greeting, EHLO, MAIL, QUIT and one round trip a recipient; 8 rejections end a session.
    assert budgeted_sessions(load, per_session=50, error_budget=8) == [4 + 8, 4 + 2]


def test_an_error_budget_sets_the_bound_through_the_busiest_server() -> None:
    dead_half = tuple(i % 2 == 0 for i in range(400))
    loads = [ServerLoad(400, starttls=True, rejected=dead_half), ServerLoad(10)]
    bound = lower_bound(loads, BUDGET, LATENCY)
    sessions = budgeted_sessions(loads[0], 50, 8)
    assert len(sessions) >= 200 // 8  # 200 rejections, at most 8 a session
    assert bound.busiest_server_seconds == pytest.approx(math.ceil(sum(sessions) / 5) * D)
    assert bound.sessions == len(sessions) + 1
