"""Investigation worksheets: on-site visits with GPS and photo references, versioned worksheets, analysis snapshots.

Revision ID: t0140
Revises: t0130
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0140"
down_revision = "t0130"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "investigation_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("officer", sa.String(100), nullable=False),
        sa.Column("second_officer_id", sa.Integer(), nullable=True),
        sa.Column("second_officer", sa.String(100), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("longitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("location_accuracy_m", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_investigation_visit"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_investigation_visit_application_id_loan_application"),
        sa.CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        sa.CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
    )
    op.create_index("ix_investigation_visit_application_id", "investigation_visit", ["application_id"])
    op.create_table(
        "investigation_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(20), nullable=False),
        sa.Column("caption", sa.String(500), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("longitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_investigation_photo"),
        sa.ForeignKeyConstraint(["visit_id"], ["investigation_visit.id"], ondelete="CASCADE",
                                name="fk_investigation_photo_visit_id_investigation_visit"),
        sa.UniqueConstraint("visit_id", "sha256", name="uq_investigation_photo_visit_id_sha256"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )
    op.create_table(
        "investigation_worksheet",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("investigator_id", sa.Integer(), nullable=True),
        sa.Column("investigator", sa.String(100), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_investigation_worksheet"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_investigation_worksheet_application_id_loan_application"),
        sa.UniqueConstraint("application_id", "version", name="uq_investigation_worksheet_application_id_version"),
    )
    op.create_table(
        "investigation_analysis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worksheet_id", sa.Integer(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False),
        sa.Column("result", postgresql.JSONB(), nullable=False),
        sa.Column("max_loan", sa.Numeric(20, 2), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_investigation_analysis"),
        sa.ForeignKeyConstraint(["worksheet_id"], ["investigation_worksheet.id"],
                                name="fk_investigation_analysis_worksheet_id_investigation_worksheet"),
        sa.UniqueConstraint("worksheet_id", name="uq_investigation_analysis_worksheet_id"),
    )


def downgrade() -> None:
    op.drop_table("investigation_analysis")
    op.drop_table("investigation_worksheet")
    op.drop_table("investigation_photo")
    op.drop_table("investigation_visit")
