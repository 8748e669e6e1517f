"""Close-of-business state per tenant: the business date and the steps done for each date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, Integer, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase


class CobState(TenantBase):
    """The tenant's servicing business date (one row). COB closes ``business_date`` and advances it."""

    __tablename__ = "cob_state"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False, default=1)
    business_date: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class CobStep(TenantBase):
    """Marker of one finished step of one business date, written in the step's own transaction."""

    __tablename__ = "cob_step"

    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    step: Mapped[str] = mapped_column(String(30), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    millis: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
