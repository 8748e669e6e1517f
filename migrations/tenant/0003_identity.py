"""Identity per village bank: custom roles and maker-checker change requests.

Revision ID: t0003
Revises: t0002
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0003"
down_revision = "t0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_role",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("permissions", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_custom_role"),
        sa.CheckConstraint("status IN ('pending', 'active')", name="status"),
    )
    op.create_table(
        "change_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("maker_id", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("checker_id", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_request"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'applied')", name="status"),
        sa.CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="checker_is_not_maker"),
    )
    op.create_index("ix_change_request_open_target", "change_request", ["kind", "target"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table("change_request")
    op.drop_table("custom_role")
