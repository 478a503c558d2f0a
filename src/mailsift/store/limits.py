"""Token buckets in the database, so that every API server counts against one limit.

A bucket holds up to ``capacity`` tokens and refills at ``per_second``; a call takes one.
``take`` is one statement (an upsert: ``INSERT … ON CONFLICT DO UPDATE … RETURNING``) that
refills, takes and says whether it could, under the row's lock: concurrent callers on any
number of servers are counted exactly. Times are the callers' clocks, in seconds since the
epoch (servers of one cluster keep them in step with NTP).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select, text

from mailsift.store.engine import Store
from mailsift.store.models import RateBucket

_F = "CAST({} AS DOUBLE PRECISION)"
_NOW, _RATE, _CAP = _F.format(":now"), _F.format(":rate"), _F.format(":cap")
_ELAPSED = f"CASE WHEN {_NOW} > rate_buckets.updated THEN {_NOW} - rate_buckets.updated ELSE 0 END"
_FILLED = f"rate_buckets.tokens + ({_ELAPSED}) * {_RATE}"
_LEVEL = f"CASE WHEN {_FILLED} > {_CAP} THEN {_CAP} ELSE {_FILLED} END"
_TAKE = text(f"""
    INSERT INTO rate_buckets (key, tokens, updated, allowed)
    VALUES (:key, {_CAP} - 1, {_NOW}, true)
    ON CONFLICT (key) DO UPDATE SET
        tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
        allowed = ({_LEVEL} >= 1),
        updated = {_NOW}
    RETURNING tokens, allowed
""")  # noqa: S608 (our own SQL fragments; every value is bound)


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: float
    per_second: float

    def wait(self, tokens: float) -> float:
        """Seconds until a bucket holding ``tokens`` has one to give."""
        return max(0.0, (1.0 - tokens) / self.per_second)


async def take(store: Store, key: str, bucket: Bucket, *, now: float | None = None) -> float:
    """Take a token from the bucket ``key``: 0 when there was one, else the seconds until
    there will be (nothing is taken then)."""
    params = {
        "key": key,
        "now": time.time() if now is None else now,
        "rate": bucket.per_second,
        "cap": bucket.capacity,
    }
    async with store.write() as session:
        tokens, allowed = (await session.execute(_TAKE, params)).one()
    return 0.0 if allowed else bucket.wait(float(tokens))


async def waiting(store: Store, key: str, bucket: Bucket, *, now: float | None = None) -> float:
    """Like ``take``, but only looks: 0 when a token is there, else the seconds until one is."""
    query = select(RateBucket.tokens, RateBucket.updated).where(RateBucket.key == key)
    async with store.read() as session:
        row = (await session.execute(query)).first()
    if row is None:
        return 0.0
    tokens, updated = row
    elapsed = max(0.0, (time.time() if now is None else now) - updated)
    level = min(bucket.capacity, tokens + elapsed * bucket.per_second)
    return 0.0 if level >= 1 else bucket.wait(level)


async def forget_idle_buckets(store: Store, *, idle_seconds: float = 86400.0) -> None:
    """Delete buckets nobody used for ``idle_seconds`` (full again by then anyway)."""
    cutoff = time.time() - idle_seconds
    async with store.write() as session:
        await session.execute(delete(RateBucket).where(RateBucket.updated < cutoff))
