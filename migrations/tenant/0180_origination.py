"""Origination wiring: repayment method, sector and bureau consent at intake; the pre-approval offer.

Revision ID: t0180
Revises: t0170
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "t0180"
down_revision = "t0170"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("loan_application", sa.Column("repayment_method", sa.String(30), nullable=True))
    op.add_column("loan_application", sa.Column("sector", sa.String(40), nullable=True))
    op.add_column("loan_application", sa.Column("bureau_consent_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_loan_application_bureau_consent_id_customer_consent", "loan_application",
                          "customer_consent", ["bureau_consent_id"], ["id"])
    op.add_column("loan_application", sa.Column("indicative_segment", sa.String(40), nullable=True))
    op.add_column("loan_application", sa.Column("indicative_limit", sa.Numeric(20, 2), nullable=True))
    op.add_column("loan_application", sa.Column("indicative_rate", sa.Numeric(12, 8), nullable=True))
    op.add_column("loan_application", sa.Column("indicative_term_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    for column in ("indicative_term_months", "indicative_rate", "indicative_limit", "indicative_segment"):
        op.drop_column("loan_application", column)
    op.drop_constraint("fk_loan_application_bureau_consent_id_customer_consent", "loan_application",
                       type_="foreignkey")
    for column in ("bureau_consent_id", "sector", "repayment_method"):
        op.drop_column("loan_application", column)
