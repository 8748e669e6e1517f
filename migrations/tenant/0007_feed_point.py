"""Industry feeds: the stored points of each plugin feed, per bank.

Revision ID: t0007
Revises: t0006
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "t0007"
down_revision = "t0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_point",
        sa.Column("feed", sa.String(80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(20, 6), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("feed", "day", name="pk_feed_point"),
    )


def downgrade() -> None:
    op.drop_table("feed_point")
