"""The tables: accounts and their ledger, jobs, one row per address, the chunk queue, and the
leases on connections to mail servers that a cluster's workers share."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no offset, so we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JobStage(StrEnum):
    RECEIVING = "Receiving"  # intake still running: invisible, deleted if the process dies
    IN_QUEUE = "In Queue"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


ACTIVE_STAGES = (JobStage.IN_QUEUE, JobStage.PROCESSING)


class JobSource(StrEnum):
    API = "api"
    DASHBOARD = "dashboard"
    CLI = "cli"


class ChunkState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("api_credits >= 0", name="api_credits_not_negative"),
        CheckConstraint("monthly_credits >= 0", name="monthly_credits_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16), default="", server_default="")
    api_credits: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    monthly_credits: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Signs the account's callbacks (Standard Webhooks ``whsec_…``): kept in clear, since
    # signing needs the key itself.
    webhook_secret: Mapped[str] = mapped_column(String(80), default="", server_default="")


class LedgerEntry(Base):
    """One movement of credit; the balances in ``accounts`` are the sum of these."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    api_delta: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    monthly_delta: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    layout: Mapped[dict[str, Any] | None]
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    blank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    syntax_invalid: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credits_reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    callback_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The server address the job was submitted to: its callback's result links start so.
    link_base: Mapped[str | None] = mapped_column(Text)

    @property
    def percentage(self) -> str:
        return percentage(self.done, self.total)


class JobItem(Base):
    """One unique address of a job, with its original cells and, once final, its result."""

    __tablename__ = "job_items"
    __table_args__ = (Index("ix_job_items_job_id_chunk", "job_id", "chunk"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_no: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list[str]]
    email: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text, default="", server_default="")
    domain: Mapped[str] = mapped_column(Text, default="", server_default="")
    chunk: Mapped[int | None] = mapped_column(Integer)  # None: final at intake (bad syntax)
    result: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(24))
    free: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disposable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    role: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accept_all: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    did_you_mean: Mapped[str] = mapped_column(Text, default="", server_default="")
    mx_host: Mapped[str] = mapped_column(Text, default="", server_default="")
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    finished_at: Mapped[datetime | None]
    # When the address was first handed back to be asked again later (greylisting).
    deferred_at: Mapped[datetime | None]


class Chunk(Base):
    """A slice of a job's addresses that one worker verifies at a time."""

    __tablename__ = "chunks"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(8), index=True, default=ChunkState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    holder: Mapped[str] = mapped_column(String(96), default="", server_default="")  # host:pid


class HostSlot(Base):
    """One of the ``max_connections_per_host`` connections to a mail server, leased by a
    worker process until ``expires_at`` (renewed while it is in use)."""

    __tablename__ = "host_slots"

    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(96), index=True, default="", server_default="")
    expires_at: Mapped[datetime]


class CallbackState(StrEnum):
    PENDING = "pending"  # due at ``next_attempt_at`` (or being attempted until then)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt of the schedule failed
    GONE = "gone"  # the receiver answered 410: its URL is called no more


class Callback(Base):
    """A completed job's callback, written in the transaction that completed it (an
    outbox): delivered by whichever process's relay claims it first."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_state_next_attempt_at", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)  # same for every retry
    url: Mapped[str] = mapped_column(Text, index=True)
    state: Mapped[str] = mapped_column(String(10), default=CallbackState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateBucket(Base):
    """A token bucket shared by every API server (UNLOGGED on PostgreSQL: losing it in a
    crash only forgets recent counts). ``updated`` is in seconds since the epoch."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


def percentage(done: int, total: int) -> str:
    """``done/total`` as ``"0.00"``..``"100.00"``, rounded down so 100.00 means all done."""
    if total <= 0:
        return "100.00"
    hundredths = min(done, total) * 10_000 // total
    return f"{hundredths // 100}.{hundredths % 100:02d}"


# --- the dashboard's sign-in ---------------------------------------------------------------


class Login(Base):
    """An account's dashboard sign-in: an email address and an Argon2 hash of its password."""

    __tablename__ = "logins"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str | None] = mapped_column(Text)  # None: only a sign-in link works
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # A token shown once on the API page after it was made, then forgotten.
    flash: Mapped[str] = mapped_column(Text, default="", server_default="")


class SigninLink(Base):
    """A one-time sign-in link (its token kept as a SHA-256), to set a first password."""

    __tablename__ = "signin_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SigninFailure(Base):
    """Failed sign-ins counted per key (``login:<email>`` or ``client:<address>``)."""

    __tablename__ = "signin_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None]
