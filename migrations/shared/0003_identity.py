"""Identity: users and their memberships in village banks, the head office or a regulator.

Revision ID: s0003
Revises: s0002
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_login_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_account"),
        sa.UniqueConstraint("username", name="uq_user_account_username"),
        schema="cf_shared",
    )
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_membership"),
        sa.CheckConstraint("context IN ('tenant', 'head_office', 'regulator')", name="context"),
        sa.CheckConstraint("(context = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_for_tenant_context"),
        sa.UniqueConstraint("user_id", "context", "tenant_id", "role", postgresql_nulls_not_distinct=True,
                            name="uq_membership_user_id_context_tenant_id_role"),
        sa.ForeignKeyConstraint(["user_id"], ["cf_shared.user_account.id"], ondelete="CASCADE",
                                name="fk_membership_user_id_user_account"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_membership_tenant_id_tenant"),
        schema="cf_shared",
    )
    op.create_index("ix_membership_tenant_id", "membership", ["tenant_id"], schema="cf_shared")


def downgrade() -> None:
    op.drop_table("membership", schema="cf_shared")
    op.drop_table("user_account", schema="cf_shared")
