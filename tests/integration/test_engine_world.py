"""The engine against the loopback mail world: every behaviour gets the policy's verdict."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from mailsift.verify.engine import Verifier
from mailsift.verify.model import Result, Verification
from tests.mailworld.world import MailWorld, WorldBuilder, build_standard

_FLAGS = ("free", "disposable", "role", "accept_all")


def _standard_addresses() -> list[str]:
    builder = WorldBuilder(subnet="127.250.0.0/16")  # never started: only its expectations
    build_standard(builder)
    return sorted(builder.expected)


async def _verify(
    world: MailWorld, addresses: list[str], **overrides: object
) -> dict[str, Verification]:
    verifier = Verifier(world.settings(**overrides).engine_options())
    return {v.email: v async for v in verifier.verify_many(addresses)}


@dataclasses.dataclass
class WorldRun:
    results: dict[str, Verification]
    counters_before: dict[str, int]
    counters_after: dict[str, int]

    def delta(self, counter: str) -> int:
        return self.counters_after[counter] - self.counters_before[counter]


@pytest.fixture(scope="module")
def world_run(mail_world: MailWorld) -> WorldRun:
    """The whole standard world verified in one run, as a list would be."""
    before = mail_world.totals()
    results = asyncio.run(
        _verify(
            mail_world,
            list(mail_world.expected),
            max_connections_per_host=2,
            max_rcpt_per_session=5,
        )
    )
    return WorldRun(results, before, mail_world.totals())


@pytest.fixture(scope="module")
def world_results(world_run: WorldRun) -> dict[str, Verification]:
    return world_run.results


def test_every_address_gets_exactly_one_result(
    mail_world: MailWorld, world_results: dict[str, Verification]
) -> None:
    assert set(world_results) == set(mail_world.expected)


@pytest.mark.parametrize("address", _standard_addresses())
def test_verdict_follows_the_policy(
    address: str, mail_world: MailWorld, world_results: dict[str, Verification]
) -> None:
    got = world_results[address]
    assert (str(got.result), str(got.reason)) == mail_world.expected[address], got
    wanted_flags = mail_world.expected_flags.get(address, frozenset())
    set_flags = {flag for flag in _FLAGS if getattr(got, flag)}
    assert wanted_flags <= set_flags, got


def test_the_world_saw_no_data_and_no_limit_violation(world_run: WorldRun) -> None:
    assert world_run.results
    assert world_run.delta("sessions") > 0  # the counters do count
    assert world_run.delta("data_attempts") == 0
    assert world_run.delta("connection_limit_violations") == 0
    assert world_run.delta("rcpt_limit_violations") == 0


def test_connections_per_host_stay_under_the_cap(mail_world: MailWorld) -> None:
    users = [f"user{i:02d}@capped.test" for i in range(1, 13)] * 3 + ["nobody@capped.test"]
    results = asyncio.run(
        _verify(mail_world, users, max_connections_per_host=2, max_rcpt_per_session=5)
    )
    server = mail_world.server("mx.capped.test")
    stats = server.stats.counters()
    assert stats["max_concurrent_seen"] <= 2
    assert stats["rcpt_per_session_max"] <= 5
    assert stats["limit_violations"] == 0
    assert results["nobody@capped.test"].result is Result.INVALID
    assert all(results[u].result is Result.VALID for u in users if u.startswith("user"))


def test_a_server_that_takes_fewer_recipients_is_followed(mail_world: MailWorld) -> None:
    """452 4.5.3 "too many recipients" lowers the per-session count; no verdict suffers."""
    users = [f"user{i:02d}@capped.test" for i in range(1, 13)]
    results = asyncio.run(
        _verify(mail_world, users, max_connections_per_host=1, max_rcpt_per_session=25)
    )
    assert {str(v.result) for v in results.values()} == {"valid"}


def test_greylisting_past_the_deadline_is_unknown(mail_world: MailWorld) -> None:
    fresh = "deadline-case@greylist.test"
    results = asyncio.run(
        _verify(mail_world, [fresh], greylist_retry_after=0.2, greylist_deadline=0.5)
    )
    got = results[fresh]
    assert (got.result, str(got.reason)) == (Result.UNKNOWN, "unavailable_smtp")
    assert got.smtp_code == 450


def test_private_targets_are_refused_unless_allowed(mail_world: MailWorld) -> None:
    results = asyncio.run(_verify(mail_world, ["alice@ok.test"], allow_private_targets=False))
    got = results["alice@ok.test"]
    assert (str(got.result), str(got.reason)) == ("unknown", "no_connect")
    assert "private" in got.smtp_message


def test_duplicates_are_asked_once_and_answered_each(mail_world: MailWorld) -> None:
    addresses = ["bob@ok.test", "bob@OK.test", " bob@ok.test "]
    verifier = Verifier(mail_world.settings().engine_options())

    async def run() -> list[Verification]:
        return [v async for v in verifier.verify_many(addresses)]

    results = asyncio.run(run())
    assert sorted(v.email for v in results) == sorted(a.strip() for a in addresses)
    assert {str(v.result) for v in results} == {"valid"}


def test_verify_one_answers_within_its_time(mail_world: MailWorld) -> None:
    verifier = Verifier(mail_world.settings(command_timeout=5, connect_timeout=5).engine_options())
    got = asyncio.run(verifier.verify_one("alice@tarpit.test", within=0.5))
    assert (str(got.result), str(got.reason)) == ("unknown", "timeout")


def test_results_are_dataclass_values(world_results: dict[str, Verification]) -> None:
    sample = world_results["alice@ok.test"]
    assert dataclasses.asdict(sample)["mx_host"] in {"mx1.ok.test", "mx2.ok.test"}
    assert sample.smtp_code == 250


def test_deferred_retries_are_handed_back_and_then_settle(mail_world: MailWorld) -> None:
    """With ``defer_retries`` a greylisted address comes back at once, provisional."""
    fresh = ["deferred-a@greylist.test", "alice@ok.test"]
    verifier = Verifier(mail_world.settings(greylist_retry_after=1.0).engine_options())

    async def run(addresses: list[str]) -> dict[str, Verification]:
        return {v.email: v async for v in verifier.verify_many(addresses, defer_retries=True)}

    first = asyncio.run(run(fresh))
    assert first["alice@ok.test"].retry_after is None
    deferred = first["deferred-a@greylist.test"]
    assert deferred.deferred
    assert deferred.retry_after == 1.0
    assert (deferred.result, deferred.smtp_code) == (Result.UNKNOWN, 450)
    assert "retry_after" in deferred.as_dict()
    assert "retry_after" not in first["alice@ok.test"].as_dict()

    time.sleep(1.2)  # the world greylists for 1 s
    second = asyncio.run(run(["deferred-a@greylist.test"]))
    settled = second["deferred-a@greylist.test"]
    assert not settled.deferred
    # The mailbox does not exist: once past the greylist, the server says so.
    assert (str(settled.result), str(settled.reason)) == ("invalid", "rejected_email")


def test_an_accepted_address_at_a_greylisting_domain_settles_across_deferred_runs(
    mail_world: MailWorld,
) -> None:
    """The accept-all probe is the same address on every run, so greylisting lets it pass."""
    address = "alice@greylist.test"
    outcomes = []
    # A sender of its own: the greylist has seen none of this test's (sender, recipient) pairs.
    settings = mail_world.settings(greylist_retry_after=1.0, mail_from="defer@mailsift.test")
    for _ in range(4):
        verifier = Verifier(settings.engine_options())

        async def run(v: Verifier = verifier) -> Verification:
            [outcome] = [x async for x in v.verify_many([address], defer_retries=True)]
            return outcome

        outcome = asyncio.run(run())
        outcomes.append(outcome)
        if not outcome.deferred:
            break
        time.sleep(outcome.retry_after or 0)
    final = outcomes[-1]
    assert (str(final.result), str(final.reason)) == ("valid", "accepted_email")
    assert 1 < len(outcomes) <= 3


def test_the_whole_world_gets_no_unexpected_error_and_every_expected_reason(
    mail_world: MailWorld, world_results: dict[str, Verification]
) -> None:
    """``unexpected_error`` means a bug in mailsift (and is refunded): a whole run has none."""
    unexpected = sorted(a for a, v in world_results.items() if str(v.reason) == "unexpected_error")
    assert unexpected == []
    wrong = {
        address: (str(got.result), str(got.reason))
        for address, got in world_results.items()
        if (str(got.result), str(got.reason)) != mail_world.expected[address]
    }
    assert wrong == {}
