"""Periodic jobs: the last slot the scheduler sent for each (job, tenant).

Revision ID: s0008
Revises: s0007
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0008"
down_revision = "s0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_schedule",
        sa.Column("job", sa.String(80), nullable=False),
        sa.Column("tenant", sa.String(31), nullable=False),
        sa.Column("last_slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "tenant", name="pk_job_schedule"),
        schema="cf_shared",
    )


def downgrade() -> None:
    op.drop_table("job_schedule", schema="cf_shared")
