"""Which dispatcher and which caps a process gets, from its database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailsift.dispatch.backend import Backend
from mailsift.dispatch.host_slots import ClusterHostLimiter
from mailsift.dispatch.inprocess import InProcessDispatcher
from mailsift.dispatch.pgqueue import ProcrastinateDispatcher
from mailsift.settings import Settings
from mailsift.store import Store, open_store, upgrade
from mailsift.verify.limits import LocalHostLimiter
from tests.integration.conftest import FakeVerifier


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'mailsift.db'}"
    upgrade(url)
    async with open_store(url) as opened:
        yield opened


async def test_sqlite_keeps_everything_in_the_process(sqlite_store: Store) -> None:
    backend = Backend(Settings(), sqlite_store)
    assert isinstance(backend.verifier().limiter, LocalHostLimiter)
    assert isinstance(backend.dispatcher(FakeVerifier(), workers=2), InProcessDispatcher)
    assert backend.dispatcher(FakeVerifier(), workers=0) is None  # nothing would run the jobs
    await backend.aclose()


@pytest.mark.postgres
async def test_postgresql_shares_the_queue_and_the_caps(migrated_postgres_url: str) -> None:
    async with open_store(migrated_postgres_url) as store:
        backend = Backend(Settings(max_connections_per_host=3), store)
        try:
            assert isinstance(backend.verifier().limiter, ClusterHostLimiter)
            # Without workers it still queues what the API takes in.
            for workers in (0, 2):
                dispatcher = backend.dispatcher(FakeVerifier(), workers=workers)
                assert isinstance(dispatcher, ProcrastinateDispatcher)
        finally:
            await backend.aclose()
