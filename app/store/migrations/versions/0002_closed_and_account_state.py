"""Closed positions with realised P&L, and what reconciliation remembers per account.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_positions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("closed_at", sa.String(40), nullable=False),
        sa.Column("quantity", sa.String(50), nullable=False),
        sa.Column("average_price", sa.String(50)),
        sa.Column("realised_pnl", sa.String(50)),
        sa.Column("estimated", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_closed_positions_account", "closed_positions", ["account"])
    op.create_table(
        "account_state",
        sa.Column("account", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("last_success_at", sa.String(40)),
        sa.Column("last_attempt_at", sa.String(40)),
        sa.Column("book_fingerprint", sa.String(100)),
        sa.Column("book_changed_at", sa.String(40)),
        sa.Column("held", sa.Text),
        sa.Column("initialised", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("learned_aliases", sa.Text),
    )
    # Databases from 0001 knew their accounts only through their rows: give each a state row so
    # the next sync continues from them instead of treating every position as newly opened.
    op.execute(
        "INSERT INTO account_state (account, state, initialised) "
        "SELECT DISTINCT account, 'ok', true FROM rows"
    )


def downgrade() -> None:
    op.drop_table("account_state")
    op.drop_table("closed_positions")
