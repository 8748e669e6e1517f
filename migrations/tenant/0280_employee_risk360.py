"""Employee 360 risk view (DOMAIN §5.4): versioned model, authorisations, findings, imported signals, hits, scores.

Revision ID: t0280
Revises: t0270
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0280"
down_revision = "t0270"
branch_labels = None
depends_on = None


def _employee_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["employee_id"], ["employee.id"], name=f"fk_{table}_employee_id_employee")


def upgrade() -> None:
    op.create_table(
        "employee_risk_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("indicators", postgresql.JSONB(), nullable=False),
        sa.Column("dimension_weights", postgresql.JSONB(), nullable=False),
        sa.Column("bands", postgresql.JSONB(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_model"),
        sa.UniqueConstraint("version", name="uq_employee_risk_model_version"),
    )
    op.create_table(
        "employee_risk_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("document_ref", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_consent"),
        _employee_fk("employee_risk_consent"),
        sa.CheckConstraint("scope IN ('bureau', 'fund_flows')", name="scope"),
        sa.CheckConstraint("expires_on > granted_on", name="validity"),
    )
    op.create_index("ix_employee_risk_consent_employee_id", "employee_risk_consent", ["employee_id"])
    op.create_table(
        "employee_risk_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_finding"),
        _employee_fk("employee_risk_finding"),
        sa.CheckConstraint("kind IN ('audit_finding', 'violation', 'disciplinary_action', 'unauthorised_operation')",
                           name="kind"),
        sa.CheckConstraint("points >= 0", name="points"),
    )
    op.create_index("ix_employee_risk_finding_employee_id", "employee_risk_finding", ["employee_id"])
    op.create_table(
        "employee_risk_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_import"),
    )
    op.create_table(
        "employee_risk_signal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("indicator", sa.String(60), nullable=False),
        sa.Column("value", sa.Numeric(20, 4), nullable=False),
        sa.Column("evidence", sa.String(1000), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_signal"),
        _employee_fk("employee_risk_signal"),
        sa.ForeignKeyConstraint(["import_id"], ["employee_risk_import.id"],
                                name="fk_employee_risk_signal_import_id_employee_risk_import"),
        sa.UniqueConstraint("employee_id", "period", "indicator",
                            name="uq_employee_risk_signal_employee_id_period_indicator"),
    )
    op.create_index("ix_employee_risk_signal_employee_id", "employee_risk_signal", ["employee_id"])
    op.create_index("ix_employee_risk_signal_import_id", "employee_risk_signal", ["import_id"])
    op.create_table(
        "employee_risk_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("indicator", sa.String(60), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("value", sa.Numeric(20, 4), nullable=False),
        sa.Column("threshold", sa.Numeric(20, 4), nullable=False),
        sa.Column("weight", sa.Numeric(8, 4), nullable=False),
        sa.Column("severity", sa.Numeric(8, 4), nullable=False),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_hit"),
        _employee_fk("employee_risk_hit"),
        sa.UniqueConstraint("employee_id", "period", "indicator",
                            name="uq_employee_risk_hit_employee_id_period_indicator"),
        sa.CheckConstraint("dimension IN ('risk', 'compliance', 'discipline', 'technology')",
                           name="dimension"),
    )
    op.create_index("ix_employee_risk_hit_employee_id", "employee_risk_hit", ["employee_id"])
    op.create_index("ix_employee_risk_hit_period", "employee_risk_hit", ["period"])
    op.create_table(
        "employee_risk_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("dims", postgresql.JSONB(), nullable=False),
        sa.Column("total", sa.Numeric(6, 2), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_employee_risk_score"),
        _employee_fk("employee_risk_score"),
        sa.UniqueConstraint("employee_id", "period", name="uq_employee_risk_score_employee_id_period"),
        sa.CheckConstraint("level IN ('green', 'yellow', 'orange', 'red')", name="level"),
    )
    op.create_index("ix_employee_risk_score_employee_id", "employee_risk_score", ["employee_id"])
    op.create_index("ix_employee_risk_score_period", "employee_risk_score", ["period"])


def downgrade() -> None:
    for table in ("employee_risk_score", "employee_risk_hit", "employee_risk_signal", "employee_risk_import",
                  "employee_risk_finding", "employee_risk_consent", "employee_risk_model"):
        op.drop_table(table)
