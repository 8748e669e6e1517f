"""TOTP second factor: each user's sealed secret, when it was confirmed, and the last accepted time step.

Revision ID: s0006
Revises: s0005
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0006"
down_revision = "s0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("totp_secret", sa.Text(), nullable=True), schema="cf_shared")
    op.add_column("user_account", sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
                  schema="cf_shared")
    op.add_column("user_account", sa.Column("totp_last_step", sa.BigInteger(), nullable=True), schema="cf_shared")


def downgrade() -> None:
    for column in ("totp_last_step", "totp_enabled_at", "totp_secret"):
        op.drop_column("user_account", column, schema="cf_shared")
