"""Fix-my-book actions, with what they wrote, so the last one can be undone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "book_fixes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("book", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("writes", sa.Text, nullable=False),
        sa.Column("undone_at", sa.String(40)),
    )


def downgrade() -> None:
    op.drop_table("book_fixes")
