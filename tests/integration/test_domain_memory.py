"""Findings kept in the store across engines: a second run over the same domains asks no
accept-all probe again, starts with the recipient caps learnt, and opens fewer sessions."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mailsift.store import Store
from mailsift.store.domain_memory import StoreDomainMemory
from mailsift.store.models import DomainFinding, HostFinding, utcnow
from mailsift.verify.engine import Verifier
from mailsift.verify.model import Verification
from mailsift.verify.planning import never_issued_local_part
from tests.mailworld.world import MailWorld

ADDRESSES = [
    *(f"{user}@catchall.test" for user in ("alice", "bob", "carol")),
    # Ten: two sessions' worth at the learnt cap of five, three with the probe and the 452.
    *(f"user{i:02d}@capped.test" for i in range(1, 11)),
    "alice@ok.test",
    "nobody@ok.test",
]
PROBED = ("catchall.test", "capped.test", "ok.test")


def _probes(world: MailWorld, sender: str) -> int:
    """RCPTs of accept-all probes from ``sender`` in the transcripts the world keeps."""
    probes = {f"<{never_issued_local_part(d, sender)}@{d}>".lower() for d in PROBED}
    return sum(
        1
        for server in world.servers.values()
        for transcript in server.stats.transcripts()
        for line in transcript.commands
        if line.upper().startswith("RCPT TO:") and line[8:].strip().lower() in probes
    )


async def _run(world: MailWorld, store: Store) -> tuple[dict[str, Verification], int, int, int]:
    """One engine of its own (as another worker or a later job would have) over ADDRESSES:
    its verdicts, and the sessions, probe RCPTs and recipient-cap trips the world saw."""
    # A sender of its own: the probe's local part depends on it, so the transcripts tell
    # this run's probes from every other's.
    settings = world.settings(
        max_rcpt_per_session=25,
        max_connections_per_host=1,
        mail_from=f"verify+{secrets.token_hex(4)}@mailsift.test",
    )
    memory = StoreDomainMemory(store, ttl=3600)
    verifier = Verifier(settings.engine_options(), memory=memory)
    before = world.totals()
    results = {v.email: v async for v in verifier.verify_many(ADDRESSES)}
    await memory.flush()
    after = world.totals()
    return (
        results,
        after["sessions"] - before["sessions"],
        _probes(world, settings.envelope_sender),
        after["rcpt_limit_violations"] - before["rcpt_limit_violations"],
    )


@pytest.fixture(scope="module")
def own_world() -> Iterator[MailWorld]:
    """A world of this module's own: the first run here trips capped.test's recipient cap
    on purpose (that is how the cap is learnt), which the shared world's tests count."""
    world = MailWorld.standard().start()
    try:
        yield world
    finally:
        world.stop()


async def test_a_second_engine_asks_no_probe_and_starts_with_learnt_caps(
    own_world: MailWorld, store: Store
) -> None:
    mail_world = own_world
    first, first_sessions, first_probes, _ = await _run(mail_world, store)
    assert first_probes == len(PROBED)
    async with store.read() as session:
        found = {
            row.domain: row for row in (await session.execute(select(DomainFinding))).scalars()
        }
        caps = list((await session.execute(select(HostFinding.rcpt_cap))).scalars())
    assert found["catchall.test"].accept_all is True
    assert found["ok.test"].accept_all is False
    route = found["ok.test"].route
    assert route is not None
    assert route["status"] == "ok"
    assert caps == [5]  # capped.test answers 452 4.5.3 after five recipients

    second, second_sessions, second_probes, cap_trips = await _run(mail_world, store)
    assert second_probes == 0
    assert cap_trips == 0  # it never sent capped.test more recipients than it takes
    assert second_sessions < first_sessions
    verdicts = {email: (v.result, v.reason, v.accept_all) for email, v in first.items()}
    assert {email: (v.result, v.reason, v.accept_all) for email, v in second.items()} == verdicts
    assert second["bob@catchall.test"].accept_all is True


async def test_expired_findings_are_not_used(own_world: MailWorld, store: Store) -> None:
    mail_world = own_world
    await _run(mail_world, store)
    async with store.write() as session:
        for model in (DomainFinding, HostFinding):
            await session.execute(update(model).values(expires_at=utcnow() - timedelta(minutes=1)))
    _, _, probes, _ = await _run(mail_world, store)
    assert probes == len(PROBED)
    assert await StoreDomainMemory(store, ttl=3600).forget_expired() == 0  # renewed just now
