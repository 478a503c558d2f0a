"""Concurrent real-time calls against a small balance: exactly the balance is charged.

``calls`` clients at once ask ``/email_verification/`` of a live server (real engine, over a
bench world) for addresses that each cost a credit, from an account holding ``credits``. Exactly
``credits`` answers may be verdicts, the rest 402; afterwards the balance is 0 and the ledger
holds exactly ``credits`` charges (and no refund: every verification here succeeds).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.hardening.live import Server, clean_env, create_token, sql, world_env
from bench.world import WorldProcess, make_plan


@dataclass
class RaceResult:
    database: str
    calls: int
    credits: int
    statuses: dict[int, int]
    verdicts: int
    balance_after: int
    ledger_charges: int
    ledger_refunds: int
    ledger_sum: int

    @property
    def exact(self) -> bool:
        return (
            self.verdicts == self.credits
            and self.statuses.get(402, 0) == self.calls - self.credits
            and self.balance_after == 0
            and self.ledger_charges == self.credits
            and self.ledger_refunds == 0
            and self.ledger_sum == 0
        )


async def _race(url: str, token: str, addresses: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(addresses))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = asyncio.Event()

        async def one(address: str) -> httpx.Response:
            await start.wait()
            return await client.post(
                "/email_verification/", data={"user_API_token": token, "email": address}
            )

        tasks = [asyncio.create_task(one(a)) for a in addresses]
        await asyncio.sleep(0.2)  # every task waits at the gate
        start.set()
        return await asyncio.gather(*tasks)


def _ledger(db_url: str) -> tuple[int, int, int, int]:
    """(balance, charges, refunds, balance + sum of the ledger's API deltas) of the account."""
    query = (
        "SELECT a.api_credits, "
        "(SELECT count(*) FROM ledger WHERE account_id = a.id AND kind = 'charge'), "
        "(SELECT count(*) FROM ledger WHERE account_id = a.id AND kind = 'refund'), "
        "(SELECT coalesce(sum(api_delta), 0) FROM ledger WHERE account_id = a.id) "
        "FROM accounts AS a WHERE a.name = 'racer'"
    )
    [row] = sql(db_url, query)
    balance, charges, refunds, total = (int(v) for v in row)
    return balance, charges, refunds, total - balance


def credit_race(calls: int = 50, credits: int = 10, *, database_url: str = "") -> RaceResult:
    plan = make_plan(400, 20, 3)
    billable = [a for a, want in plan.expected.items() if want.result == "valid"][:calls]
    assert len(billable) == calls, "the world has too few valid addresses"
    world = WorldProcess(plan, per_host=2, per_session=25)
    ports = world.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailsift-race-") as tmp:
            env = clean_env(
                **world_env(ports),
                MAILSIFT_DATABASE_URL=database_url,
                MAILSIFT_REALTIME_RATE_PER_MINUTE="0",
            )
            data = Path(tmp) / "data"
            data.mkdir()
            server = Server(env, data, Path(tmp) / "server.log")
            token = create_token(server.db_url, "racer", credits)
            server.start(workers=False)
            try:
                answers = asyncio.run(_race(server.url, token, billable))
            finally:
                server.stop()
            balance, charges, refunds, ledger_sum = _ledger(server.db_url)
    finally:
        world.stop()
    statuses = Counter(answer.status_code for answer in answers)
    verdicts = sum(1 for a in answers if a.status_code == 200 and a.json().get("result"))
    return RaceResult(
        database="sqlite" if not database_url else "postgresql",
        calls=calls,
        credits=credits,
        statuses=dict(statuses),
        verdicts=verdicts,
        balance_after=balance,
        ledger_charges=charges,
        ledger_refunds=refunds,
        ledger_sum=ledger_sum,
    )


def as_record(result: RaceResult) -> dict[str, Any]:
    return {**asdict(result), "exact": result.exact}
