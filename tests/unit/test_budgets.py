"""SessionBudget: how many recipients a batch may carry, and when a server is slowing down."""

from __future__ import annotations

from itertools import accumulate

from mailsift.verify.budgets import SessionBudget
from mailsift.verify.testing import ACCEPTED, NO_SUCH_USER


def test_a_batch_after_k_rejections_carries_at_most_the_errors_left() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    assert budget.room() == 8
    budget.record([NO_SUCH_USER] * 3 + [ACCEPTED] * 5, [0.01 * i for i in range(1, 9)], 0.0)
    assert budget.room() == 5
    budget.record([NO_SUCH_USER] * 5, [0.1] * 5, 0.09)
    assert budget.room() == 0


def test_the_recipient_cap_also_bounds_the_batch() -> None:
    budget = SessionBudget(rcpt_cap=10, error_cap=8)
    budget.record([ACCEPTED] * 8, [0.01] * 8, 0.0)
    assert budget.room() == 2


def _gaps(*gaps: float) -> list[float]:
    return list(accumulate(gaps))


def test_replies_slowed_one_after_another_after_rejections_are_an_error_sleep() -> None:
    """Postfix with a soft limit of 4: from the fourth error on, every reply waits 1 s."""
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    lowered = budget.record([NO_SUCH_USER] * 6, _gaps(0.01, 0.01, 0.01, 0.01, 1.0, 1.0), 0.0)
    assert lowered == 3
    assert budget.room() == 0  # the session ends here


def test_an_error_sleep_is_seen_across_batches() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    assert budget.record([NO_SUCH_USER] * 5, _gaps(0.01, 0.01, 0.01, 0.01, 1.0), 0.0) is None
    assert budget.record([NO_SUCH_USER], [6.0], 5.0) == 3


def test_one_stall_is_not_an_error_sleep() -> None:
    """A pause of the network or a machine delays one reply; those behind it come at once."""
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    arrivals = _gaps(0.01, 0.01, 1.5, 0.0, 0.0, 0.01)
    assert budget.record([NO_SUCH_USER] * 6, arrivals, 0.0) is None
    assert budget.room() == 2


def test_a_server_slow_from_the_start_is_not_sleeping_on_errors() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    assert budget.record([NO_SUCH_USER] * 4, _gaps(1.0, 1.0, 1.0, 1.0), 0.0) is None


def test_slow_replies_before_any_rejection_are_not_an_error_sleep() -> None:
    budget = SessionBudget(rcpt_cap=50, error_cap=8)
    assert budget.record([ACCEPTED] * 4, _gaps(0.01, 0.01, 1.0, 1.0), 0.0) is None
