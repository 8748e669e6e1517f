"""Server-side staff sessions (revocable before their cookie expires), TOTP recovery codes and forced re-enrolment.

Revision ID: s0020
Revises: s0009
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0020"
down_revision = "s0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("totp_must_enrol", sa.Boolean(), server_default=sa.text("false"),
                                            nullable=False), schema="cf_shared")
    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_session"),
        sa.UniqueConstraint("token_hash", name="uq_staff_session_token_hash"),
        sa.CheckConstraint("context IN ('tenant', 'head_office', 'regulator')", name="context"),
        sa.CheckConstraint("(context = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_for_tenant_context"),
        sa.ForeignKeyConstraint(["user_id"], ["cf_shared.user_account.id"], ondelete="CASCADE",
                                name="fk_staff_session_user_id_user_account"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_staff_session_tenant_id_tenant"),
        schema="cf_shared",
    )
    op.create_index("ix_staff_session_user_id", "staff_session", ["user_id"], schema="cf_shared")
    op.create_table(
        "totp_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_totp_recovery_code"),
        sa.UniqueConstraint("code_hash", name="uq_totp_recovery_code_code_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["cf_shared.user_account.id"], ondelete="CASCADE",
                                name="fk_totp_recovery_code_user_id_user_account"),
        schema="cf_shared",
    )
    op.create_index("ix_totp_recovery_code_user_id", "totp_recovery_code", ["user_id"], schema="cf_shared")


def downgrade() -> None:
    op.drop_table("totp_recovery_code", schema="cf_shared")
    op.drop_table("staff_session", schema="cf_shared")
    op.drop_column("user_account", "totp_must_enrol", schema="cf_shared")
