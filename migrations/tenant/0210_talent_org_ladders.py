"""Talent: org units, employees and their moves, teams, the adopted dual-track ladder, evaluations (DOMAIN §5).

Revision ID: t0210
Revises: t0190
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0210"
down_revision = "t0190"
branch_labels = None
depends_on = None


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_org_unit"),
        sa.UniqueConstraint("code", name="uq_org_unit_code"),
        sa.ForeignKeyConstraint(["parent_id"], ["org_unit.id"], name="fk_org_unit_parent_id_org_unit"),
        sa.CheckConstraint(_in("kind", ("head_office", "branch", "sub_branch", "department")), name="kind"),
    )
    op.create_index("ix_org_unit_parent_id", "org_unit", ["parent_id"])
    op.create_table(
        "job_family",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("track", sa.String(20), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_family"),
        sa.UniqueConstraint("code", name="uq_job_family_code"),
        sa.CheckConstraint(_in("track", ("management", "professional")), name="track"),
    )
    op.create_table(
        "job_grade",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("title_zh", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("min_tenure_months", sa.Integer(), nullable=False),
        sa.Column("headcount_cap", sa.Integer(), nullable=True),
        sa.Column("standard", postgresql.JSONB(), nullable=False),
        sa.Column("maps_to", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_grade"),
        sa.UniqueConstraint("code", name="uq_job_grade_code"),
        sa.UniqueConstraint("family_id", "rank", name="uq_job_grade_family_id_rank"),
        sa.ForeignKeyConstraint(["family_id"], ["job_family.id"], name="fk_job_grade_family_id_job_family"),
        sa.CheckConstraint("min_tenure_months >= 0", name="min_tenure"),
        sa.CheckConstraint("headcount_cap IS NULL OR headcount_cap >= 0", name="headcount_cap"),
    )
    op.create_table(
        "employee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_no", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("grade_id", sa.Integer(), nullable=True),
        sa.Column("hired_on", sa.Date(), nullable=False),
        sa.Column("grade_since", sa.Date(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee"),
        sa.UniqueConstraint("employee_no", name="uq_employee_employee_no"),
        sa.UniqueConstraint("user_id", name="uq_employee_user_id"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], name="fk_employee_org_unit_id_org_unit"),
        sa.ForeignKeyConstraint(["manager_id"], ["employee.id"], name="fk_employee_manager_id_employee"),
        sa.ForeignKeyConstraint(["grade_id"], ["job_grade.id"], name="fk_employee_grade_id_job_grade"),
        sa.CheckConstraint("status IN ('active', 'left')", name="status"),
    )
    for column in ("org_unit_id", "manager_id", "grade_id"):
        op.create_index(f"ix_employee_{column}", "employee", [column])
    op.create_table(
        "employee_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=False),
        sa.Column("after", postgresql.JSONB(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_move"),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name="fk_employee_move_employee_id_employee"),
        sa.CheckConstraint(_in("kind", ("hire", "transfer", "position", "manager", "grade", "track_transfer",
                                        "exit")), name="kind"),
    )
    op.create_index("ix_employee_move_employee_id", "employee_move", ["employee_id"])
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("domain", sa.String(200), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_team"),
        sa.UniqueConstraint("code", name="uq_team_code"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], name="fk_team_org_unit_id_org_unit"),
        sa.ForeignKeyConstraint(["lead_id"], ["employee.id"], name="fk_team_lead_id_employee"),
        sa.CheckConstraint(_in("kind", ("functional", "agile")), name="kind"),
    )
    op.create_table(
        "team_member",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "employee_id", name="pk_team_member"),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name="fk_team_member_team_id_team", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name="fk_team_member_employee_id_employee"),
        sa.CheckConstraint(_in("side", ("business", "technology")), name="side"),
    )
    op.create_index("ix_team_member_employee_id", "team_member", ["employee_id"])
    op.create_table(
        "evaluation_cycle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("weights", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluation_cycle"),
        sa.UniqueConstraint("code", name="uq_evaluation_cycle_code"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
    )
    op.create_table(
        "evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("exam_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("kpi_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("competency_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("total_score", sa.Numeric(6, 2), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("from_grade_id", sa.Integer(), nullable=True),
        sa.Column("to_grade_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluation"),
        sa.UniqueConstraint("cycle_id", "employee_id", name="uq_evaluation_cycle_id_employee_id"),
        sa.ForeignKeyConstraint(["cycle_id"], ["evaluation_cycle.id"], name="fk_evaluation_cycle_id_evaluation_cycle"),
        sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name="fk_evaluation_employee_id_employee"),
        sa.ForeignKeyConstraint(["from_grade_id"], ["job_grade.id"], name="fk_evaluation_from_grade_id_job_grade"),
        sa.ForeignKeyConstraint(["to_grade_id"], ["job_grade.id"], name="fk_evaluation_to_grade_id_job_grade"),
        sa.CheckConstraint(_in("decision", ("promote", "keep", "demote", "exit_track")), name="decision"),
        sa.CheckConstraint(_in("status", ("draft", "pending", "applied", "rejected")), name="status"),
        sa.CheckConstraint("exam_score BETWEEN 0 AND 100 AND kpi_score BETWEEN 0 AND 100 "
                           "AND competency_score BETWEEN 0 AND 100", name="scores"),
    )
    op.create_index("ix_evaluation_employee_id", "evaluation", ["employee_id"])


def downgrade() -> None:
    for table in ("evaluation", "evaluation_cycle", "team_member", "team", "employee_move", "employee", "job_grade",
                  "job_family", "org_unit"):
        op.drop_table(table)
