"""Plugin failures (exceptions, time-outs, import errors), kept for administrators.

Revision ID: s0009
Revises: s0008
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0009"
down_revision = "s0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_failure",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("hook", sa.String(100), nullable=False),
        sa.Column("tenant", sa.String(31), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plugin_failure"),
        schema="cf_shared",
    )
    op.create_index("ix_plugin_failure_plugin", "plugin_failure", ["plugin"], schema="cf_shared")


def downgrade() -> None:
    op.drop_table("plugin_failure", schema="cf_shared")
