"""Crash loops, briefly (``make bench-hardening``: 20 rounds of a 10,000-address job): the
processes of a running job SIGKILLed at random moments, and still every address exactly once,
the credit exact, the SQLite file intact after every kill."""

from __future__ import annotations

import pytest
from bench.hardening.crash_loop import cluster_crash_loop, embedded_crash_loop


def test_an_embedded_server_killed_again_and_again_loses_and_repeats_nothing() -> None:
    run = embedded_crash_loop(400, 2, seed=2)
    assert [r.integrity for r in run.rounds] == ["ok", "ok"]
    assert run.completed, run.error_lines
    assert (run.rows, run.unique_rows, run.without_result) == (400, 400, 0)
    assert (run.result_file_rows, run.result_file_duplicates, run.missing) == (400, 0, 0)
    assert run.mismatches == 0, run.mismatch_examples
    assert run.unexpected_errors == 0, run.error_lines
    assert run.ledger == [("reserve", -run.billable), ("settle", 0)]
    assert run.balance_spent == run.billable
    assert run.ledger_sum_matches
    assert run.exact


@pytest.mark.postgres
def test_a_cluster_with_workers_killed_and_connections_cut_completes(
    migrated_postgres_url: str,
) -> None:
    run = cluster_crash_loop(400, 1, migrated_postgres_url, seed=2, terminations=1)
    assert any(r.disruption.startswith("pg_terminate_backend") for r in run.rounds)
    assert run.completed, run.error_lines
    assert (run.rows, run.unique_rows, run.without_result) == (400, 400, 0)
    assert (run.result_file_rows, run.result_file_duplicates, run.missing) == (400, 0, 0)
    assert run.mismatches == 0, run.mismatch_examples
    assert run.ledger == [("reserve", -run.billable), ("settle", 0)]
    assert run.ledger_sum_matches
    assert run.exact
