"""Collections (DOMAIN §2.8) and post-loan inspections (§2.7): cases, actions, promises, notices, reminders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
    UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

STAGES = ("early", "mid", "late")
ACTION_KINDS = ("call", "sms", "visit", "guarantor_contact", "notice", "legal", "note")
PROMISE_STATUSES = ("open", "kept", "broken")
INSPECTION_TYPES = ("first_check", "routine", "triggered", "pre_maturity")
INSPECTION_METHODS = ("on_site", "phone", "off_site_data")
OUTCOMES = ("normal", "concern", "risk")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CollectionCase(TenantBase):
    """One episode of arrears of one loan: opened when DPD > 0, closed when the arrears are cleared."""

    __tablename__ = "collection_case"
    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="stage"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        # At most one open case per loan: the daily review may run twice without opening a second.
        Index("ix_collection_case_open_loan", "loan_id", unique=True, postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    stage: Mapped[str] = mapped_column(String(10))
    dpd: Mapped[int] = mapped_column(Integer)
    #: The collector (a user id in cf_shared.user); NULL = unassigned, on the work list.
    collector_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class CollectionAction(TenantBase):
    """The collection actions log (DOMAIN §2.8 CollectionAction): what was done, the arrears at the time."""

    __tablename__ = "collection_action"
    __table_args__ = (CheckConstraint(_in("kind", ACTION_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey(CollectionCase.id), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"))
    kind: Mapped[str] = mapped_column(String(20))
    action_date: Mapped[dt.date] = mapped_column(Date)
    dpd: Mapped[int] = mapped_column(Integer)
    arrear_principal: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    arrear_interest: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    arrear_reason: Mapped[str] = mapped_column(Text, default="")
    result_note: Mapped[str] = mapped_column(Text, default="")
    collector: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PromiseToPay(TenantBase):
    """A borrower's promise to pay ``amount`` by ``promised_date``; the daily review marks it kept or broken."""

    __tablename__ = "promise_to_pay"
    __table_args__ = (
        CheckConstraint(_in("status", PROMISE_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey(CollectionCase.id), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    promised_date: Mapped[dt.date] = mapped_column(Date)
    made_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    #: Repaid (net of reversals) between ``made_on`` and the promised date, when it was resolved.
    paid: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0.00"))
    resolved_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))


class CollectionNotice(TenantBase):
    """A written collection notice (催收通知书): rendered text, its SHA-256, the platform's HMAC signature, and
    the borrower's signed receipt (回执, which interrupts the limitation period) when it comes back."""

    __tablename__ = "collection_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey(CollectionCase.id), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    #: HMAC-SHA256 of ``sha256`` under a key derived from the tenant data key ``key_id`` (privacy.keys).
    signature: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[int] = mapped_column(Integer)
    receipt_signed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    receipt_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Reminder(TenantBase):
    """A pre-due reminder for one instalment (outbox: one row per instalment and kind, never two)."""

    __tablename__ = "collection_reminder"
    __table_args__ = (UniqueConstraint("installment_id", "kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"), index=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("loan_installment.id"))
    kind: Mapped[str] = mapped_column(String(20), default="pre_due")
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    created_on: Mapped[dt.date] = mapped_column(Date)
    sent: Mapped[bool] = mapped_column(Boolean, default=False)


class Inspection(TenantBase):
    """A post-loan inspection (贷后检查, DOMAIN §2.7 PostLoanInspection), scheduled then performed."""

    __tablename__ = "post_loan_inspection"
    __table_args__ = (
        CheckConstraint(_in("type", INSPECTION_TYPES), name="type"),
        CheckConstraint("method IS NULL OR " + _in("method", INSPECTION_METHODS), name="method"),
        CheckConstraint("outcome IS NULL OR " + _in("outcome", OUTCOMES), name="outcome"),
        # One pending inspection per loan: scheduling is idempotent.
        Index("ix_post_loan_inspection_pending", "loan_id", unique=True,
              postgresql_where=text("performed_on IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    performed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    funds_use_verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    business_status: Mapped[str] = mapped_column(Text, default="")
    new_debts: Mapped[str] = mapped_column(Text, default="")
    early_warning_hits: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    outcome: Mapped[str | None] = mapped_column(String(10), nullable=True)
    proposed_risk_class: Mapped[str | None] = mapped_column(String(20), nullable=True)
    inspector: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
