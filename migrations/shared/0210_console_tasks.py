"""Console tasks: progress and result of long head-office and regulator work (provisioning, large reports).

Revision ID: s0210
Revises: s0200
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "s0210"
down_revision = "s0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("message_args", postgresql.JSONB(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False),
        sa.Column("result_key", sa.String(200), nullable=False),
        sa.Column("result_name", sa.String(200), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_task"),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        schema="cf_shared",
    )


def downgrade() -> None:
    op.drop_table("console_task", schema="cf_shared")
