"""Privacy per village bank: the tenant's data keys, wrapped by the master key.

Revision ID: t0004
Revises: t0003
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = "t0004"
down_revision = "t0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_data_key"),
        sa.CheckConstraint("status IN ('active', 'retired')", name="status"),
    )
    op.create_index("ix_data_key_one_active", "data_key", ["status"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))


def downgrade() -> None:
    op.drop_table("data_key")
