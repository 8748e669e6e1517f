"""Disbursements (DOMAIN §2.4 ``Disbursement``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

DISBURSEMENT_STATUSES = ("PENDING", "SENT", "SETTLED", "FAILED", "REVERSED")
MODES = ("ENTRUSTED", "SELF")
#: DOMAIN §2.4 exceptions allowing borrower-controlled payment (自主支付).
SELF_PAYMENT_GROUNDS = ("undetermined_counterparty", "no_non_cash_settlement", "personal_business")


class Disbursement(TenantBase):
    __tablename__ = "disbursement"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'SENT', 'SETTLED', 'FAILED', 'REVERSED')", name="status"),
        CheckConstraint("mode IN ('ENTRUSTED', 'SELF')", name="mode"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(mode = 'SELF') = (self_payment_ground IS NOT NULL)", name="self_payment_ground"),
        CheckConstraint("status <> 'SETTLED' OR loan_id IS NOT NULL", name="settled_has_loan"),
        # At most one disbursement in flight or done per contract (a failed one may be retried).
        Index("uq_disbursement_contract_live", "contract_id", unique=True,
              postgresql_where=text("status IN ('PENDING', 'SENT', 'SETTLED')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[int] = mapped_column(ForeignKey("e_contract.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loan_account.id"), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    mode: Mapped[str] = mapped_column(String(10))
    self_payment_ground: Mapped[str | None] = mapped_column(String(40), nullable=True)
    payee_name: Mapped[str] = mapped_column(String(200))
    payee_account: Mapped[str] = mapped_column(String(64))
    payee_bank: Mapped[str] = mapped_column(String(200), server_default="")
    purpose: Mapped[str] = mapped_column(Text, server_default="")
    #: Evidence documents (purchase contract, invoice...): ``[{key, sha256, filename, content_type}]``.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    value_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    adapter: Mapped[str] = mapped_column(String(40))
    #: Where the adapter put the payment order (e.g. the file store key of the transfer file).
    adapter_ref: Mapped[str] = mapped_column(String(200), server_default="")
    core_banking_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(10), server_default="PENDING")
    failure_reason: Mapped[str] = mapped_column(Text, server_default="")
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
