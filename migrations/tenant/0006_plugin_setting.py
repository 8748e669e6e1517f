"""Plugins per bank: which are enabled and their configuration.

Revision ID: t0006
Revises: t0005
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0006"
down_revision = "t0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_setting",
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("plugin", name="pk_plugin_setting"),
    )


def downgrade() -> None:
    op.drop_table("plugin_setting")
