"""SessionBudget: how many recipients a batch may carry, and when a server is slowing down."""

from __future__ import annotations

import asyncio
from itertools import accumulate

from mailsift.verify.budgets import LoopLag, SessionBudget
from mailsift.verify.limits import HostManners
from mailsift.verify.testing import ACCEPTED, NO_SUCH_USER, VirtualClockLoop

RTT = 0.05


def test_a_batch_after_k_rejections_carries_at_most_the_errors_left() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT)
    assert budget.room() == 8
    assert budget.record([NO_SUCH_USER] * 3 + [ACCEPTED] * 5, [RTT] * 8, 0.0) is None
    assert budget.room() == 5
    assert budget.record([NO_SUCH_USER] * 5, [1 + RTT] * 5, 1.0) is None
    assert budget.room() == 0


def test_the_recipient_cap_also_bounds_the_batch() -> None:
    budget = SessionBudget(rcpt_cap=10, error_cap=8, round_trip=RTT)
    budget.record([ACCEPTED] * 8, [RTT] * 8, 0.0)
    assert budget.room() == 2


def test_replies_held_back_after_rejections_are_error_sleeps() -> None:
    """Postfix with a soft limit of 4: replies 5 to 8 each wait 1 s, then all are sent."""
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT)
    assert budget.record([NO_SUCH_USER] * 8, [RTT + 4.0] * 8, 0.0) == 3
    assert budget.room() == 0  # the session ends here


def test_replies_slowed_one_by_one_are_error_sleeps_too() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT, pipelining=False)
    arrivals = list(accumulate([2 * RTT, RTT, RTT, RTT, RTT + 1, RTT + 1]))
    assert budget.record([NO_SUCH_USER] * 6, arrivals, 0.0, commands_before=1) == 3


def test_slow_replies_before_any_rejection_are_a_slow_server() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT)
    assert budget.record([NO_SUCH_USER] * 4, [RTT + 4.0] * 4, 0.0) is None
    assert budget.room() == 4


def test_a_server_slow_on_every_command_is_not_sleeping_on_errors() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=1.0, pipelining=False)
    arrivals = list(accumulate([2.0, 1.0, 1.0, 1.0]))
    assert budget.record([NO_SUCH_USER] * 4, arrivals, 0.0, commands_before=1) is None


def test_small_delays_never_add_up_to_an_error_sleep() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT, pipelining=False)
    arrivals = list(accumulate([2 * RTT + 0.3] + [RTT + 0.3] * 7))
    assert budget.record([NO_SUCH_USER] * 8, arrivals, 0.0, commands_before=1) is None


def test_lateness_is_measured_against_the_sessions_own_round_trips() -> None:
    """A link that once took 0.7 s for a batch makes 1.2 s unremarkable."""
    budget = SessionBudget(rcpt_cap=50, error_cap=8, round_trip=RTT)
    assert budget.record([NO_SUCH_USER, ACCEPTED], [0.7, 0.7], 0.0) is None
    assert budget.record([NO_SUCH_USER, ACCEPTED], [2.2, 2.2], 1.0) is None
    # 2 s past the slowest round trip (1.2 s): both replies slept, after 2 rejections.
    assert budget.record([NO_SUCH_USER] * 2, [6.2, 6.2], 3.0) == 1


def test_the_same_suspicion_twice_lowers_a_servers_cap() -> None:
    """An MTA's limit is one number; stalls of the network or a machine give any number."""
    manners = HostManners(clock=lambda: 0.0)
    assert not manners.suspect_error_cap("192.0.2.1", 5)
    assert not manners.suspect_error_cap("192.0.2.1", 3)
    assert manners.error_cap("192.0.2.1", 8) == 8
    assert manners.suspect_error_cap("192.0.2.1", 3)
    assert manners.error_cap("192.0.2.1", 8) == 3


def test_a_busy_event_loop_is_noticed_and_then_forgotten() -> None:
    loop = VirtualClockLoop()
    lag = LoopLag(loop)

    async def main() -> None:
        lag.start()
        await asyncio.sleep(1.0)
        assert not lag.busy_since(0.0)
        before = loop.time()
        loop.now += 0.5  # a callback holding the loop for half a second
        assert lag.busy_since(before)
        await asyncio.sleep(3.0)
        assert lag.busy_since(before)
        assert not lag.busy_since(loop.time() - 1.0)
        lag.stop()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
