"""Contracts (e-contract, parties, signatures, platform signing key, recording sessions) and disbursements.

Revision ID: t0170
Revises: t0160
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0170"
down_revision = "t0160"
branch_labels = None
depends_on = None


def _now():
    return sa.func.now()


def upgrade() -> None:
    op.create_table(
        "contract_signing_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contract_signing_key"),
        sa.ForeignKeyConstraint(["data_key_id"], ["data_key.id"], name="fk_contract_signing_key_data_key_id_data_key"),
        sa.CheckConstraint("status IN ('active', 'retired')", name="status"),
    )
    op.create_index("uq_contract_signing_key_active", "contract_signing_key", ["status"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "recording_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("staff_ids", postgresql.JSONB(), nullable=False),
        sa.Column("customer_ids", postgresql.JSONB(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("media_key", sa.String(200), nullable=False),
        sa.Column("media_sha256", sa.String(64), nullable=False),
        sa.Column("media_content_type", sa.String(60), nullable=False),
        sa.Column("script_version", sa.String(40), nullable=False),
        sa.Column("risk_disclosures_read", postgresql.JSONB(), nullable=False),
        sa.Column("customer_confirmations", postgresql.JSONB(), nullable=False),
        sa.Column("location", sa.String(200), server_default="", nullable=False),
        sa.Column("device_id", sa.String(100), server_default="", nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("qc_status", sa.String(10), server_default="PENDING", nullable=False),
        sa.Column("qc_reviewer_id", sa.Integer(), nullable=True),
        sa.Column("qc_note", sa.Text(), server_default="", nullable=False),
        sa.Column("qc_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retention_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_session"),
        sa.CheckConstraint("subject_type IN ('LOAN_SIGNING', 'PRODUCT_SALE')", name="subject_type"),
        sa.CheckConstraint("qc_status IN ('PENDING', 'PASSED', 'FAILED')", name="qc_status"),
        sa.CheckConstraint("qc_status = 'PENDING' OR qc_reviewer_id IS NOT NULL", name="qc_reviewer"),
    )
    op.create_index("ix_recording_session_subject", "recording_session", ["subject_type", "subject_id"])
    op.create_table(
        "e_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(80), nullable=False),
        sa.Column("template_version", sa.String(64), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("annual_rate", sa.Numeric(12, 8), nullable=False),
        sa.Column("repayment_method", sa.String(30), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("schedule", postgresql.JSONB(), nullable=False),
        sa.Column("file_key", sa.String(200), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), server_default="DRAFT", nullable=False),
        sa.Column("recording_session_id", sa.Integer(), nullable=True),
        sa.Column("prepared_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_e_contract"),
        sa.UniqueConstraint("reference", name="uq_e_contract_reference"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_e_contract_application_id_loan_application"),
        sa.ForeignKeyConstraint(["recording_session_id"], ["recording_session.id"],
                                name="fk_e_contract_recording_session_id_recording_session"),
        sa.CheckConstraint("status IN ('DRAFT', 'SENT', 'PARTIALLY_SIGNED', 'SIGNED', 'VOIDED')", name="status"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )
    op.create_index("ix_e_contract_application_id", "e_contract", ["application_id"])
    op.create_index("uq_e_contract_application_live", "e_contract", ["application_id"], unique=True,
                    postgresql_where=sa.text("status <> 'VOIDED'"))
    op.create_table(
        "contract_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contract_party"),
        sa.ForeignKeyConstraint(["contract_id"], ["e_contract.id"], ondelete="CASCADE",
                                name="fk_contract_party_contract_id_e_contract"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name="fk_contract_party_customer_id_customer"),
        sa.UniqueConstraint("contract_id", "role", "customer_id", name="uq_contract_party_contract_id_role_customer_id"),
        sa.CheckConstraint("role IN ('borrower', 'co_borrower', 'guarantor', 'lender')", name="role"),
        sa.CheckConstraint("(role = 'lender') = (customer_id IS NULL)", name="lender_is_the_bank"),
    )
    op.create_index("ix_contract_party_contract_id", "contract_party", ["contract_id"])
    op.create_table(
        "contract_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("ca_provider", sa.String(40), nullable=False),
        sa.Column("cert_serial", sa.String(100), nullable=False),
        sa.Column("signed_hash", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("signature_value", sa.Text(), nullable=False),
        sa.Column("timestamp_token", sa.Text(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contract_signature"),
        sa.ForeignKeyConstraint(["contract_id"], ["e_contract.id"], ondelete="CASCADE",
                                name="fk_contract_signature_contract_id_e_contract"),
        sa.ForeignKeyConstraint(["party_id"], ["contract_party.id"], ondelete="CASCADE",
                                name="fk_contract_signature_party_id_contract_party"),
        sa.UniqueConstraint("party_id", name="uq_contract_signature_party_id"),
        sa.CheckConstraint("method IN ('face_signing', 'e_signature')", name="method"),
    )
    op.create_index("ix_contract_signature_contract_id", "contract_signature", ["contract_id"])
    op.create_table(
        "disbursement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("self_payment_ground", sa.String(40), nullable=True),
        sa.Column("payee_name", sa.String(200), nullable=False),
        sa.Column("payee_account", sa.String(64), nullable=False),
        sa.Column("payee_bank", sa.String(200), server_default="", nullable=False),
        sa.Column("purpose", sa.Text(), server_default="", nullable=False),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("adapter", sa.String(40), nullable=False),
        sa.Column("adapter_ref", sa.String(200), server_default="", nullable=False),
        sa.Column("core_banking_ref", sa.String(64), nullable=True),
        sa.Column("status", sa.String(10), server_default="PENDING", nullable=False),
        sa.Column("failure_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_disbursement"),
        sa.UniqueConstraint("idempotency_key", name="uq_disbursement_idempotency_key"),
        sa.ForeignKeyConstraint(["contract_id"], ["e_contract.id"], name="fk_disbursement_contract_id_e_contract"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_disbursement_application_id_loan_application"),
        sa.ForeignKeyConstraint(["loan_id"], ["loan_account.id"], name="fk_disbursement_loan_id_loan_account"),
        sa.CheckConstraint("status IN ('PENDING', 'SENT', 'SETTLED', 'FAILED', 'REVERSED')", name="status"),
        sa.CheckConstraint("mode IN ('ENTRUSTED', 'SELF')", name="mode"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("(mode = 'SELF') = (self_payment_ground IS NOT NULL)", name="self_payment_ground"),
        sa.CheckConstraint("status <> 'SETTLED' OR loan_id IS NOT NULL", name="settled_has_loan"),
    )
    op.create_index("ix_disbursement_contract_id", "disbursement", ["contract_id"])
    op.create_index("ix_disbursement_application_id", "disbursement", ["application_id"])
    op.create_index("uq_disbursement_contract_live", "disbursement", ["contract_id"], unique=True,
                    postgresql_where=sa.text("status IN ('PENDING', 'SENT', 'SETTLED')"))


def downgrade() -> None:
    op.drop_table("disbursement")
    op.drop_table("contract_signature")
    op.drop_table("contract_party")
    op.drop_table("e_contract")
    op.drop_table("recording_session")
    op.drop_table("contract_signing_key")
