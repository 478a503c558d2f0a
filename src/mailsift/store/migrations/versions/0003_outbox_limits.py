"""Durable callbacks and limits shared by every API server.

- ``callbacks``: the outbox of completed jobs' callbacks (``mailsift.store.outbox``).
- ``rate_buckets``: token buckets for the real-time limit and the failed-token throttle
  (``mailsift.store.limits``); UNLOGGED on PostgreSQL.
- ``accounts.webhook_secret``: the key callbacks are signed with (every existing account
  gets one here); ``jobs.link_base``: where the job was submitted, for its callback's links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_callbacks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("job_id", name=op.f("uq_callbacks_job_id")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_callbacks_webhook_id")),
    )
    op.create_index("ix_callbacks_state_next_attempt_at", "callbacks", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_callbacks_url"), "callbacks", ["url"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
        prefixes=["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else [],
    )
    op.add_column(
        "accounts", sa.Column("webhook_secret", sa.String(80), server_default="", nullable=False)
    )
    op.add_column("jobs", sa.Column("link_base", sa.Text(), nullable=True))
    bind = op.get_bind()
    for (account_id,) in bind.execute(sa.text("SELECT id FROM accounts")).all():
        bind.execute(
            sa.text("UPDATE accounts SET webhook_secret = :secret WHERE id = :id"),
            {"secret": _new_secret(), "id": account_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("link_base")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("webhook_secret")
    op.drop_table("rate_buckets")
    op.drop_index(op.f("ix_callbacks_url"), table_name="callbacks")
    op.drop_index("ix_callbacks_state_next_attempt_at", table_name="callbacks")
    op.drop_table("callbacks")


def _new_secret() -> str:
    # As ``mailsift.accounts.tokens.new_webhook_secret``; a migration keeps its own copy.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
