"""Collections (cases, actions, promises to pay, notices, pre-due reminders) and post-loan inspections.

Revision ID: t0190
Revises: t0180
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0190"
down_revision = "t0180"
branch_labels = None
depends_on = None


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(table, column, target="loan_account"):
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade() -> None:
    op.create_table(
        "collection_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("stage", ("early", "mid", "late")), name="stage"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
        _fk("collection_case", "loan_id"),
        sa.PrimaryKeyConstraint("id", name="pk_collection_case"),
    )
    op.create_index("ix_collection_case_loan_id", "collection_case", ["loan_id"])
    op.create_index("ix_collection_case_collector_id", "collection_case", ["collector_id"])
    op.create_index("ix_collection_case_open_loan", "collection_case", ["loan_id"], unique=True,
                    postgresql_where=sa.text("status = 'open'"))

    op.create_table(
        "collection_action",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("action_date", sa.Date(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("arrear_principal", sa.Numeric(20, 2), nullable=False),
        sa.Column("arrear_interest", sa.Numeric(20, 2), nullable=False),
        sa.Column("arrear_reason", sa.Text(), nullable=False),
        sa.Column("result_note", sa.Text(), nullable=False),
        sa.Column("collector", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("kind", ("call", "sms", "visit", "guarantor_contact", "notice", "legal", "note")),
                           name="kind"),
        _fk("collection_action", "case_id", "collection_case"),
        _fk("collection_action", "loan_id"),
        sa.PrimaryKeyConstraint("id", name="pk_collection_action"),
    )
    op.create_index("ix_collection_action_case_id", "collection_action", ["case_id"])

    op.create_table(
        "promise_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("paid", sa.Numeric(20, 2), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.CheckConstraint(_in("status", ("open", "kept", "broken")), name="status"),
        sa.CheckConstraint("amount > 0", name="amount"),
        _fk("promise_to_pay", "case_id", "collection_case"),
        _fk("promise_to_pay", "loan_id"),
        sa.PrimaryKeyConstraint("id", name="pk_promise_to_pay"),
    )
    op.create_index("ix_promise_to_pay_case_id", "promise_to_pay", ["case_id"])

    op.create_table(
        "collection_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("receipt_signed_on", sa.Date(), nullable=True),
        sa.Column("receipt_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        _fk("collection_notice", "case_id", "collection_case"),
        _fk("collection_notice", "loan_id"),
        sa.PrimaryKeyConstraint("id", name="pk_collection_notice"),
    )
    op.create_index("ix_collection_notice_case_id", "collection_notice", ["case_id"])

    op.create_table(
        "collection_reminder",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("installment_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        _fk("collection_reminder", "loan_id"),
        _fk("collection_reminder", "installment_id", "loan_installment"),
        sa.PrimaryKeyConstraint("id", name="pk_collection_reminder"),
        sa.UniqueConstraint("installment_id", "kind", name="uq_collection_reminder_installment_id_kind"),
    )
    op.create_index("ix_collection_reminder_loan_id", "collection_reminder", ["loan_id"])

    op.create_table(
        "post_loan_inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("performed_on", sa.Date(), nullable=True),
        sa.Column("method", sa.String(20), nullable=True),
        sa.Column("funds_use_verified", sa.Boolean(), nullable=True),
        sa.Column("business_status", sa.Text(), nullable=False),
        sa.Column("new_debts", sa.Text(), nullable=False),
        sa.Column("early_warning_hits", postgresql.JSONB(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=True),
        sa.Column("proposed_risk_class", sa.String(20), nullable=True),
        sa.Column("inspector", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("type", ("first_check", "routine", "triggered", "pre_maturity")), name="type"),
        sa.CheckConstraint("method IS NULL OR " + _in("method", ("on_site", "phone", "off_site_data")),
                           name="method"),
        sa.CheckConstraint("outcome IS NULL OR " + _in("outcome", ("normal", "concern", "risk")), name="outcome"),
        _fk("post_loan_inspection", "loan_id"),
        sa.PrimaryKeyConstraint("id", name="pk_post_loan_inspection"),
    )
    op.create_index("ix_post_loan_inspection_loan_id", "post_loan_inspection", ["loan_id"])
    op.create_index("ix_post_loan_inspection_pending", "post_loan_inspection", ["loan_id"], unique=True,
                    postgresql_where=sa.text("performed_on IS NULL"))


def downgrade() -> None:
    for table in ("post_loan_inspection", "collection_reminder", "collection_notice", "promise_to_pay",
                  "collection_action", "collection_case"):
        op.drop_table(table)
