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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
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


def percentage(done: int, total: int) -> str:
    """``done/total`` as ``"0.00"``..``"100.00"``, rounded down so 100.00 means all done."""
    if total <= 0:
        return "100.00"
    hundredths = min(done, total) * 10_000 // total
    return f"{hundredths // 100}.{hundredths % 100:02d}"


class SigningKey(Base):
    """A fingerprint of the link-signing key an API node started with: nodes that share a
    database must share the key, and ``mailsift doctor`` compares what they recorded."""

    __tablename__ = "signing_keys"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    node: Mapped[str] = mapped_column(String(96), default="", server_default="")  # host:pid
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
