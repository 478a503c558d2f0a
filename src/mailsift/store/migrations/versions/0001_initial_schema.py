"""Initial schema: accounts, ledger, jobs, job_items, chunks.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _count(name: str, kind: type[sa.Integer] = sa.Integer) -> sa.Column[object]:
    return sa.Column(name, kind(), server_default="0", nullable=False)


def _text(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), server_default="", nullable=False)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("token_hint", sa.String(16), server_default="", nullable=False),
        _count("api_credits", sa.BigInteger),
        _count("monthly_credits", sa.BigInteger),
        _when("created_at"),
        sa.CheckConstraint("api_credits >= 0", name=op.f("ck_accounts_api_credits_not_negative")),
        sa.CheckConstraint(
            "monthly_credits >= 0", name=op.f("ck_accounts_monthly_credits_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_accounts_token_hash")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        _text("message"),
        sa.Column("layout", sa.JSON(), nullable=True),
        _count("total"),
        _count("done"),
        _count("duplicates"),
        _count("blank"),
        _count("syntax_invalid"),
        _count("credits_reserved", sa.BigInteger),
        sa.Column("callback_url", sa.Text(), nullable=True),
        _when("created_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_jobs_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_jobs_public_id")),
    )
    op.create_index(op.f("ix_jobs_account_id"), "jobs", ["account_id"])
    op.create_index(op.f("ix_jobs_fingerprint"), "jobs", ["fingerprint"])
    op.create_index(op.f("ix_jobs_stage"), "jobs", ["stage"])

    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        _count("api_delta", sa.BigInteger),
        _count("monthly_delta", sa.BigInteger),
        _text("note"),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_ledger_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
    )
    op.create_index(op.f("ix_ledger_account_id"), "ledger", ["account_id"])
    op.create_index(op.f("ix_ledger_job_id"), "ledger", ["job_id"])

    op.create_table(
        "job_items",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        _text("normalized"),
        _text("domain"),
        sa.Column("chunk", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(8), nullable=True),
        sa.Column("reason", sa.String(24), nullable=True),
        _flag("free"),
        _flag("disposable"),
        _flag("role"),
        _flag("accept_all"),
        _text("did_you_mean"),
        _text("mx_host"),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        _text("smtp_message"),
        _when("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_items_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_items")),
    )
    op.create_index("ix_job_items_job_id_chunk", "job_items", ["job_id", "chunk"])

    op.create_table(
        "chunks",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        _count("attempts"),
        _when("lease_until", nullable=True),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_chunks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "chunk", name=op.f("pk_chunks")),
    )
    op.create_index(op.f("ix_chunks_state"), "chunks", ["state"])


def downgrade() -> None:
    for table in ("chunks", "job_items", "ledger", "jobs", "accounts"):
        op.drop_table(table)
