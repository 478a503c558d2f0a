"""50 real-time calls at once against a balance of 10 credits: exactly 10 charged."""

from __future__ import annotations

import pytest
from bench.hardening.credit_race import credit_race


def test_fifty_concurrent_calls_charge_exactly_the_ten_credits_there_are() -> None:
    result = credit_race(50, 10)
    assert result.statuses == {200: 10, 402: 40}
    assert result.verdicts == 10
    assert (result.balance_after, result.ledger_charges, result.ledger_refunds) == (0, 10, 0)
    assert result.ledger_sum == 0, "the ledger does not add up to the balance"
    assert result.exact


@pytest.mark.postgres
def test_the_same_on_postgresql(migrated_postgres_url: str) -> None:
    result = credit_race(50, 10, database_url=migrated_postgres_url)
    assert result.statuses == {200: 10, 402: 40}
    assert (result.balance_after, result.ledger_charges, result.ledger_refunds) == (0, 10, 0)
    assert result.exact
