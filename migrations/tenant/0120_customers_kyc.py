"""Customers: sealed KYC identifiers with blind indexes, profile fields, related parties, documents, consents.

Revision ID: t0120
Revises: t0110
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0120"
down_revision = "t0110"
branch_labels = None
depends_on = None

_CUSTOMER_COLUMNS = (
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("resident_id_sealed", sa.Text(), nullable=True),
    sa.Column("resident_id_index", sa.String(64), nullable=True),
    sa.Column("uscc_sealed", sa.Text(), nullable=True),
    sa.Column("uscc_index", sa.String(64), nullable=True),
    sa.Column("mobile_sealed", sa.Text(), nullable=True),
    sa.Column("mobile_index", sa.String(64), nullable=True),
    sa.Column("birth_date", sa.Date(), nullable=True),
    sa.Column("gender", sa.String(10), nullable=True),
    sa.Column("address", sa.String(300), nullable=True),
    sa.Column("registered_address", sa.String(300), nullable=True),
    sa.Column("sector_code", sa.String(5), nullable=True),
    sa.Column("years_in_business", sa.Integer(), nullable=True),
    sa.Column("household_members", sa.Integer(), nullable=True),
    sa.Column("marital_status", sa.String(10), nullable=True),
    sa.Column("legal_representative_name", sa.String(200), nullable=True),
    sa.Column("officer_user_id", sa.BigInteger(), nullable=True),
    sa.Column("created_by_user_id", sa.BigInteger(), nullable=True),
)


def upgrade() -> None:
    for column in _CUSTOMER_COLUMNS:
        op.add_column("customer", column)
    op.create_check_constraint(
        "marital_status", "customer",
        "marital_status IS NULL OR marital_status IN ('single', 'married', 'divorced', 'widowed')")
    op.create_check_constraint("gender", "customer", "gender IS NULL OR gender IN ('male', 'female')")
    op.create_check_constraint("years_in_business", "customer",
                               "years_in_business IS NULL OR years_in_business BETWEEN 0 AND 100")
    op.create_check_constraint("household_members", "customer",
                               "household_members IS NULL OR household_members BETWEEN 1 AND 50")
    op.create_check_constraint("resident_id_pair", "customer",
                               "(resident_id_sealed IS NULL) = (resident_id_index IS NULL)")
    op.create_check_constraint("uscc_pair", "customer", "(uscc_sealed IS NULL) = (uscc_index IS NULL)")
    op.create_check_constraint("mobile_pair", "customer", "(mobile_sealed IS NULL) = (mobile_index IS NULL)")
    op.create_index("ix_customer_resident_id_index", "customer", ["resident_id_index"], unique=True)
    op.create_index("ix_customer_uscc_index", "customer", ["uscc_index"], unique=True)
    op.create_index("ix_customer_mobile_index", "customer", ["mobile_index"])
    op.create_index("ix_customer_officer_user_id", "customer", ["officer_user_id"])
    op.create_index("ix_customer_created_by_user_id", "customer", ["created_by_user_id"])

    op.create_table(
        "customer_related_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("related_customer_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("resident_id_sealed", sa.Text(), nullable=True),
        sa.Column("resident_id_index", sa.String(64), nullable=True),
        sa.Column("mobile_sealed", sa.Text(), nullable=True),
        sa.Column("mobile_index", sa.String(64), nullable=True),
        sa.Column("share_percent", sa.Numeric(7, 4), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_related_party"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE",
                                name="fk_customer_related_party_customer_id_customer"),
        sa.ForeignKeyConstraint(["related_customer_id"], ["customer.id"],
                                name="fk_customer_related_party_related_customer_id_customer"),
        sa.CheckConstraint("role IN ('spouse', 'co_borrower', 'guarantor', 'shareholder', 'legal_representative')",
                           name="role"),
        sa.CheckConstraint("(related_customer_id IS NULL) <> (name IS NULL)", name="customer_or_person"),
        sa.CheckConstraint("(resident_id_sealed IS NULL) = (resident_id_index IS NULL)", name="resident_id_pair"),
        sa.CheckConstraint("(mobile_sealed IS NULL) = (mobile_index IS NULL)", name="mobile_pair"),
        sa.CheckConstraint("share_percent IS NULL OR (share_percent > 0 AND share_percent <= 100)",
                           name="share_percent"),
    )
    op.create_index("ix_customer_related_party_customer_id", "customer_related_party", ["customer_id"])
    op.create_index("ix_customer_related_party_related_customer_id", "customer_related_party",
                    ["related_customer_id"])
    op.create_index("ix_customer_related_party_resident_id_index", "customer_related_party", ["resident_id_index"])

    op.create_table(
        "customer_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("doc_type", sa.String(30), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("uploaded_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_document"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE",
                                name="fk_customer_document_customer_id_customer"),
        sa.CheckConstraint("doc_type IN ('id_card', 'business_licence', 'site_photo', 'bank_statement', "
                           "'contract', 'other')", name="doc_type"),
        sa.CheckConstraint("size_bytes > 0", name="size_bytes"),
    )
    op.create_index("ix_customer_document_customer_id", "customer_document", ["customer_id"])

    jsonb = postgresql.JSONB()
    op.create_table(
        "customer_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("data_categories", jsonb, nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("consent_type", sa.String(10), nullable=False),
        sa.Column("recipients", jsonb, nullable=False),
        sa.Column("notice_version", sa.String(40), nullable=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("evidence_document_id", sa.Integer(), nullable=True),
        sa.Column("evidence_signature", sa.String(300), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("captured_by", sa.String(100), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_reason", sa.String(500), nullable=True),
        sa.Column("withdrawal_channel", sa.String(20), nullable=True),
        sa.Column("withdrawn_by", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_consent"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE",
                                name="fk_customer_consent_customer_id_customer"),
        sa.ForeignKeyConstraint(["evidence_document_id"], ["customer_document.id"],
                                name="fk_customer_consent_evidence_document_id_customer_document"),
        sa.CheckConstraint("purpose IN ('credit_assessment', 'bureau_query', 'bureau_reporting', "
                           "'bank_statement_analysis', 'marketing', 'biometric_verification', 'recording', "
                           "'guarantor_data_sharing')", name="purpose"),
        sa.CheckConstraint("consent_type IN ('general', 'separate', 'written')", name="consent_type"),
        sa.CheckConstraint("channel IN ('app', 'paper_scan', 'face_sign', 'branch')", name="channel"),
        sa.CheckConstraint("expires_at IS NULL OR expires_at > granted_at", name="expiry_after_grant"),
        sa.CheckConstraint("evidence_document_id IS NOT NULL OR evidence_signature IS NOT NULL", name="evidence"),
        sa.CheckConstraint("(withdrawn_at IS NULL) = (withdrawal_reason IS NULL)", name="withdrawal_reason"),
    )
    op.create_index("ix_customer_consent_customer_id_purpose", "customer_consent", ["customer_id", "purpose"])


def downgrade() -> None:
    op.drop_table("customer_consent")
    op.drop_table("customer_document")
    op.drop_table("customer_related_party")
    for name in ("created_by_user_id", "officer_user_id", "mobile_index", "uscc_index", "resident_id_index"):
        op.drop_index(f"ix_customer_{name}", table_name="customer")
    for name in ("mobile_pair", "uscc_pair", "resident_id_pair", "household_members", "years_in_business", "gender",
                 "marital_status"):
        op.drop_constraint(f"ck_customer_{name}", "customer", type_="check")
    for column in reversed(_CUSTOMER_COLUMNS):
        op.drop_column("customer", column.name)
