"""Tenant registry and per-tenant migration ledger.

Revision ID: s0001
Revises:
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = ("provisioning", "active", "suspended", "offboarding", "offboarded", "failed")


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(31), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("legal_entity_code", sa.String(40), nullable=False),
        sa.Column("province", sa.String(60), nullable=False),
        sa.Column("city", sa.String(60), nullable=False),
        sa.Column("county", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("cluster", sa.String(31), nullable=False),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("export_path", sa.Text(), nullable=False),
        sa.Column("drop_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant"),
        sa.UniqueConstraint("slug", name="uq_tenant_slug"),
        sa.UniqueConstraint("legal_entity_code", name="uq_tenant_legal_entity_code"),
        sa.UniqueConstraint("schema_name", name="uq_tenant_schema_name"),
        sa.CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status"),  # the naming convention makes it ck_tenant_status
        schema="cf_shared",
    )
    op.create_table(
        "tenant_migration",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_migration"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_tenant_migration_tenant_id_tenant"),
        schema="cf_shared",
    )


def downgrade() -> None:
    op.drop_table("tenant_migration", schema="cf_shared")
    op.drop_table("tenant", schema="cf_shared")
