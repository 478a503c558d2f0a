"""The async store: one place that opens connections and hands out transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from mailsift.store.errors import translated
from mailsift.store.url import async_url, is_sqlite

BUSY_TIMEOUT_MS = 30_000
_WAL_RETRY_SECONDS = 0.05


class Store:
    """Short write transactions and reads, on SQLite or PostgreSQL.

    Database failures inside ``write`` and ``read`` come out as ``StoreError``.

    On SQLite, writes take the database lock up front (``BEGIN IMMEDIATE``) so two writers
    never deadlock upgrading a read lock, and writers of this process queue on an asyncio
    lock instead of spinning in SQLite's busy handler. Reads run on their own connections
    and never block writers (WAL).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(async_url(url))
        if self.is_sqlite:
            self._writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self._reader = _sqlite_engine(url, begin="BEGIN")
        else:
            self._writer = self._reader = create_async_engine(async_url(url), pool_pre_ping=True)
        self._write_sessions = async_sessionmaker(self._writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self._reader, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def engine(self) -> AsyncEngine:
        """The engine writes go through (the only one on PostgreSQL)."""
        return self._writer

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that may write; committed on success, rolled back on error."""
        with translated():
            async with (
                self._write_lock or nullcontext(),
                self._write_sessions() as session,
                session.begin(),
            ):
                yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction; do not write in it (on SQLite it would not hold the lock)."""
        with translated():
            async with self._read_sessions() as session, session.begin():
                yield session

    async def close(self) -> None:
        with translated():
            await self._writer.dispose()
            if self._reader is not self._writer:
                await self._reader.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def open_store(url: str) -> Store:
    """A store for ``url`` (``sqlite:///…`` or ``postgresql://…``); close it when done."""
    return Store(url)


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(async_url(url))
    configure_sqlite(engine.sync_engine, begin=begin)
    return engine


def configure_sqlite(engine: Engine, *, begin: str = "BEGIN", foreign_keys: bool = True) -> None:
    """WAL, a busy timeout, foreign keys, and transactions that begin when we say so."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # The driver's own implicit BEGIN is off: SQLAlchemy emits ours (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)


def _switch_to_wal(cursor: Any) -> None:
    """``journal_mode=WAL``, waiting for the lock it needs: SQLite answers "database is
    locked" at once, busy timeout or not, while another process writes a database that is
    not in WAL mode yet (a first migration, say)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_SECONDS)
