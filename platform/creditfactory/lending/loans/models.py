"""Loan accounts, their schedule versions and instalments, and the transactions posted to them."""

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

#: DOMAIN §2.6; the transitions live in ``loans.states``.
LOAN_STATES = ("active", "overdue", "restructured", "settled", "in_litigation", "written_off")
INSTALLMENT_STATUSES = ("due", "partial", "overdue", "paid", "waived", "superseded")
TRANSACTION_KINDS = ("disbursement", "draw", "repayment", "payoff", "waiver", "reversal", "write_off")
ZERO = Decimal("0.00")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class LoanAccount(TenantBase):
    """One loan (term) or credit line (revolving). Balances here are the loan's sub-ledger.

    ``principal_outstanding`` and ``penalty_receivable`` are kept here; accrued interest receivable is the sum
    of the active schedule's ``interest_accrued - interest_paid`` (term loans) or ``interest_receivable``
    (revolving lines). ``ledger.check`` proves they agree with the general ledger.
    """

    __tablename__ = "loan_account"
    __table_args__ = (
        CheckConstraint(_in("state", LOAN_STATES), name="state"),
        CheckConstraint("kind IN ('term', 'revolving')", name="kind"),
        CheckConstraint("principal_outstanding >= 0 AND penalty_receivable >= 0 AND interest_receivable >= 0 "
                        "AND interest_suspended >= 0", name="balances_not_negative"),
        CheckConstraint("kind = 'term' OR principal_outstanding <= credit_limit", name="within_limit"),
        CheckConstraint("day_count IN (360, 365)", name="day_count"),
        Index("ix_loan_account_open", "id", postgresql_where=text("state NOT IN ('settled', 'written_off')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default="term")
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"), nullable=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_application.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="active")
    #: Retail debtors (individuals, households, small business) are classified by DPD; non-retail by the
    #: debtor as a whole (10% contagion).
    retail: Mapped[bool] = mapped_column(Boolean, default=True)
    principal_amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    credit_limit: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    #: Annual overdue (penalty) rate on overdue principal.
    penalty_rate: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    day_count: Mapped[int] = mapped_column(Integer, default=360)
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    #: Allocation order of repayments (DOMAIN §2.5), configurable per product.
    allocation_order: Mapped[list[str]] = mapped_column(JSONB)
    disbursed_on: Mapped[dt.date] = mapped_column(Date)
    maturity_date: Mapped[dt.date] = mapped_column(Date)
    schedule_version: Mapped[int] = mapped_column(Integer, default=1)
    principal_outstanding: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    #: Revolving lines only: interest accrued on the drawn balance and not yet paid.
    interest_receivable: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    penalty_receivable: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    #: Interest accrued off balance sheet while the loan is on non-accrual (NPL policy); owed, not income.
    interest_suspended: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    dpd: Mapped[int] = mapped_column(Integer, default=0)
    non_accrual: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_class: Mapped[str] = mapped_column(String(20), default="normal")
    #: A reviewer's manual floor: the loan is never classified better than this.
    class_floor: Mapped[str | None] = mapped_column(String(20), nullable=True)
    restructured_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: Restructured before it was NPL? (if it was NPL, no upgrade through the observation period).
    npl_at_restructuring: Mapped[bool] = mapped_column(Boolean, default=False)
    observation_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    settled_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class ScheduleVersion(TenantBase):
    """One version of a loan's schedule; a restructuring adds a version and keeps the old ones."""

    __tablename__ = "loan_schedule_version"

    loan_id: Mapped[int] = mapped_column(ForeignKey(LoanAccount.id), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text, default="")
    business_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Installment(TenantBase):
    """One period of a schedule version. ``interest_accrued`` grows daily in COB up to ``interest_due``."""

    __tablename__ = "loan_installment"
    __table_args__ = (
        UniqueConstraint("loan_id", "version", "seq"),
        CheckConstraint(_in("status", INSTALLMENT_STATUSES), name="status"),
        CheckConstraint("principal_paid >= 0 AND principal_paid <= principal_due", name="principal_paid"),
        CheckConstraint("interest_paid >= 0 AND interest_paid <= interest_accrued "
                        "AND interest_accrued <= interest_due", name="interest_paid"),
        # COB's access paths: instalments falling due, overdue ones, and the period containing a date (accrual).
        Index("ix_loan_installment_falling_due", "due_date", postgresql_where=text("status IN ('due', 'partial')")),
        Index("ix_loan_installment_overdue", "loan_id", "due_date", postgresql_where=text("status = 'overdue'")),
        Index("ix_loan_installment_period", text("daterange(start_date, due_date, '(]')"), postgresql_using="gist",
              postgresql_where=text("status IN ('due', 'partial', 'overdue')")),
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey(LoanAccount.id))
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    #: Interest of this period accrues over (start_date, due_date].
    start_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    principal_due: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    interest_due: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    interest_accrued: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    principal_paid: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    interest_paid: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    status: Mapped[str] = mapped_column(String(12), default="due")
    paid_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class LoanTransaction(TenantBase):
    """A money movement on a loan (disbursement, repayment, waiver, reversal...), with its journal entry."""

    __tablename__ = "loan_transaction"
    __table_args__ = (
        CheckConstraint(_in("kind", TRANSACTION_KINDS), name="kind"),
        CheckConstraint("amount >= 0", name="amount"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey(LoanAccount.id), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    principal: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    interest: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    penalty: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    #: The client's Idempotency-Key (one posting per key per tenant), with a digest of the request.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    request_digest: Mapped[str] = mapped_column(String(64), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("loan_transaction.id"), nullable=True, unique=True)
    reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Allocation(TenantBase):
    """How much of a transaction went to which instalment (NULL: loan-level penalty / revolving)."""

    __tablename__ = "loan_allocation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey(LoanTransaction.id), index=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey(Installment.id), nullable=True)
    principal: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    interest: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    #: Part of ``interest`` that was suspended (off-balance) interest of a non-accrual loan.
    interest_suspended: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    #: Part of ``interest`` of the current period accrued at payment time (recognised early, not by COB).
    interest_accelerated: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)
    penalty: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=ZERO)


class LoanEvent(TenantBase):
    """A state change of a loan, with why (COB, repayment, restructuring, write-off...)."""

    __tablename__ = "loan_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey(LoanAccount.id), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    business_date: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
