"""List intelligence: suppression lists, the quality score, findings kept across jobs,
re-verification.

- ``suppression_lists`` / ``suppression_entries``: addresses and domains never to be mailed,
  global or per account; ``account_options.suppressed_to_invalid``: whether such addresses
  go to the invalid file.
- ``job_items.bad_address``, ``suppression_list``, ``quality_score``.
- ``domain_findings`` (MX route, accept-all answer, greylisting seen) and ``host_findings``
  (learned recipient caps), each with an expiry, shared by every worker.
- ``reverifications``: a job of another job's unknown addresses, merged back into it.
- ``address_results`` and ``job_items.reused``: an account's latest result per address, reused
  (and not charged) within ``MAILSIFT_RESULT_REUSE_WINDOW`` when that is on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "suppression_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("changed_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], ondelete="CASCADE",
            name=op.f("fk_suppression_lists_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_lists")),
    )  # fmt: skip
    op.create_index(op.f("ix_suppression_lists_account_id"), "suppression_lists", ["account_id"])
    op.create_index(op.f("ix_suppression_lists_changed_at"), "suppression_lists", ["changed_at"])
    op.create_table(
        "suppression_entries",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["suppression_lists.id"], ondelete="CASCADE",
            name=op.f("fk_suppression_entries_list_id_suppression_lists"),
        ),
        sa.PrimaryKeyConstraint("list_id", "value", name=op.f("pk_suppression_entries")),
    )  # fmt: skip
    op.create_table(
        "account_options",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("suppressed_to_invalid", sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], ondelete="CASCADE",
            name=op.f("fk_account_options_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_options")),
    )  # fmt: skip
    op.create_table(
        "domain_findings",
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("route", sa.JSON(), nullable=True),
        sa.Column("accept_all", sa.Boolean(), nullable=True),
        sa.Column("greylisting", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_domain_findings")),
    )
    op.create_index(op.f("ix_domain_findings_expires_at"), "domain_findings", ["expires_at"])
    op.create_table(
        "host_findings",
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("rcpt_cap", sa.Integer(), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_findings")),
    )
    op.create_index(op.f("ix_host_findings_expires_at"), "host_findings", ["expires_at"])
    op.create_table(
        "reverifications",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("original_id", sa.Integer(), nullable=False),
        sa.Column("merged_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], ondelete="CASCADE",
            name=op.f("fk_reverifications_job_id_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["original_id"], ["jobs.id"], ondelete="CASCADE",
            name=op.f("fk_reverifications_original_id_jobs"),
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_reverifications")),
    )  # fmt: skip
    op.create_index(op.f("ix_reverifications_original_id"), "reverifications", ["original_id"])
    # Plain ALTER TABLE ADD COLUMN, on SQLite too: no table is copied.
    op.add_column(
        "job_items",
        sa.Column("bad_address", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "job_items", sa.Column("suppression_list", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("job_items", sa.Column("quality_score", sa.Integer(), nullable=True))
    op.add_column(
        "job_items", sa.Column("reused", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        "address_results",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("verification", sa.JSON(), nullable=False),
        sa.Column("verified_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "normalized", name=op.f("pk_address_results")),
    )
    op.create_index(op.f("ix_address_results_verified_at"), "address_results", ["verified_at"])


def downgrade() -> None:
    op.drop_table("address_results")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("reused")
        batch.drop_column("quality_score")
        batch.drop_column("suppression_list")
        batch.drop_column("bad_address")
    for table in (
        "reverifications", "host_findings", "domain_findings", "account_options",
        "suppression_entries", "suppression_lists",
    ):  # fmt: skip
        op.drop_table(table)
