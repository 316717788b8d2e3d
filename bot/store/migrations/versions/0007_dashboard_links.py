"""dashboard login links: one-time, stored as a hash

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", bot.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", bot.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("dashboard_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_links_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_links_expires_at"))
    op.drop_table("dashboard_links")
