"""Connections to one mail server, capped across every worker process of a cluster.

Each of the ``per_host`` connections a mail server may have at once is a row of
``host_slots`` (``host``, ``slot``), leased by one process until ``expires_at``. A process
takes a free row with ``FOR UPDATE SKIP LOCKED`` (two processes never take the same row, and
neither waits on the other), renews every lease it holds in one statement every third of the
lease time, and frees a row when it no longer needs it. A process that dies holds its rows
until their leases run out.

No database connection is held for the length of an SMTP session, and the database stays off
the sessions' path where it can:

- a slot a session gives back goes straight to another session of the same process waiting
  for that server, or lingers a moment for the next one (a chunk's sessions to a server follow
  each other); only then is it freed, in the background;
- processes talk over ``LISTEN``/``NOTIFY`` (one listening connection each). A process that
  finds a server's slots all taken says it wants one; while somebody does, a holder keeps a
  slot at most ``_MAX_HOLD_SECONDS`` (then the others get their turn) and says when it freed
  one. Waiters also look again every ``poll`` seconds, in case a word was missed.
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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from mailsift.store.engine import Store
from mailsift.store.url import async_url, is_sqlite, libpq_url

log = logging.getLogger(__name__)

CHANNEL = "mailsift_host_slots"
WANT, FREED = "want", "free"  # what a notification says, then who says it, then the server
_LINGER_SECONDS = 0.25  # a slot given back waits this long for another session of ours
# While another process wants the server: how long one process keeps a slot. Every change of
# hands costs the lane a round trip or two, so not too short.
_MAX_HOLD_SECONDS = 2.0
_POOL_SIZE = 10
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
    SELECT pg_notify(:channel, :word) FROM freed WHERE :tell
""")
_SAY = text("SELECT pg_notify(:channel, :word)")
_RENEW = text("""
    UPDATE host_slots AS s SET expires_at = now() + make_interval(secs => :ttl)
    FROM unnest(CAST(:hosts AS text[]), CAST(:slots AS integer[])) AS held(host, slot)
    WHERE s.host = held.host AND s.slot = held.slot AND s.holder = :holder
    RETURNING s.host, s.slot
""")
_FORGET = text("DELETE FROM host_slots WHERE expires_at < now() - make_interval(secs => :idle)")


async def forget_idle_slots(store: Store, *, idle_seconds: float = 3600.0) -> None:
    """Delete the rows of servers nobody has used for ``idle_seconds`` (lists name millions
    of servers; a row comes back on the next contact)."""
    async with store.write() as session:
        await session.execute(_FORGET, {"idle": idle_seconds})


def process_name() -> str:
    """``host:pid`` of this process, as operators find it in ``ps``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(eq=False)
class _Host:
    """One mail server, as far as this process is concerned."""

    leases: int = 0  # rows this process holds for it (in use or spare)
    spare: list[int] = field(default_factory=list)  # held and idle
    taken_at: dict[int, float] = field(default_factory=dict)  # loop time each row was taken
    waiting: int = 0
    wanted_until: float = 0.0  # another process wants a slot of it (loop time)
    said_want_at: float = -1e9  # when we last said we want one
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
        url: str,
        *,
        per_host: int,
        ttl: float = 30.0,
        poll: float = 0.5,
        holder: str | None = None,
    ) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        if is_sqlite(async_url(url)):
            raise ValueError("cluster-wide host slots need PostgreSQL")
        self._url = url
        # Autocommit: each statement is one round trip, no BEGIN or COMMIT around it. Leases
        # live seconds and run out by themselves: no need to wait for them to reach the disk.
        # A fixed pool: under load, opening and closing extra connections costs more than
        # waiting for one.
        self._engine = create_async_engine(
            async_url(url),
            isolation_level="AUTOCOMMIT",
            pool_size=_POOL_SIZE,
            max_overflow=0,
            connect_args={"options": "-c synchronous_commit=off"},
        )
        self._per_host = per_host
        self._ttl = ttl
        self._poll = poll
        self.holder = holder or f"{process_name()}:{secrets.token_hex(3)}"
        self._hosts: dict[str, _Host] = {}
        self._held: set[tuple[str, int]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._chores: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        number = await self._acquire(host)
        try:
            yield
        finally:
            self._release(host, number)

    async def aclose(self) -> None:
        """Stop renewing and listening; free every slot still held."""
        tasks, self._background = self._background, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._chores, return_exceptions=True)
        held, self._held = sorted(self._held), set()
        self._hosts.clear()
        for host, number in held:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._free(host, number, tell=True)
        await self._engine.dispose()

    # --- taking ------------------------------------------------------------------------------

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
                    self._say_want(key, host)  # every slot is another process's
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
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not take a slot of %s (%s); trying again", key, exc)
        finally:
            if number is None:
                host.leases -= 1
        if number is not None:
            self._held.add((key, number))
            host.taken_at[number] = asyncio.get_running_loop().time()
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

    def _say_want(self, key: str, host: _Host) -> None:
        now = asyncio.get_running_loop().time()
        if now - host.said_want_at >= self._poll:
            host.said_want_at = now
            self._chore(self._say(WANT, key))

    # --- giving back -------------------------------------------------------------------------

    def _release(self, key: str, number: int) -> None:
        """Keep the slot for the next session of ours, or free it (never waits)."""
        host = self._hosts.get(key)
        if host is None:
            return  # closed meanwhile: every slot was freed
        held_for = asyncio.get_running_loop().time() - host.taken_at.get(number, 0.0)
        if self._wanted(host) and (held_for >= _MAX_HOLD_SECONDS or not host.waiting):
            self._free_soon(key, host, number)  # another process's turn
            self._tidy(key, host)
            return
        host.spare.append(number)
        if host.waiting:
            host.notify()
        else:
            asyncio.get_running_loop().call_later(_LINGER_SECONDS, self._tidy, key, host)

    def _wanted(self, host: _Host) -> bool:
        return host.wanted_until > asyncio.get_running_loop().time()

    def _tidy(self, key: str, host: _Host) -> None:
        """Free spare slots nobody waits for; forget servers no longer in use."""
        if self._hosts.get(key) is not host:
            return  # forgotten already (or closed)
        while len(host.spare) > host.waiting:
            self._free_soon(key, host, host.spare.pop())
        if not host.leases and not host.waiting:
            del self._hosts[key]

    def _free_soon(self, key: str, host: _Host, number: int) -> None:
        host.leases -= 1
        host.taken_at.pop(number, None)
        self._held.discard((key, number))
        self._chore(self._free(key, number, tell=self._wanted(host)))

    async def _free(self, key: str, number: int, *, tell: bool) -> None:
        word = f"{FREED} {self.holder} {key}"
        try:
            await self._execute(_FREE, host=key, slot=number, word=word, tell=tell)
        except (SQLAlchemyError, OSError):
            log.warning("could not free slot %d of %s; its lease will run out", number, key)
        host = self._hosts.get(key)
        if host is not None and host.waiting:
            host.notify()  # a session of ours that found the row still held may take it now

    async def _say(self, what: str, key: str) -> None:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self._execute(_SAY, word=f"{what} {self.holder} {key}")

    def _chore(self, coro: Any) -> None:
        """Run ``coro`` in the background; ``aclose`` waits for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # --- background: renewing leases, hearing the other processes -----------------------------

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
            except (SQLAlchemyError, OSError):
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
        url = libpq_url(self._url)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        self._heard(note.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("host slot notifications interrupted (%s); polling meanwhile", exc)
            await asyncio.sleep(_RECONNECT_SECONDS)

    def _heard(self, payload: str) -> None:
        what, _, rest = payload.partition(" ")
        who, _, key = rest.partition(" ")
        host = self._hosts.get(key)
        if host is None or who == self.holder:
            return
        if what == WANT:
            # Said again every ``poll`` seconds while still wanted.
            host.wanted_until = asyncio.get_running_loop().time() + 3 * self._poll
        elif what == FREED and host.waiting:
            host.notify()

    async def _execute(self, statement: TextClause, **params: Any) -> list[Any]:
        params.update(holder=self.holder, channel=CHANNEL)
        async with self._engine.connect() as connection:
            result = await connection.execute(statement, params)
            return list(result.all()) if result.returns_rows else []
