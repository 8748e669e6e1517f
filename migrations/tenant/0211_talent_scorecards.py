"""Talent: versioned loan-officer scorecard definitions and the monthly officer scorecards (DOMAIN §5.2).

Revision ID: t0211
Revises: t0210
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0211"
down_revision = "t0210"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scorecard_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kpis", postgresql.JSONB(), nullable=False),
        sa.Column("npl_gate", sa.Numeric(12, 8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scorecard_definition"),
        sa.UniqueConstraint("version", name="uq_scorecard_definition_version"),
    )
    op.create_table(
        "officer_scorecard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("loans_disbursed", sa.Integer(), nullable=False),
        sa.Column("amount_disbursed", sa.Numeric(20, 2), nullable=False),
        sa.Column("managed_balance", sa.Numeric(20, 2), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("interest_contribution", sa.Numeric(20, 2), nullable=False),
        sa.Column("overdue_ratio", sa.Numeric(12, 8), nullable=False),
        sa.Column("npl_ratio", sa.Numeric(12, 8), nullable=False),
        sa.Column("first_payment_defaults", sa.Integer(), nullable=False),
        sa.Column("kpi_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("promotion_blocked", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_officer_scorecard"),
        sa.UniqueConstraint("period", "employee_id", name="uq_officer_scorecard_period_employee_id"),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name="fk_officer_scorecard_employee_id_employee"),
    )
    op.create_index("ix_officer_scorecard_employee_id", "officer_scorecard", ["employee_id"])


def downgrade() -> None:
    op.drop_table("officer_scorecard")
    op.drop_table("scorecard_definition")
