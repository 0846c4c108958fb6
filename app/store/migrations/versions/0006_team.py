"""Team mode: a revision per account for viewers, leases for daemons, resync requests, an audit.

- ``account_state.revision`` grows with every save of the account, so a viewer knows what it
  has seen (a NOTIFY is only a hint; the revision is the truth); ``broker`` labels the account
  for a viewer that has no configuration of its own.
- ``sync_runs.synced_by``: the daemon that ran the sync, when daemons share the store.
- ``account_leases``: which daemon syncs an account, until when (by the database's clock).
- ``sync_requests``: a viewer's "resync now", taken by the daemon holding the account.
- ``audit_log``: append-only, every acknowledgement, snooze, note and book fix, before and after.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("synced_by", sa.String(200)))
    with op.batch_alter_table("account_state") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("broker", sa.String(40)))
    op.create_table(
        "account_leases",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("backend_pid", sa.Integer),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sync_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("requested_at", sa.String(40), nullable=False),
        sa.Column("by", sa.String(100)),
        sa.Column("taken_at", sa.String(40)),
        sa.Column("taken_by", sa.String(200)),
    )
    op.create_index("ix_sync_requests_open", "sync_requests", ["account", "taken_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("by", sa.String(100)),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200)),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_sync_requests_open", table_name="sync_requests")
    op.drop_table("sync_requests")
    op.drop_table("account_leases")
    with op.batch_alter_table("account_state") as batch:
        batch.drop_column("broker")
        batch.drop_column("revision")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("synced_by")
