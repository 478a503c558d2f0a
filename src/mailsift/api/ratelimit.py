"""Limits every API server enforces together: kept in the database (``store.limits``).

- ``RateLimiter``: at most ``per_minute`` calls a minute per key (an account), in bursts of
  up to ``per_minute``.
- ``AuthThrottle``: at most ``per_minute`` failed token attempts a minute per client address.
  A client that failed before on this server is checked before its token is (a correct
  token does not get through a throttled address either); every failure, on any server,
  takes from the one shared bucket.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

from mailsift.api.errors import ApiError
from mailsift.store.engine import Store
from mailsift.store.limits import Bucket, take, waiting

# The address the current request came from (set by ``app.ClientAddress``).
client_address: ContextVar[str] = ContextVar("client_address", default="")
_SUSPECT_SECONDS = 600.0
_MAX_SUSPECTS = 10_000


def too_many(what: str, wait: float) -> ApiError:
    retry_after = str(max(1, math.ceil(wait)))
    return ApiError(
        429, f"Too many {what}: try again in {retry_after} s.", headers={"Retry-After": retry_after}
    )


class RateLimiter:
    def __init__(self, store: Store, per_minute: int, *, name: str) -> None:
        self._store = store
        self._name = name
        self._bucket = Bucket(float(per_minute), per_minute / 60.0) if per_minute > 0 else None

    async def acquire(self, key: int | str) -> float:
        """0 when a call may go ahead now (and count it), else the seconds until one may."""
        if self._bucket is None:
            return 0.0
        return await take(self._store, f"{self._name}:{key}", self._bucket)


class AuthThrottle:
    def __init__(self, store: Store, per_minute: int) -> None:
        self._store = store
        self._bucket = Bucket(float(per_minute), per_minute / 60.0) if per_minute > 0 else None
        self._suspects: dict[str, float] = {}  # address -> when it last failed here

    async def check(self) -> None:
        """Refuse (429) a client address that spent its failed attempts, if it failed here."""
        client = client_address.get()
        if self._bucket is None or not client or not self._suspected(client):
            return
        wait = await waiting(self._store, _key(client), self._bucket)
        if wait:
            raise too_many("failed token attempts", wait)

    async def failed(self) -> ApiError | None:
        """Count a failed attempt; the 429 to answer instead of 401 when that was one too many."""
        client = client_address.get()
        if self._bucket is None or not client:
            return None
        self._suspects.pop(client, None)
        self._suspects[client] = time.monotonic()
        if len(self._suspects) > _MAX_SUSPECTS:
            del self._suspects[next(iter(self._suspects))]
        wait = await take(self._store, _key(client), self._bucket)
        return too_many("failed token attempts", wait) if wait else None

    def _suspected(self, client: str) -> bool:
        failed_at = self._suspects.get(client)
        if failed_at is None:
            return False
        if time.monotonic() - failed_at > _SUSPECT_SECONDS:
            del self._suspects[client]
            return False
        return True


def _key(client: str) -> str:
    return f"auth:{client}"
