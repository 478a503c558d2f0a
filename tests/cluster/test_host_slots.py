"""Cluster-wide connection caps: leases in ``host_slots`` shared by every worker process.

Two limiters with stores of their own stand for two worker processes: they share nothing
but the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack

import pytest

from mailsift.dispatch.host_slots import ClusterHostLimiter, forget_idle_slots
from mailsift.store import Store, open_store
from mailsift.verify.engine import Verifier
from mailsift.verify.limits import HostLimiter, LocalHostLimiter
from tests.cluster.conftest import CROWD_CAP, CROWD_DOMAIN, CROWD_HOST, CROWD_USERS
from tests.mailworld.world import MailWorld, WorldBuilder

pytestmark = pytest.mark.postgres

SERVER = "192.0.2.25"


@pytest.fixture
async def stores(migrated_postgres_url: str) -> AsyncIterator[list[Store]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_store(migrated_postgres_url)) for _ in range(3)]


@pytest.fixture
async def limiters(stores: list[Store]) -> AsyncIterator[list[ClusterHostLimiter]]:
    made = [ClusterHostLimiter(store.url, per_host=2, ttl=2.0, poll=0.05) for store in stores[:2]]
    try:
        yield made
    finally:
        for limiter in made:
            await limiter.aclose()


class Meter:
    """Counts sessions open at once (the most ever, and now)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def session(self, limiter: HostLimiter, host: str = SERVER, hold: float = 0.01) -> None:
        async with limiter.slot(host):
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(hold)
            self.now -= 1


async def run_sessions(limiters: Sequence[HostLimiter], sessions: int = 40) -> int:
    meter = Meter()
    await asyncio.gather(*(meter.session(limiters[n % len(limiters)]) for n in range(sessions)))
    return meter.peak


async def test_two_processes_together_never_exceed_the_cap(
    limiters: list[ClusterHostLimiter],
) -> None:
    assert await run_sessions(limiters) == 2


async def test_process_local_caps_alone_would_exceed_it() -> None:
    # What the cluster limiter prevents: each process keeping only its own count.
    assert await run_sessions([LocalHostLimiter(2), LocalHostLimiter(2)]) == 4


async def test_every_slot_is_free_again_soon_after_use(
    limiters: list[ClusterHostLimiter], stores: list[Store]
) -> None:
    await run_sessions(limiters)
    rows = await _eventually(stores[2], lambda rows: not any(live for *_, live in rows))
    assert [(host, slot) for host, slot, _, _ in rows] == [(SERVER, 0), (SERVER, 1)]
    assert all(holder == "" and not live for _, _, holder, live in rows)


async def test_a_held_slot_is_renewed_past_its_lease_time(stores: list[Store]) -> None:
    holder = ClusterHostLimiter(stores[0].url, per_host=1, ttl=0.3, poll=0.05)
    other = ClusterHostLimiter(stores[1].url, per_host=1, ttl=0.3, poll=0.05)
    order: list[str] = []

    async def later_session() -> None:
        async with other.slot(SERVER):
            order.append("other in")

    try:
        async with holder.slot(SERVER):
            waiting = asyncio.create_task(later_session())
            await asyncio.sleep(1.2)  # four lease times: kept only by renewal
            order.append("holder out")
        await asyncio.wait_for(waiting, 10)
    finally:
        await holder.aclose()
        await other.aclose()
    assert order == ["holder out", "other in"]


async def test_a_dead_process_blocks_its_slot_until_the_lease_runs_out(
    stores: list[Store],
) -> None:
    limiter = ClusterHostLimiter(stores[0].url, per_host=1, ttl=5.0, poll=0.05)
    try:
        await _plant_lease(stores[2], "dead-host:1", seconds=60)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5), limiter.slot(SERVER):
                pass
        await _plant_lease(stores[2], "dead-host:1", seconds=0.3)
        async with asyncio.timeout(10), limiter.slot(SERVER):
            [(_, _, holder, live)] = await _rows(stores[2])
            assert (holder, live) == (limiter.holder, True)
    finally:
        await limiter.aclose()


async def test_servers_unused_for_long_are_forgotten(
    limiters: list[ClusterHostLimiter], stores: list[Store]
) -> None:
    await run_sessions(limiters, sessions=4)
    await _eventually(stores[2], lambda rows: not any(live for *_, live in rows))
    await forget_idle_slots(stores[2], idle_seconds=3600)
    assert len(await _rows(stores[2])) == 2
    await forget_idle_slots(stores[2], idle_seconds=0)
    assert await _rows(stores[2]) == []


async def test_two_engines_keep_a_real_servers_cap_together(
    cluster_world: MailWorld, stores: list[Store]
) -> None:
    server = cluster_world.server(CROWD_HOST)
    before = server.stats.counters()
    settings = cluster_world.settings(max_rcpt_per_session=5)
    limiters = [
        ClusterHostLimiter(store.url, per_host=CROWD_CAP, ttl=5.0, poll=0.05)
        for store in stores[:2]
    ]
    engines = [Verifier(settings.engine_options(), limiter=limiter) for limiter in limiters]
    halves = [CROWD_USERS[:100], CROWD_USERS[100:200]]
    try:
        answers = await asyncio.gather(
            *(
                _verify(engine, [f"{user}@{CROWD_DOMAIN}" for user in half])
                for engine, half in zip(engines, halves, strict=True)
            )
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    after = server.stats.counters()
    assert {result for results in answers for result in results} == {"valid"}
    assert after["connection_limit_violations"] == before["connection_limit_violations"]
    assert after["max_concurrent_seen"] <= CROWD_CAP


async def test_two_engines_with_caps_of_their_own_would_break_it() -> None:
    # The same two engines, each counting only its own connections, on a world of their own
    # (a broken cap there must not show in the shared world's counters).
    builder = WorldBuilder()
    host = builder.host(CROWD_HOST, max_connections_per_ip=CROWD_CAP, reply_delay=0.02)
    builder.domain(CROWD_DOMAIN, mx=[(10, host)], mailboxes=CROWD_USERS[:200])
    with builder.build() as world:
        settings = world.settings(max_rcpt_per_session=5)
        engines = [Verifier(settings.engine_options()), Verifier(settings.engine_options())]
        halves = [CROWD_USERS[:100], CROWD_USERS[100:200]]
        await asyncio.gather(
            *(
                _verify(engine, [f"{user}@{CROWD_DOMAIN}" for user in half])
                for engine, half in zip(engines, halves, strict=True)
            )
        )
        counters = world.server(CROWD_HOST).stats.counters()
    assert counters["max_concurrent_seen"] > CROWD_CAP
    assert counters["connection_limit_violations"] > 0


async def _verify(engine: Verifier, addresses: list[str]) -> list[str]:
    return [str(v.result) async for v in engine.verify_many(addresses)]


Rows = list[tuple[str, int, str, bool]]


async def _eventually(store: Store, wanted: Callable[[Rows], bool]) -> Rows:
    """The rows of ``host_slots`` once they are as ``wanted`` (slots are freed in the
    background, a moment after their last session)."""
    async with asyncio.timeout(10):
        while True:
            rows = await _rows(store)
            if wanted(rows):
                return rows
            await asyncio.sleep(0.05)


async def _rows(store: Store) -> list[tuple[str, int, str, bool]]:
    async with store.engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "SELECT host, slot, holder, expires_at > now() FROM host_slots ORDER BY host, slot"
        )
        return [(str(h), int(s), str(holder), bool(live)) for h, s, holder, live in result]


async def _plant_lease(store: Store, holder: str, *, seconds: float) -> None:
    """A lease as a process that died while holding it leaves behind."""
    async with store.engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO host_slots (host, slot, holder, expires_at) "
            "VALUES (%(host)s, 0, %(holder)s, now() + make_interval(secs => %(seconds)s)) "
            "ON CONFLICT (host, slot) DO UPDATE SET holder = EXCLUDED.holder, "
            "expires_at = EXCLUDED.expires_at",
            {"host": SERVER, "holder": holder, "seconds": seconds},
        )
