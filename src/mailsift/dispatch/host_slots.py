"""Connections to one mail server, capped across every worker process of a cluster.

Each of the ``per_host`` connections a mail server may have at once is a row of
``host_slots`` (``host``, ``slot``), leased by one process until ``expires_at``. A process
takes a free row with ``FOR UPDATE SKIP LOCKED`` (two processes never take the same row, and
neither waits on the other), renews every lease it holds in one statement every third of the
lease time, and frees a row when its session ends. A process that dies holds its rows until
their leases run out.

No database connection is held for the length of an SMTP session: taking and freeing a slot
are one short statement each. A slot freed while other sessions of the same process wait for
that server goes straight to one of them, without a round trip. Processes waiting for a server
another one uses learn that a slot was freed from a ``NOTIFY`` (one listening connection per
process), and look again every ``poll`` seconds in case they missed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import TextClause, text

from mailsift.store.engine import Store
from mailsift.store.url import libpq_url

log = logging.getLogger(__name__)

CHANNEL = "mailsift_host_slots"
_RECONNECT_SECONDS = 2.0

_TAKE = text("""
    UPDATE host_slots SET holder = :holder, expires_at = now() + make_interval(secs => :ttl)
    WHERE (host, slot) IN (
        SELECT host, slot FROM host_slots
        WHERE host = :host AND slot < :cap AND expires_at <= now()
        ORDER BY slot LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING slot
""")
_ADD_ROWS = text("""
    INSERT INTO host_slots (host, slot, holder, expires_at)
    SELECT :host, n, '', '-infinity' FROM generate_series(0, :cap - 1) AS n
    ON CONFLICT (host, slot) DO NOTHING
    RETURNING slot
""")
_FREE = text("""
    WITH freed AS (
        UPDATE host_slots SET holder = '', expires_at = now()
        WHERE host = :host AND slot = :slot AND holder = :holder
        RETURNING host
    )
    SELECT pg_notify(:channel, host) FROM freed
""")
_RENEW = text("""
    UPDATE host_slots AS s SET expires_at = now() + make_interval(secs => :ttl)
    FROM unnest(CAST(:hosts AS text[]), CAST(:slots AS integer[])) AS held(host, slot)
    WHERE s.host = held.host AND s.slot = held.slot AND s.holder = :holder
    RETURNING s.host, s.slot
""")
_FORGET = text("DELETE FROM host_slots WHERE expires_at < now() - make_interval(secs => :idle)")


def process_name() -> str:
    """``host:pid`` of this process, as operators find it in ``ps``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(eq=False)
class _Host:
    """One mail server, as far as this process is concerned."""

    leases: int = 0  # rows this process holds for it (in use or spare)
    spare: list[int] = field(default_factory=list)  # held, idle, kept for a waiting session
    waiting: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.wake.set()
        self.wake = asyncio.Event()


class ClusterHostLimiter:
    """A ``HostLimiter`` whose caps hold for every process sharing the PostgreSQL database.

    Every process must be given the same ``per_host``. Close it (``aclose``) when done: that
    frees the slots it still holds at once rather than when their leases run out.
    """

    def __init__(
        self,
        store: Store,
        *,
        per_host: int,
        ttl: float = 30.0,
        poll: float = 0.5,
        holder: str | None = None,
    ) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        if store.is_sqlite:
            raise ValueError("cluster-wide host slots need PostgreSQL")
        self._store = store
        self._per_host = per_host
        self._ttl = ttl
        self._poll = poll
        self.holder = holder or f"{process_name()}:{secrets.token_hex(3)}"
        self._hosts: dict[str, _Host] = {}
        self._held: set[tuple[str, int]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._releases: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        number = await self._acquire(host)
        try:
            yield
        finally:
            await self._release(host, number)

    async def aclose(self) -> None:
        """Stop renewing and listening; free every slot still held."""
        tasks, self._background = self._background, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._releases, return_exceptions=True)
        held, self._held = sorted(self._held), set()
        for host, number in held:
            with contextlib.suppress(Exception):
                await self._execute(_FREE, host=host, slot=number)
        self._hosts.clear()

    async def forget_idle(self, idle_seconds: float = 3600.0) -> None:
        """Delete rows of servers nobody has used for ``idle_seconds`` (lists name millions)."""
        await self._execute(_FORGET, idle=idle_seconds)

    # --- taking and giving back -------------------------------------------------------------

    async def _acquire(self, key: str) -> int:
        self._start_background()
        host = self._hosts.setdefault(key, _Host())
        host.waiting += 1
        try:
            while True:
                wake = host.wake
                if host.spare:
                    return host.spare.pop()
                if host.leases < self._per_host:
                    host.leases += 1  # counted before the query: no local overshoot
                    number = await self._take_counted(key, host)
                    if number is not None:
                        return number
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll)
        finally:
            host.waiting -= 1
            self._tidy(key, host)

    async def _take_counted(self, key: str, host: _Host) -> int | None:
        """One attempt at a free row; gives the local count back when there is none."""
        number: int | None = None
        try:
            number = await self._take(key)
        finally:
            if number is None:
                host.leases -= 1
        if number is not None:
            self._held.add((key, number))
        return number

    async def _take(self, key: str) -> int | None:
        found = await self._execute(_TAKE, host=key, cap=self._per_host, ttl=self._ttl)
        if found:
            return int(found[0][0])
        # First contact with this server (or its rows were forgotten): create them, try again.
        if await self._execute(_ADD_ROWS, host=key, cap=self._per_host):
            found = await self._execute(_TAKE, host=key, cap=self._per_host, ttl=self._ttl)
            if found:
                return int(found[0][0])
        return None

    async def _release(self, key: str, number: int) -> None:
        host = self._hosts[key]
        if host.waiting > len(host.spare):  # a session of ours waits for this server
            host.spare.append(number)
            host.notify()
            return
        await self._free(key, host, number)

    async def _free(self, key: str, host: _Host, number: int) -> None:
        host.leases -= 1
        self._held.discard((key, number))
        self._tidy(key, host)
        try:
            await self._execute(_FREE, host=key, slot=number)
        except Exception:
            log.warning("could not free slot %d of %s; its lease will run out", number, key)

    def _tidy(self, key: str, host: _Host) -> None:
        """Free spare slots nobody waits for any more; forget servers not in use."""
        while len(host.spare) > host.waiting:
            number = host.spare.pop()
            task = asyncio.get_running_loop().create_task(self._free(key, host, number))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)
        if not host.leases and not host.waiting and self._hosts.get(key) is host:
            del self._hosts[key]

    # --- background: renewing leases, hearing about freed slots -------------------------------

    def _start_background(self) -> None:
        if not self._background:
            loop = asyncio.get_running_loop()
            self._background = [
                loop.create_task(self._renew_forever(), name="mailsift-host-slots-renew"),
                loop.create_task(self._listen_forever(), name="mailsift-host-slots-listen"),
            ]

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._renew()
            except Exception:
                log.exception("could not renew host slot leases")

    async def _renew(self) -> None:
        held = sorted(self._held)
        if not held:
            return
        renewed = await self._execute(
            _RENEW, hosts=[h for h, _ in held], slots=[n for _, n in held], ttl=self._ttl
        )
        kept = {(str(h), int(n)) for h, n in renewed}
        lost = (set(held) - kept) & self._held  # freed meanwhile is not lost
        if lost:
            log.warning(
                "lost %d host slot lease(s) (%s): the database was out of reach longer than "
                "MAILSIFT_HOST_SLOT_TTL; the cap may be exceeded until those sessions end",
                len(lost),
                ", ".join(f"{h}#{n}" for h, n in sorted(lost)),
            )

    async def _listen_forever(self) -> None:
        url = libpq_url(self._store.url)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        host = self._hosts.get(note.payload)
                        if host is not None and host.waiting:
                            host.notify()
            except (psycopg.Error, OSError) as exc:
                log.warning("host slot notifications interrupted (%s); polling meanwhile", exc)
            await asyncio.sleep(_RECONNECT_SECONDS)

    async def _execute(self, statement: TextClause, **params: Any) -> list[Any]:
        params.setdefault("holder", self.holder)
        params.setdefault("channel", CHANNEL)
        async with self._store.engine.begin() as connection:
            result = await connection.execute(statement, params)
            return list(result.all()) if result.returns_rows else []
