"""Five-tier classification events (DOMAIN §3.1): proposals, confirmations, upgrade requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

#: Best to worst; the last three are non-performing (不良).
CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
NPL_CLASSES = CLASSES[2:]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ClassificationEvent(TenantBase):
    """A proposed or decided change of a loan's class, with its trigger and evidence."""

    __tablename__ = "classification_event"
    __table_args__ = (
        CheckConstraint(_in("from_class", CLASSES) + " AND " + _in("to_class", CLASSES), name="classes"),
        CheckConstraint("status IN ('proposed', 'confirmed', 'rejected')", name="status"),
        CheckConstraint("direction IN ('downgrade', 'upgrade')", name="direction"),
        # At most one open proposal per loan: COB re-proposes by updating it, never by piling up rows.
        Index("uq_classification_event_open", "loan_id", unique=True,
              postgresql_where=text("status = 'proposed'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan_account.id"), index=True)
    from_class: Mapped[str] = mapped_column(String(20))
    to_class: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    #: dpd, restructuring, contagion, manual_floor, upgrade_request
    trigger: Mapped[str] = mapped_column(String(30))
    dpd: Mapped[int] = mapped_column(Integer, default=0)
    evidence: Mapped[Any] = mapped_column(JSONB, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    business_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
