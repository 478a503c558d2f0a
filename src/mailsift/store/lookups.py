"""The API's hot reads: an account by its token's digest, a job by its owner and public id.

``/job_progress/`` is the call integrators poll, so its reads must be cheap. On SQLite they
go through a plain ``sqlite3`` connection of their own, used on the event loop's thread: an
indexed lookup takes microseconds there, where a trip through the async driver's worker
thread takes a millisecond. SQLite in WAL mode never makes a reader wait for a writer, so
this never blocks the loop on another transaction; should SQLite still answer busy, the read
is retried through the store. PostgreSQL reads go through the store (its driver is async).
"""

from __future__ import annotations

import hmac
import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from mailsift.store.engine import Store
from mailsift.store.models import Account, Job, JobStage, percentage
from mailsift.store.url import sqlite_file

_BUSY_TIMEOUT_MS = 50
_ACCOUNT_SQL = "SELECT id, token_hash FROM accounts WHERE token_hash = ?"
# The account, and its job when it has one with this id: both in one indexed lookup.
_ACCOUNT_JOB_SQL = (
    "SELECT a.id, a.token_hash, j.id, j.public_id, j.stage, j.done, j.total, j.message "
    "FROM accounts AS a LEFT JOIN jobs AS j "
    "ON j.account_id = a.id AND j.public_id = ? AND j.stage != ? "
    "WHERE a.token_hash = ?"
)


@dataclass(frozen=True, slots=True)
class JobState:
    """What the progress and results answers need of a job."""

    id: int
    public_id: str
    stage: str
    done: int
    total: int
    message: str

    @property
    def percentage(self) -> str:
        return percentage(self.done, self.total)


class Lookups:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._db: sqlite3.Connection | None = None
        path = sqlite_file(store.url) if store.is_sqlite else None
        if path is not None:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA query_only=ON")

    async def account_id(self, digest: str) -> int | None:
        """The id of the account whose token has this SHA-256 digest, or ``None``."""
        try:
            row = self._fetch(_ACCOUNT_SQL, (digest,))
        except _UseStore:
            async with self._store.read() as session:
                query = select(Account.id, Account.token_hash).where(Account.token_hash == digest)
                row = (await session.execute(query)).first()
        if row is None or not hmac.compare_digest(digest, row[1]):
            return None
        return int(row[0])

    async def account_and_job(
        self, digest: str, public_id: str
    ) -> tuple[int | None, JobState | None]:
        """The account id of the token with this digest (``None``: no such account) and its
        job with this public id (``None``: it has none; jobs still being received do not
        count)."""
        try:
            row = self._fetch(_ACCOUNT_JOB_SQL, (public_id, str(JobStage.RECEIVING), digest))
        except _UseStore:
            row = await self._account_and_job(digest, public_id)
        if row is None or not hmac.compare_digest(digest, row[1]):
            return None, None
        account_id, _, job_id, public, stage, done, total, message = row
        if job_id is None:
            return int(account_id), None
        job = JobState(int(job_id), str(public), str(stage), int(done), int(total), str(message))
        return int(account_id), job

    async def _account_and_job(self, digest: str, public_id: str) -> Any:
        job = aliased(Job)
        query = (
            select(
                Account.id,
                Account.token_hash,
                job.id,
                job.public_id,
                job.stage,
                job.done,
                job.total,
                job.message,
            )
            .outerjoin(
                job,
                (job.account_id == Account.id)
                & (job.public_id == public_id)
                & (job.stage != JobStage.RECEIVING),
            )
            .where(Account.token_hash == digest)
        )
        async with self._store.read() as session:
            return (await session.execute(query)).first()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _fetch(self, sql: str, parameters: tuple[object, ...]) -> tuple[Any, ...] | None:
        """One row (``None`` if there is none) by the fast path; ``_UseStore`` if it has none."""
        if self._db is None:
            raise _UseStore
        try:
            row: tuple[Any, ...] | None = self._db.execute(sql, parameters).fetchone()
        except sqlite3.OperationalError as exc:  # busy, or the schema is being changed
            raise _UseStore from exc
        return row


class _UseStore(Exception):
    """The fast path cannot answer: ask the store."""
