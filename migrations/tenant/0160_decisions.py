"""Decision engine: tenant rule-set overlays and decision records.

Revision ID: t0160
Revises: t0150
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0160"
down_revision = "t0150"
branch_labels = None
depends_on = None

_STAGES = "stage IN ('admission', 'pre_approval', 'approval')"
_OUTCOMES = "('pass', 'approve', 'refer', 'decline')"


def upgrade() -> None:
    op.create_table(
        "rule_set_overlay_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rule_set_overlay_version"),
        sa.UniqueConstraint("code", "version", name="uq_rule_set_overlay_version_code_version"),
        sa.CheckConstraint(_STAGES, name="stage"),
        sa.CheckConstraint("status IN ('draft', 'pending', 'published')", name="status"),
    )
    op.create_index("ix_rule_set_overlay_version_stage_status", "rule_set_overlay_version", ["stage", "status"])
    op.create_table(
        "decision_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason_codes", postgresql.JSONB(), nullable=False),
        sa.Column("fired", postgresql.JSONB(), nullable=False),
        sa.Column("outputs", postgresql.JSONB(), nullable=False),
        sa.Column("facts", postgresql.JSONB(), nullable=False),
        sa.Column("standard_version_id", sa.Integer(), nullable=False),
        sa.Column("standard_hash", sa.String(64), nullable=False),
        sa.Column("overlay_version_id", sa.Integer(), nullable=True),
        sa.Column("overlay_hash", sa.String(64), nullable=False),
        sa.Column("effective_hash", sa.String(64), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("override_outcome", sa.String(20), nullable=True),
        sa.Column("override_justification", sa.Text(), nullable=True),
        sa.Column("overridden_by", sa.Integer(), nullable=True),
        sa.Column("overridden_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decision_record"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_decision_record_application_id_loan_application"),
        sa.ForeignKeyConstraint(["overlay_version_id"], ["rule_set_overlay_version.id"],
                                name="fk_decision_record_overlay_version_id_rule_set_overlay_version"),
        sa.CheckConstraint(_STAGES, name="stage"),
        sa.CheckConstraint(f"outcome IN {_OUTCOMES}", name="outcome"),
        sa.CheckConstraint(f"override_outcome IS NULL OR override_outcome IN {_OUTCOMES}",
                           name="override_outcome"),
        sa.CheckConstraint("(override_outcome IS NULL) = (override_justification IS NULL)",
                           name="override_justified"),
    )
    op.create_index("ix_decision_record_application_id", "decision_record", ["application_id"])


def downgrade() -> None:
    op.drop_table("decision_record")
    op.drop_table("rule_set_overlay_version")
