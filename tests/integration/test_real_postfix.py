"""The engine against a real Debian Postfix with postgrey, started by the test on loopback.

The test DNS server points every domain's MX at the Postfix host. Postfix keeps its stock error
limits (an error sleep after 10 rejected commands in a session, 421 and hang-up after 20), so
a verifier that asks too much in one session is caught in Postfix's own log. Skipped with the
reason when Postfix or postgrey cannot run here; ``MAILSIFT_REQUIRE_POSTFIX=1`` (as in CI)
turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest

from mailsift.verify.engine import Verifier
from mailsift.verify.model import Verification
from tests.mailworld.postfix import MailDomains, RealPostfix, missing
from tests.mailworld.world import MailWorld, WorldBuilder

HOST = "mx.postfix.test"
MAILBOXES = "mailboxes.postfix.test"
CATCH_ALL = "catchall.postfix.test"
GREYLISTED = "greylisted.postfix.test"
BULK = "bulk.postfix.test"
BULK_SIZE = 200
BULK_LIVE = 80  # 60 % of the bulk domain's addresses are dead
GREYLIST_DELAY = 2  # seconds postgrey holds a new (client, sender, recipient) back
SOFT_ERROR_LIMIT = 10  # Postfix's stock smtpd_soft_error_limit


def _bulk_addresses() -> tuple[list[str], list[str]]:
    """The bulk domain's list (live and dead mixed, as a list comes) and its live locals."""
    live = [f"live{i:03d}" for i in range(BULK_LIVE)]
    dead = [f"dead{i:03d}" for i in range(BULK_SIZE - BULK_LIVE)]
    listed = [f"{local}@{BULK}" for local in live + dead]
    random.Random(8).shuffle(listed)
    return listed, live


@dataclass
class PostfixWorld:
    postfix: RealPostfix
    dns: MailWorld

    def verifier(self, **overrides: object) -> Verifier:
        values: dict[str, object] = {
            "smtp_port": self.postfix.port,
            "max_connections_per_host": 2,
            "max_rcpt_per_session": 50,
            "connect_timeout": 5,
            "command_timeout": 10,
            "greylist_retry_after": GREYLIST_DELAY + 1,
            "greylist_deadline": 30,
        }
        values.update(overrides)
        return Verifier(self.dns.settings(**values).engine_options())

    def verify(self, addresses: Iterable[str], **overrides: object) -> dict[str, Verification]:
        verifier = self.verifier(**overrides)

        async def run() -> dict[str, Verification]:
            return {v.email: v async for v in verifier.verify_many(addresses)}

        results = asyncio.run(run())
        self.wait_for_sessions_to_end()
        return results

    def wait_for_sessions_to_end(self) -> None:
        """Postfix logs a session when it ends: wait until every connect has its disconnect."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.postfix.log_lines()
            opened = sum(" connect from " in line for line in lines)
            if opened == sum(" disconnect from " in line for line in lines):
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def postfix_world() -> Iterator[PostfixWorld]:
    reason = missing()
    if reason is not None:
        message = f"real Postfix tests need Postfix and postgrey: {reason}"
        if os.environ.get("MAILSIFT_REQUIRE_POSTFIX") == "1":
            pytest.fail(message)
        pytest.skip(message)
    rng = random.Random()
    ip = f"127.{rng.randint(2, 254)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
    domains = MailDomains(
        mailboxes={
            MAILBOXES: ["alice", "bob"],
            GREYLISTED: ["alice"],
            BULK: _bulk_addresses()[1],
        },
        catch_all=[CATCH_ALL],
        greylisted=[GREYLISTED],
    )
    postfix = RealPostfix(ip, domains, hostname=HOST, greylist_delay=GREYLIST_DELAY)
    builder = WorldBuilder()  # its DNS server only: the mail server is Postfix
    builder.zone.add(HOST, "A", ip)
    for domain in (MAILBOXES, CATCH_ALL, GREYLISTED, BULK):
        builder.zone.add(domain, "MX", f"10 {HOST}.")
    try:
        with postfix, builder.build() as dns:
            yield PostfixWorld(postfix, dns)
    finally:
        postfix.cleanup()


@pytest.fixture(scope="module")
def small_run(postfix_world: PostfixWorld) -> dict[str, Verification]:
    """One list over the mailbox, catch-all and greylisted domains."""
    addresses = [
        f"alice@{MAILBOXES}",
        f"nobody@{MAILBOXES}",
        f"alice@{CATCH_ALL}",
        f"x7q2m9zk@{CATCH_ALL}",
        f"alice@{GREYLISTED}",
    ]
    return postfix_world.verify(addresses)


def _verdict(v: Verification) -> tuple[str, str]:
    return str(v.result), str(v.reason)


def test_an_existing_mailbox_is_valid(small_run: dict[str, Verification]) -> None:
    got = small_run[f"alice@{MAILBOXES}"]
    assert _verdict(got) == ("valid", "accepted_email"), got
    assert got.smtp_code == 250
    assert got.mx_host == HOST
    assert not got.accept_all


def test_a_missing_mailbox_is_invalid(small_run: dict[str, Verification]) -> None:
    got = small_run[f"nobody@{MAILBOXES}"]
    assert _verdict(got) == ("invalid", "rejected_email"), got
    assert got.smtp_code == 550
    assert "User unknown in virtual mailbox table" in got.smtp_message


def test_a_catch_all_domain_is_risky_and_accept_all(small_run: dict[str, Verification]) -> None:
    for local in ("alice", "x7q2m9zk"):
        got = small_run[f"{local}@{CATCH_ALL}"]
        assert _verdict(got) == ("risky", "low_deliverability"), got
        assert got.accept_all


def test_a_greylisted_recipient_is_asked_again_after_the_delay(
    postfix_world: PostfixWorld, small_run: dict[str, Verification]
) -> None:
    address = f"alice@{GREYLISTED}"
    got = small_run[address]
    assert _verdict(got) == ("valid", "accepted_email"), got
    greylist = [line for line in postfix_world.postfix.greylist_lines() if address in line]
    assert any("action=greylist, reason=new" in line for line in greylist), greylist
    passed = [line for line in greylist if "action=pass, reason=triplet found" in line]
    assert passed, greylist
    rejected = [
        line
        for line in postfix_world.postfix.log_lines()
        if f"to=<{address}>" in line and "Greylisted" in line
    ]
    assert rejected, "Postfix never answered 450 to the first attempt"


def test_a_mostly_dead_domain_never_trips_postfix_error_limits(
    postfix_world: PostfixWorld,
) -> None:
    listed, live = _bulk_addresses()
    postfix = postfix_world.postfix
    lines_before = len(postfix.log_lines())
    sessions_before = len(postfix.sessions())
    results = postfix_world.verify(listed)
    alive = {f"{local}@{BULK}" for local in live}
    wrong = {
        address: _verdict(results[address])
        for address in listed
        if _verdict(results[address])
        != (("valid", "accepted_email") if address in alive else ("invalid", "rejected_email"))
    }
    assert wrong == {}
    log = postfix.log_lines()[lines_before:]
    assert not [line for line in log if "too many errors" in line]
    assert not [line for line in log if "lost connection after RCPT" in line]
    sessions = postfix.sessions()[sessions_before:]
    # 121 rejections (the dead and the accept-all probe) need several sessions ...
    assert len(sessions) >= (BULK_SIZE - BULK_LIVE + 1) // (SOFT_ERROR_LIMIT - 1)
    # ... and none made as many errors as earn Postfix's error sleep.
    assert max(s.errors for s in sessions) < SOFT_ERROR_LIMIT, sessions
