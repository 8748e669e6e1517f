"""Staff login: when each user last logged in.

Revision ID: s0004
Revises: s0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
                  schema="cf_shared")


def downgrade() -> None:
    op.drop_column("user_account", "last_login_at", schema="cf_shared")
