"""Head-office standard product templates: immutable published versions of standard loan products.

Revision ID: s0110
Revises: s0020
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "s0110"
down_revision = "s0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("terms", postgresql.JSONB(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_template"),
        sa.UniqueConstraint("code", "version", name="uq_product_template_code_version"),
        schema="cf_shared",
    )


def downgrade() -> None:
    op.drop_table("product_template", schema="cf_shared")
