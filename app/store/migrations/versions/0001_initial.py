"""Sync runs, current rows, row history and events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TEXT_NUM = sa.String(50)


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("problems", sa.Integer, nullable=False, server_default="0"),
        sa.Column("events", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_sync_runs_account", "sync_runs", ["account"])
    op.create_table(
        "rows",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("instrument", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("previous_status", sa.String(20)),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("broker_qty", _TEXT_NUM),
        sa.Column("local_qty", _TEXT_NUM),
        sa.Column("broker_avg", _TEXT_NUM),
        sa.Column("local_avg", _TEXT_NUM),
        sa.Column("last_price", _TEXT_NUM),
        sa.Column("unrealised_pnl", _TEXT_NUM),
        sa.Column("realised_pnl", _TEXT_NUM),
        sa.Column("realised_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("multiplier", _TEXT_NUM, nullable=False, server_default="1"),
        sa.Column("currency", sa.String(10)),
        sa.Column("hint", sa.Text),
        sa.Column("explained", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("streak", sa.Integer, nullable=False, server_default="0"),
        sa.Column("confirmed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("broker_parts", sa.Text),
        sa.Column("local_parts", sa.Text),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "row_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("sync_run_id", sa.Integer),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("broker_qty", _TEXT_NUM),
        sa.Column("local_qty", _TEXT_NUM),
        sa.Column("broker_avg", _TEXT_NUM),
        sa.Column("local_avg", _TEXT_NUM),
        sa.Column("realised_pnl", _TEXT_NUM),
        sa.Column("hint", sa.Text),
    )
    op.create_index("ix_row_history_key", "row_history", ["account", "instrument", "at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200)),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("data", sa.Text),
        sa.Column("sync_run_id", sa.Integer),
    )
    op.create_index("ix_events_at", "events", ["at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("row_history")
    op.drop_table("rows")
    op.drop_table("sync_runs")
