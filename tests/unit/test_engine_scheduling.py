"""The planner's scheduling against scripted servers: no sockets, and a clock that leaps.

Each test builds a few ``ScriptedServer`` values, runs ``verify_many`` over them on a
``VirtualClockLoop`` (retry intervals and pauses of minutes take no real time) and reads
both the verdicts and what the servers counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from mailsift.verify import EngineOptions, Reason, Result, Verification, Verifier
from mailsift.verify.dns import MailRoute
from mailsift.verify.testing import (
    ACCEPTED,
    GREYLISTED,
    RATE_LIMITED,
    ScriptedConnector,
    ScriptedServer,
    StaticResolver,
    VirtualClockLoop,
    mx_route,
    reply,
    run_virtually,
)

PRIMARY, BACKUP, OTHER = "192.0.2.10", "192.0.2.20", "192.0.2.30"


def options(**changes: object) -> EngineOptions:
    values: dict[str, object] = {
        "helo_name": "probe.mailsift.test",
        "mail_from": "verify@mailsift.test",
        "allow_private_targets": True,
        "greylist_retry_after": 300.0,
        "greylist_deadline": 1800.0,
        "host_pause": 60.0,
        "max_rcpt_per_session": 50,
    }
    values.update(changes)
    return EngineOptions(**values)  # type: ignore[arg-type]


def verifier(
    servers: Mapping[str, ScriptedServer], routes: Iterable[MailRoute], **changes: object
) -> Verifier:
    return Verifier(
        options(**changes),
        resolver=StaticResolver({route.domain: route for route in routes}),
        connector=ScriptedConnector(servers),
    )


def verify(engine: Verifier, addresses: list[str]) -> dict[str, Verification]:
    async def run() -> dict[str, Verification]:
        return {v.email: v async for v in engine.verify_many(addresses)}

    return run_virtually(run())


def verdict(v: Verification) -> tuple[str, str]:
    return str(v.result), str(v.reason)


def no_unexpected_error(results: Mapping[str, Verification]) -> None:
    assert all(v.reason is not Reason.UNEXPECTED_ERROR for v in results.values()), results


def mostly_dead(domain: str, alive: int, dead: int) -> tuple[list[str], list[str]]:
    return (
        [f"user{i}@{domain}" for i in range(alive)],
        [f"gone{i}@{domain}" for i in range(dead)],
    )


# --- error budgets ---------------------------------------------------------------------------


def postfix(alive: Iterable[str], **changes: object) -> ScriptedServer:
    """Stock Postfix's error limits: slow after 10 errors, 421 after 20."""
    values: dict[str, object] = {"soft_error_limit": 10, "hard_error_limit": 20}
    values.update(changes)
    return ScriptedServer(mailboxes=alive, **values)  # type: ignore[arg-type]


def test_sessions_end_before_a_stock_postfix_counts_ten_errors() -> None:
    alive, dead = mostly_dead("dead.test", alive=20, dead=60)
    server = postfix(alive)
    engine = verifier({PRIMARY: server}, [mx_route("dead.test", ("mx.dead.test", PRIMARY))])
    results = verify(engine, alive + dead)

    assert {verdict(results[a]) for a in alive} == {("valid", "accepted_email")}
    assert {verdict(results[a]) for a in dead} == {("invalid", "rejected_email")}
    assert server.counters["errors_max_per_session"] <= 8
    assert server.counters["error_sleeps"] == 0
    assert server.counters["forced_disconnects"] == 0


@pytest.mark.parametrize("budget", [1, 3, 8])
def test_a_pipelined_batch_never_carries_more_than_the_errors_left(budget: int) -> None:
    """Every recipient may be rejected: after k rejections a batch holds budget - k."""
    _, dead = mostly_dead("dead.test", alive=0, dead=40)
    server = ScriptedServer()
    engine = verifier(
        {PRIMARY: server},
        [mx_route("dead.test", ("mx.dead.test", PRIMARY))],
        max_rcpt_errors_per_session=budget,
    )
    results = verify(engine, dead)

    assert {verdict(v) for v in results.values()} == {("invalid", "rejected_email")}
    assert server.counters["errors_max_per_session"] == budget
    assert server.counters["sessions"] >= (len(dead) + 1) // budget


def test_an_error_sleep_lowers_the_servers_budget_for_the_rest_of_the_run() -> None:
    """A server slower to anger than Postfix's default: it starts sleeping after 4 errors."""
    alive, dead = mostly_dead("touchy.test", alive=10, dead=40)
    server = postfix(alive, soft_error_limit=4)
    engine = verifier(
        {PRIMARY: server},
        [mx_route("touchy.test", ("mx.touchy.test", PRIMARY))],
        max_connections_per_host=1,
    )
    results = verify(engine, dead + alive)

    no_unexpected_error(results)
    assert {verdict(results[a]) for a in dead} == {("invalid", "rejected_email")}
    assert {verdict(results[a]) for a in alive} == {("valid", "accepted_email")}
    assert engine.manners.error_cap(PRIMARY, 8) == 3
    # Seen twice (a stall looks like it once), then never again: 4 slowed replies each time.
    assert server.counters["error_sleeps"] == 8
    assert server.counters["forced_disconnects"] == 0


def test_too_many_errors_lowers_the_budget_and_pauses_only_that_server() -> None:
    alive, dead = mostly_dead("strict.test", alive=5, dead=30)
    strict = ScriptedServer(mailboxes=alive, hard_error_limit=5)
    calm = ScriptedServer(mailboxes=["alice@calm.test"])
    engine = verifier(
        {PRIMARY: strict, OTHER: calm},
        [
            mx_route("strict.test", ("mx.strict.test", PRIMARY)),
            mx_route("calm.test", ("mx.calm.test", OTHER)),
        ],
        max_connections_per_host=1,  # one session learns it: the next ones know
    )
    results = verify(engine, [*dead, *alive, "alice@calm.test"])

    no_unexpected_error(results)
    assert {verdict(results[a]) for a in dead} == {("invalid", "rejected_email")}
    assert {verdict(results[a]) for a in alive} == {("valid", "accepted_email")}
    assert verdict(results["alice@calm.test"]) == ("valid", "accepted_email")
    assert strict.counters["forced_disconnects"] == 1
    assert engine.manners.error_cap(PRIMARY, 8) == 2
    assert calm.counters["sessions"] == 1


# --- evidence kept through retries -----------------------------------------------------------


def test_a_server_greeting_421_to_the_deadline_is_unavailable() -> None:
    server = ScriptedServer(greeting=reply(421, "4.3.2 Service not available"))
    engine = verifier({PRIMARY: server}, [mx_route("busy.test", ("mx.busy.test", PRIMARY))])
    addresses = [f"user{i}@busy.test" for i in range(5)]
    results = verify(engine, addresses)

    for address in addresses:
        got = results[address]
        assert verdict(got) == ("unknown", "unavailable_smtp"), got
        assert got.smtp_code == 421
    assert server.counters["connections"] > 1  # asked again after the pause, then gave up


def test_greylisted_to_the_deadline_is_unavailable_with_the_450() -> None:
    server = ScriptedServer(scripts={"alice@grey.test": [GREYLISTED]})
    engine = verifier({PRIMARY: server}, [mx_route("grey.test", ("mx.grey.test", PRIMARY))])
    got = verify(engine, ["alice@grey.test"])["alice@grey.test"]

    assert verdict(got) == ("unknown", "unavailable_smtp")
    assert got.smtp_code == 450
    assert server.asked["alice@grey.test"] == 1 + (1800 // 300)


def test_greylisted_then_answered_after_the_retry_interval() -> None:
    server = ScriptedServer(
        scripts={"alice@grey.test": [GREYLISTED, ACCEPTED]}, mailboxes=["alice@grey.test"]
    )
    engine = verifier({PRIMARY: server}, [mx_route("grey.test", ("mx.grey.test", PRIMARY))])
    loop = VirtualClockLoop()

    async def run() -> tuple[Verification, float]:
        [got] = [v async for v in engine.verify_many(["alice@grey.test"])]
        return got, loop.time()

    try:
        got, finished_at = loop.run_until_complete(run())
    finally:
        loop.close()
    assert verdict(got) == ("valid", "accepted_email")
    assert finished_at >= 300.0
    assert server.asked["alice@grey.test"] == 2


def test_recipients_cut_off_by_a_421_keep_it_as_evidence() -> None:
    closing = reply(421, "4.4.2 mx.cut.test Error: timeout exceeded")
    server = ScriptedServer(
        mailboxes=["a@cut.test", "c@cut.test"], scripts={"b@cut.test": [closing]}
    )
    engine = verifier({PRIMARY: server}, [mx_route("cut.test", ("mx.cut.test", PRIMARY))])
    results = verify(engine, ["a@cut.test", "b@cut.test", "c@cut.test"])

    no_unexpected_error(results)
    assert verdict(results["a@cut.test"]) == ("valid", "accepted_email")
    # b's question always ends the session; c, asked after it, never gets its turn.
    for cut_off in ("b@cut.test", "c@cut.test"):
        assert verdict(results[cut_off]) == ("unknown", "unavailable_smtp")
        assert results[cut_off].smtp_code == 421
    assert server.asked["b@cut.test"] > 1  # asked again after the pause


# --- rate limits, failover, caps -------------------------------------------------------------


def test_a_rate_limit_pauses_that_server_and_nothing_else() -> None:
    limited = ScriptedServer(
        mailboxes=["a@slow.test", "b@slow.test"], scripts={"a@slow.test": [RATE_LIMITED, ACCEPTED]}
    )
    calm = ScriptedServer(mailboxes=["alice@calm.test"])
    engine = verifier(
        {PRIMARY: limited, OTHER: calm},
        [
            mx_route("slow.test", ("mx.slow.test", PRIMARY)),
            mx_route("calm.test", ("mx.calm.test", OTHER)),
        ],
    )
    loop = VirtualClockLoop()
    answered_at: dict[str, float] = {}

    async def run() -> dict[str, Verification]:
        results = {}
        async for v in engine.verify_many(["a@slow.test", "b@slow.test", "alice@calm.test"]):
            results[v.email] = v
            answered_at[v.email] = loop.time()
        return results

    try:
        results = loop.run_until_complete(run())
    finally:
        loop.close()
    assert {verdict(v) for v in results.values()} == {("valid", "accepted_email")}
    assert answered_at["alice@calm.test"] < 60.0
    assert answered_at["a@slow.test"] >= 60.0
    assert limited.asked["a@slow.test"] == 2


def test_a_refusing_primary_fails_over_to_the_backup() -> None:
    backup = ScriptedServer(mailboxes=["alice@two.test"])
    engine = verifier(
        {PRIMARY: ScriptedServer(refuse_connections=True), BACKUP: backup},
        [mx_route("two.test", ("mx1.two.test", PRIMARY), ("mx2.two.test", BACKUP))],
    )
    results = verify(engine, ["alice@two.test", "nobody@two.test"])

    assert verdict(results["alice@two.test"]) == ("valid", "accepted_email")
    assert results["alice@two.test"].mx_host == "mx2.two.test"
    assert verdict(results["nobody@two.test"]) == ("invalid", "rejected_email")


def test_every_mx_refusing_is_no_connect() -> None:
    engine = verifier(
        {},
        [mx_route("down.test", ("mx1.down.test", PRIMARY), ("mx2.down.test", BACKUP))],
    )
    got = verify(engine, ["alice@down.test"])["alice@down.test"]
    assert verdict(got) == ("unknown", "no_connect")


def test_recipient_and_connection_caps_hold() -> None:
    users = [f"user{i:02d}@capped.test" for i in range(40)]
    server = ScriptedServer(mailboxes=users, max_connections=2)
    engine = verifier(
        {PRIMARY: server},
        [mx_route("capped.test", ("mx.capped.test", PRIMARY))],
        max_connections_per_host=2,
        max_rcpt_per_session=5,
    )
    results = verify(engine, users)

    assert {verdict(v) for v in results.values()} == {("valid", "accepted_email")}
    assert server.counters["max_open"] <= 2
    assert server.counters["rcpt_max_per_session"] <= 5
    assert server.counters["connection_limit_violations"] == 0


def test_a_server_taking_fewer_recipients_is_followed() -> None:
    users = [f"user{i:02d}@few.test" for i in range(12)]
    server = ScriptedServer(mailboxes=users, max_rcpt_per_transaction=3)
    engine = verifier(
        {PRIMARY: server},
        [mx_route("few.test", ("mx.few.test", PRIMARY))],
        max_connections_per_host=1,
    )
    results = verify(engine, users)

    assert {verdict(v) for v in results.values()} == {("valid", "accepted_email")}
    assert engine.manners.rcpt_cap(PRIMARY, 50) == 3
    # All in the first pipelined batch (the probe and 7 users, 3 taken); none once learnt.
    assert server.counters["rcpt_limit_violations"] == 5


def test_an_accept_all_domain_is_risky() -> None:
    server = ScriptedServer(catch_all=True)
    engine = verifier({PRIMARY: server}, [mx_route("all.test", ("mx.all.test", PRIMARY))])
    got = verify(engine, ["alice@all.test"])["alice@all.test"]
    assert verdict(got) == ("risky", "low_deliverability")
    assert got.accept_all


def test_the_deadline_settles_without_waiting_out_the_retries() -> None:
    server = ScriptedServer(scripts={"alice@grey.test": [GREYLISTED]})
    engine = verifier({PRIMARY: server}, [mx_route("grey.test", ("mx.grey.test", PRIMARY))])
    loop = VirtualClockLoop()

    async def run() -> Verification:
        [got] = [v async for v in engine.verify_many(["alice@grey.test"], deadline=700.0)]
        return got

    try:
        got = loop.run_until_complete(run())
        assert loop.time() <= 700.0
    finally:
        loop.close()
    assert got.result is Result.UNKNOWN
    assert server.asked["alice@grey.test"] == 3  # at 0, 300 and 600 s
