"""Acknowledgements and snoozes of mismatches, and per-sync account figures for the charts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("until", sa.String(40)),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(20)),
        sa.Column("fingerprint", sa.Text),
    )
    op.create_index("ix_acknowledgements_key", "acknowledgements", ["account", "instrument"])
    op.create_table(
        "sync_metrics",
        sa.Column("sync_run_id", sa.Integer, primary_key=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("problems", sa.Integer, nullable=False, server_default="0"),
        sa.Column("gross_exposure", sa.String(50), nullable=False),
        sa.Column("unrealised_pnl", sa.String(50), nullable=False),
    )
    op.create_index("ix_sync_metrics_account", "sync_metrics", ["account", "at"])


def downgrade() -> None:
    op.drop_table("sync_metrics")
    op.drop_table("acknowledgements")
