"""Which link-signing keys the API nodes of this database started with, by fingerprint."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mailsift.store.engine import Store
from mailsift.store.models import SigningKey, utcnow

_FINGERPRINT_LABEL = b"mailsift signing key fingerprint"


def fingerprint(key: bytes) -> str:
    """A name for ``key`` that tells keys apart and gives nothing of the key away."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SeenKey:
    fingerprint: str
    node: str
    last_seen: datetime


async def record_signing_key(store: Store, key: bytes, node: str) -> None:
    """Note that ``node`` signs with ``key`` (now)."""
    name = fingerprint(key)
    now = utcnow()
    try:
        async with store.write() as session:
            changed = await session.execute(
                update(SigningKey)
                .where(SigningKey.fingerprint == name)
                .values(node=node, last_seen=now)
            )
            if not changed.rowcount:  # type: ignore[attr-defined]
                session.add(SigningKey(fingerprint=name, node=node, first_seen=now, last_seen=now))
    except IntegrityError:
        pass  # another node with the same key recorded it at the same moment


async def signing_keys_seen(store: Store, within: timedelta) -> list[SeenKey]:
    """Every key an API node started with in the last ``within``, newest first."""
    since = utcnow() - within
    async with store.read() as session:
        rows = await session.execute(
            select(SigningKey.fingerprint, SigningKey.node, SigningKey.last_seen)
            .where(SigningKey.last_seen >= since)
            .order_by(SigningKey.last_seen.desc())
        )
        return [SeenKey(*row) for row in rows]
