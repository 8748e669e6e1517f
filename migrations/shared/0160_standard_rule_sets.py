"""Decision engine: head-office standard rule-set versions.

Revision ID: s0160
Revises: s0110
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "s0160"
down_revision = "s0110"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "standard_rule_set_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_standard_rule_set_version"),
        sa.UniqueConstraint("code", "version", name="uq_standard_rule_set_version_code_version"),
        sa.CheckConstraint("stage IN ('admission', 'pre_approval', 'approval')",
                           name="stage"),
        sa.CheckConstraint("status IN ('draft', 'pending', 'published')", name="status"),
        schema="cf_shared",
    )
    op.create_index("ix_standard_rule_set_version_stage_status", "standard_rule_set_version", ["stage", "status"],
                    schema="cf_shared")


def downgrade() -> None:
    op.drop_table("standard_rule_set_version", schema="cf_shared")
