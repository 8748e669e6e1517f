"""Talent: competency models with behavioural anchors, evaluation competency levels, pay bands and steps, versioned
variable-pay policies and the computed officer pay, rework rate and turnaround on scorecards (DOMAIN §5.1–5.3).

Revision ID: t0270
Revises: t0250
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0270"
down_revision = "t0250"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "competency_dimension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("family_code", sa.String(20), nullable=True),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("anchors", postgresql.JSONB(), nullable=False),
        sa.Column("required_levels", postgresql.JSONB(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_competency_dimension"),
        sa.UniqueConstraint("code", name="uq_competency_dimension_code"),
    )
    op.create_table(
        "evaluation_competency",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("dimension_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name="level"),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluation.id"], ondelete="CASCADE",
                                name="fk_evaluation_competency_evaluation_id_evaluation"),
        sa.ForeignKeyConstraint(["dimension_id"], ["competency_dimension.id"],
                                name="fk_evaluation_competency_dimension_id_competency_dimension"),
        sa.PrimaryKeyConstraint("evaluation_id", "dimension_id", name="pk_evaluation_competency"),
    )
    op.create_table(
        "pay_band",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grade_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("minimum", sa.Numeric(20, 2), nullable=False),
        sa.Column("midpoint", sa.Numeric(20, 2), nullable=False),
        sa.Column("maximum", sa.Numeric(20, 2), nullable=False),
        sa.Column("steps", postgresql.JSONB(), nullable=False),
        sa.CheckConstraint("minimum <= midpoint AND midpoint <= maximum", name="order"),
        sa.ForeignKeyConstraint(["grade_id"], ["job_grade.id"], name="fk_pay_band_grade_id_job_grade"),
        sa.PrimaryKeyConstraint("id", name="pk_pay_band"),
        sa.UniqueConstraint("grade_id", name="uq_pay_band_grade_id"),
    )
    op.add_column("employee", sa.Column("pay_step", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "pay_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_policy"),
        sa.UniqueConstraint("version", name="uq_pay_policy_version"),
    )
    op.create_table(
        "officer_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("base_pay", sa.Numeric(20, 2), nullable=True),
        sa.Column("base_bonus", sa.Numeric(20, 2), nullable=False),
        sa.Column("kpi_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("quality_multiplier", sa.Numeric(8, 4), nullable=False),
        sa.Column("variable_pay", sa.Numeric(20, 2), nullable=False),
        sa.Column("paid_now", sa.Numeric(20, 2), nullable=False),
        sa.Column("deferred", sa.Numeric(20, 2), nullable=False),
        sa.Column("deferred_until", sa.Date(), nullable=False),
        sa.Column("clawback", sa.Boolean(), nullable=False),
        sa.Column("explanation", postgresql.JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name="fk_officer_pay_employee_id_employee"),
        sa.PrimaryKeyConstraint("id", name="pk_officer_pay"),
        sa.UniqueConstraint("period", "employee_id", name="uq_officer_pay_period_employee_id"),
    )
    op.create_index("ix_officer_pay_employee_id", "officer_pay", ["employee_id"])
    op.add_column("officer_scorecard", sa.Column("rework_rate", sa.Numeric(12, 8), nullable=True))
    op.add_column("officer_scorecard", sa.Column("turnaround_days", sa.Numeric(12, 6), nullable=True))


def downgrade() -> None:
    op.drop_column("officer_scorecard", "turnaround_days")
    op.drop_column("officer_scorecard", "rework_rate")
    op.drop_index("ix_officer_pay_employee_id", table_name="officer_pay")
    op.drop_table("officer_pay")
    op.drop_table("pay_policy")
    op.drop_column("employee", "pay_step")
    op.drop_table("pay_band")
    op.drop_table("evaluation_competency")
    op.drop_table("competency_dimension")
