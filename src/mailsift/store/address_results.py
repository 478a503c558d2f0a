"""Queries of ``address_results``: an account's latest final result per normalised address."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from mailsift.store.engine import Store
from mailsift.store.models import AddressResult

_PER_QUERY = 500


async def recent_results(
    store: Store, account_id: int, normalized: Collection[str], since: datetime
) -> dict[str, dict[str, Any]]:
    """The kept results of these addresses verified at ``since`` or later."""
    wanted = list(normalized)
    found: dict[str, dict[str, Any]] = {}
    async with store.read() as session:
        for start in range(0, len(wanted), _PER_QUERY):
            query = select(AddressResult.normalized, AddressResult.verification).where(
                AddressResult.account_id == account_id,
                AddressResult.normalized.in_(wanted[start : start + _PER_QUERY]),
                AddressResult.verified_at >= since,
            )
            for name, data in await session.execute(query):
                found[name] = data
    return found


async def keep_results(
    store: Store, account_id: int, results: Sequence[tuple[str, dict[str, Any]]], when: datetime
) -> None:
    """Keep (or replace) the latest result of each address."""
    if not results:
        return
    insert = sqlite.insert if store.is_sqlite else postgresql.insert
    rows = [
        {"account_id": account_id, "normalized": n, "verification": v, "verified_at": when}
        for n, v in dict(results).items()
    ]
    statement = insert(AddressResult).values(rows)
    async with store.write() as session:
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id", "normalized"],
                set_={
                    "verification": statement.excluded.verification,
                    "verified_at": statement.excluded.verified_at,
                },
            )
        )


async def forget_results_before(store: Store, cutoff: datetime) -> None:
    async with store.write() as session:
        await session.execute(delete(AddressResult).where(AddressResult.verified_at < cutoff))
