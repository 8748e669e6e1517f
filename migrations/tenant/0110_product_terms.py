"""Product versions carry their terms: the adopted template version, the bank's overrides, status.

Revision ID: t0110
Revises: t0007
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0110"
down_revision = "t0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("product", sa.Column("template_code", sa.String(40), nullable=True))
    op.add_column("product", sa.Column("template_version", sa.Integer(), nullable=True))
    op.add_column("product", sa.Column("status", sa.String(20), server_default=sa.text("'active'"), nullable=False))
    op.add_column("product", sa.Column("terms", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False))
    op.add_column("product", sa.Column("overrides", postgresql.JSONB(), server_default=sa.text("'{}'"),
                                       nullable=False))
    op.add_column("product", sa.Column("change_request_id", sa.Integer(), nullable=True))
    op.create_check_constraint("status", "product", "status IN ('active', 'superseded')")
    op.create_check_constraint("template_pair", "product", "(template_code IS NULL) = (template_version IS NULL)")


def downgrade() -> None:
    op.drop_constraint("ck_product_template_pair", "product", type_="check")
    op.drop_constraint("ck_product_status", "product", type_="check")
    for column in ("change_request_id", "overrides", "terms", "status", "template_version", "template_code"):
        op.drop_column("product", column)
