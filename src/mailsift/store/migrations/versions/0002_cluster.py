"""Scale-out: the procrastinate queue, per-host connection slots, deferred retries.

- ``host_slots``: leases on connections to one mail server, shared by every worker process
  (``mailsift.dispatch.host_slots``).
- ``job_items.deferred_at``: when the address was first handed back for a later retry
  (greylisting); its retries stop at ``greylist_deadline`` after that.
- ``chunks.holder``: which worker process runs the chunk (``host:pid``), for operators.
- On PostgreSQL, procrastinate's schema (of the procrastinate this revision was written
  for, 3.x) in a schema of its own, ``procrastinate``, apart from mailsift's tables. A later
  procrastinate that changes its schema comes with a mailsift revision applying its
  migrations there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_SCHEMA = "procrastinate"


def upgrade() -> None:
    op.create_table(
        "host_slots",
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(96), server_default="", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", "slot", name=op.f("pk_host_slots")),
    )
    op.create_index(op.f("ix_host_slots_holder"), "host_slots", ["holder"])
    # Plain ALTER TABLE ADD COLUMN, on SQLite too: no table is copied.
    op.add_column("job_items", sa.Column("deferred_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("chunks", sa.Column("holder", sa.String(96), server_default="", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        _create_queue_schema()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("holder")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("deferred_at")
    op.drop_table("host_slots")


def _create_queue_schema() -> None:
    """procrastinate's tables and functions, created inside the ``procrastinate`` schema."""
    from procrastinate.schema import SchemaManager

    bind = op.get_bind()
    op.execute(f"CREATE SCHEMA {QUEUE_SCHEMA}")
    previous = bind.exec_driver_sql("SHOW search_path").scalar_one()
    bind.exec_driver_sql(f"SET LOCAL search_path TO {QUEUE_SCHEMA}")
    # Several statements at once, no parameters: the driver sends them as they are.
    cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()
    bind.execute(sa.text("SELECT set_config('search_path', :path, true)"), {"path": previous})
