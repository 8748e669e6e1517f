"""Decision engine: simulation runs, the challenger of a stage (shadow mode) and shadow decisions.

Revision ID: t0250
Revises: t0230
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0250"
down_revision = "t0230"
branch_labels = None
depends_on = None

_STAGES = "stage IN ('admission', 'pre_approval', 'approval')"


def upgrade() -> None:
    op.create_table(
        "decision_simulation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("standard_version_id", sa.Integer(), nullable=False),
        sa.Column("overlay_id", sa.Integer(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("sample", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_record_id", sa.Integer(), nullable=False),
        sa.Column("last_record_id", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("bad_rates", postgresql.JSONB(), nullable=False),
        sa.Column("results", postgresql.JSONB(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decision_simulation"),
        sa.ForeignKeyConstraint(["draft_id"], ["rule_set_overlay_version.id"],
                                name="fk_decision_simulation_draft_id_rule_set_overlay_version"),
        sa.ForeignKeyConstraint(["overlay_id"], ["rule_set_overlay_version.id"],
                                name="fk_decision_simulation_overlay_id_rule_set_overlay_version"),
        sa.CheckConstraint(_STAGES, name="stage"),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        sa.CheckConstraint("done <= total", name="progress"),
    )
    op.create_table(
        "decision_challenger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("share_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decision_challenger"),
        sa.UniqueConstraint("stage", name="uq_decision_challenger_stage"),
        sa.ForeignKeyConstraint(["version_id"], ["rule_set_overlay_version.id"],
                                name="fk_decision_challenger_version_id_rule_set_overlay_version"),
        sa.CheckConstraint(_STAGES, name="stage"),
        sa.CheckConstraint("share_percent >= 0 AND share_percent <= 100", name="share"),
    )
    op.create_table(
        "shadow_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_record_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason_codes", postgresql.JSONB(), nullable=False),
        sa.Column("effective_hash", sa.String(64), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shadow_decision"),
        sa.ForeignKeyConstraint(["decision_record_id"], ["decision_record.id"],
                                name="fk_shadow_decision_decision_record_id_decision_record"),
        sa.ForeignKeyConstraint(["version_id"], ["rule_set_overlay_version.id"],
                                name="fk_shadow_decision_version_id_rule_set_overlay_version"),
        sa.CheckConstraint("outcome IN ('pass', 'approve', 'refer', 'decline')", name="outcome"),
        sa.CheckConstraint(_STAGES, name="stage"),
    )
    op.create_index("ix_shadow_decision_decision_record_id", "shadow_decision", ["decision_record_id"])


def downgrade() -> None:
    op.drop_table("shadow_decision")
    op.drop_table("decision_challenger")
    op.drop_table("decision_simulation")
