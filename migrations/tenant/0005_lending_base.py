"""Lending base: products, customers and loan applications (the tables every later lending step refers to).

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "t0005"
down_revision = "t0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product"),
        sa.UniqueConstraint("code", "version", name="uq_product_code_version"),
    )
    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer"),
        sa.CheckConstraint("kind IN ('individual', 'household', 'micro_enterprise')", name="kind"),
    )
    op.create_table(
        "loan_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loan_application"),
        sa.UniqueConstraint("reference", name="uq_loan_application_reference"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name="fk_loan_application_customer_id_customer"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name="fk_loan_application_product_id_product"),
    )
    op.create_index("ix_loan_application_customer_id", "loan_application", ["customer_id"])
    op.create_index("ix_loan_application_product_id", "loan_application", ["product_id"])
    op.create_index("ix_loan_application_state", "loan_application", ["state"])


def downgrade() -> None:
    op.drop_table("loan_application")
    op.drop_table("customer")
    op.drop_table("product")
