"""Contracts: related persons without a customer record (a spouse, a natural-person guarantor) sign as parties.

Revision ID: t0220
Revises: t0211
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "t0220"
down_revision = "t0211"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contract_party", sa.Column("related_party_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_contract_party_related_party_id_customer_related_party", "contract_party",
                          "customer_related_party", ["related_party_id"], ["id"])
    op.create_unique_constraint("uq_contract_party_contract_id_role_related_party_id", "contract_party",
                                ["contract_id", "role", "related_party_id"])
    op.drop_constraint("role", "contract_party", type_="check")
    op.create_check_constraint("role", "contract_party",
                               "role IN ('borrower', 'co_borrower', 'guarantor', 'spouse', 'lender')")
    op.drop_constraint("lender_is_the_bank", "contract_party", type_="check")
    op.create_check_constraint("lender_is_the_bank", "contract_party",
                               "(role = 'lender') = (customer_id IS NULL AND related_party_id IS NULL)")
    op.create_check_constraint("customer_or_person", "contract_party",
                               "customer_id IS NULL OR related_party_id IS NULL")


def downgrade() -> None:
    op.drop_constraint("customer_or_person", "contract_party", type_="check")
    op.drop_constraint("lender_is_the_bank", "contract_party", type_="check")
    op.drop_constraint("role", "contract_party", type_="check")
    op.execute("DELETE FROM contract_party WHERE related_party_id IS NOT NULL OR role = 'spouse'")
    op.create_check_constraint("role", "contract_party", "role IN ('borrower', 'co_borrower', 'guarantor', 'lender')")
    op.create_check_constraint("lender_is_the_bank", "contract_party", "(role = 'lender') = (customer_id IS NULL)")
    op.drop_constraint("uq_contract_party_contract_id_role_related_party_id", "contract_party", type_="unique")
    op.drop_constraint("fk_contract_party_related_party_id_customer_related_party", "contract_party",
                       type_="foreignkey")
    op.drop_column("contract_party", "related_party_id")
