"""Loan applications: one row per case, from intake to contract, with its state history, decisions and committee."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

_JSONB = JSON().with_variant(JSONB(), "postgresql")

#: Where an application came in (DOMAIN §2.1, issue 4 item 3).
CHANNELS = ("branch", "field_app", "wechat_mini", "mobile_banking", "online_banking", "phone", "partner")
#: What a single approver or a committee can decide.
DECISIONS = ("approve", "approve_with_conditions", "reject", "return")


def _one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class LoanApplication(TenantBase):
    """A customer's request for a loan under one product version; ``state`` follows DOMAIN §2.2 (states.py)."""

    __tablename__ = "loan_application"
    __table_args__ = (CheckConstraint(_one_of("channel", CHANNELS), name="channel"),)
    # The id and the server-set times come back with the INSERT/UPDATE (RETURNING) instead of a reload after it.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The number staff and customers quote, unique in the bank.
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    term_months: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Users live in cf_shared; tenant tables keep their ids only (see identity.models.ChangeRequest).
    #: The loan officer responsible for the case (客户经理).
    officer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: Who works the case in its current state (the officer in the front office, a claimed reviewer after).
    assignee_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: Who started the on-site investigation; may never review, approve or vote on the case.
    investigator_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: When the current state was entered: the SLA timer runs from here.
    state_entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Loan purpose as the customer states it.
    purpose: Mapped[str] = mapped_column(Text, server_default="")
    # --- origination wiring (t0180) ---
    #: Repayment method asked for (one the product offers, checked at intake); None on rows made before t0180.
    repayment_method: Mapped[str | None] = mapped_column(String(30), nullable=True)
    #: The product's sector code the business falls in (one of the product's eligible sectors).
    sector: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: The consent that covered the bureau query asked for at intake (DOMAIN §4.3), if one was asked for.
    bureau_consent_id: Mapped[int | None] = mapped_column(ForeignKey("customer_consent.id"), nullable=True)
    #: Pre-approval (预批核) after the investigation: the engine's indicative offer.
    indicative_segment: Mapped[str | None] = mapped_column(String(40), nullable=True)
    indicative_limit: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), nullable=True)
    indicative_rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 8), nullable=True)
    indicative_term_months: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApplicationStateHistory(TenantBase):
    """One row per state an application entered: when, by which event, who and why (turnaround metrics)."""

    __tablename__ = "application_state_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str] = mapped_column(String(30))
    event: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The username, or ``system`` for a job.
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text, server_default="")
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApplicationIdempotencyKey(TenantBase):
    """An ``Idempotency-Key`` of an application-creating request: the first response, replayed on retries."""

    __tablename__ = "application_idempotency_key"

    #: The client or user that sent the key: keys of different callers never collide.
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: SHA-256 of the canonical request body: a reused key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_application.id"), nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(_JSONB, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApprovalAuthority(TenantBase):
    """Approval authority (授权审批): a role may decide alone up to ``max_amount`` and ``max_term_months``.

    ``product_code`` ``*`` covers every product without a row of its own. Changed only through maker-checker
    (change kind ``approval_authority.set``).
    """

    __tablename__ = "approval_authority"
    __table_args__ = (UniqueConstraint("role", "product_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(String(40))
    max_amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    max_term_months: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CommitteeSession(TenantBase):
    """A credit-committee meeting (审贷会): members, quorum, the cases it decides."""

    __tablename__ = "committee_session"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    quorum: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CommitteeMember(TenantBase):
    __tablename__ = "committee_member"

    session_id: Mapped[int] = mapped_column(ForeignKey("committee_session.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class CommitteeCase(TenantBase):
    """An application on a session's agenda and, once the session closes, the committee's decision."""

    __tablename__ = "committee_case"
    __table_args__ = (CheckConstraint(f"decision IS NULL OR {_one_of('decision', DECISIONS)}", name="decision"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("committee_session.id"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), primary_key=True)
    decision: Mapped[str | None] = mapped_column(String(30), nullable=True)
    conditions: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    #: Members whose vote differed from the decision (异议).
    dissent: Mapped[list[int]] = mapped_column(_JSONB, default=list)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CommitteeVote(TenantBase):
    __tablename__ = "committee_vote"
    __table_args__ = (CheckConstraint(_one_of("vote", DECISIONS), name="vote"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("committee_session.id"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, server_default="")
    conditions: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    cast_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApplicationDecision(TenantBase):
    """A decision on an application, by a single approver or a committee session: who, when, why."""

    __tablename__ = "application_decision"
    __table_args__ = (CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
                      CheckConstraint("by_committee IS NOT NULL OR decided_by IS NOT NULL", name="who"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    decision: Mapped[str] = mapped_column(String(30))
    #: The approver; for a committee decision the member who closed the session.
    decided_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    by_committee: Mapped[int | None] = mapped_column(ForeignKey("committee_session.id"), nullable=True)
    reasons: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApplicationReminder(TenantBase):
    """A reminder sent to a case's assignee when its state's SLA timer ran out; one per state visit."""

    __tablename__ = "application_reminder"
    __table_args__ = (UniqueConstraint("application_id", "state", "state_entered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(30))
    state_entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
