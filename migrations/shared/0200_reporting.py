"""Reporting: KPI and regulator snapshots per tenant (aggregates only) and each tenant's net capital and limits.

Revision ID: s0200
Revises: s0160
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "s0200"
down_revision = "s0160"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_slug", sa.String(31), nullable=False),
        sa.Column("period_kind", sa.String(5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("value", sa.Numeric(24, 6), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kpi_snapshot"),
        sa.ForeignKeyConstraint(["tenant_slug"], ["cf_shared.tenant.slug"], ondelete="CASCADE",
                                name="fk_kpi_snapshot_tenant_slug_tenant"),
        sa.UniqueConstraint("tenant_slug", "period_kind", "period_start", "metric",
                            name="uq_kpi_snapshot_tenant_slug_period_kind_period_start_metric"),
        sa.CheckConstraint("period_kind IN ('day', 'month')", name="period_kind"),
        schema="cf_shared",
    )
    op.create_table(
        "tenant_capital",
        sa.Column("tenant_slug", sa.String(31), nullable=False),
        sa.Column("net_capital", sa.Numeric(20, 2), nullable=False),
        sa.Column("single_borrower_limit", sa.Numeric(12, 8), nullable=False),
        sa.Column("single_group_limit", sa.Numeric(12, 8), nullable=False),
        sa.Column("npl_ratio_limit", sa.Numeric(12, 8), nullable=False),
        sa.Column("provision_coverage_min", sa.Numeric(12, 8), nullable=False),
        sa.Column("loan_provision_ratio_min", sa.Numeric(12, 8), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_slug", name="pk_tenant_capital"),
        sa.ForeignKeyConstraint(["tenant_slug"], ["cf_shared.tenant.slug"], ondelete="CASCADE",
                                name="fk_tenant_capital_tenant_slug_tenant"),
        sa.CheckConstraint("net_capital >= 0", name="net_capital"),
        schema="cf_shared",
    )
    op.create_table(
        "regulatory_snapshot",
        sa.Column("tenant_slug", sa.String(31), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_slug", "as_of", name="pk_regulatory_snapshot"),
        sa.ForeignKeyConstraint(["tenant_slug"], ["cf_shared.tenant.slug"], ondelete="CASCADE",
                                name="fk_regulatory_snapshot_tenant_slug_tenant"),
        schema="cf_shared",
    )


def downgrade() -> None:
    op.drop_table("regulatory_snapshot", schema="cf_shared")
    op.drop_table("tenant_capital", schema="cf_shared")
    op.drop_table("kpi_snapshot", schema="cf_shared")
