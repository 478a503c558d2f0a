"""Fixtures the whole suite shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailworld.world import MailWorld


@pytest.fixture(scope="session")
def mail_world() -> Iterator[MailWorld]:
    """The standard loopback mail world, started once per test session."""
    world = MailWorld.standard().start()
    try:
        yield world
        totals = world.totals()
    finally:
        world.stop()
    assert totals["data_attempts"] == 0, "a mail server received DATA or BDAT"
