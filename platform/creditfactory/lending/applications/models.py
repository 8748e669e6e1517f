"""Loan applications: one row per case, from intake to contract."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase


class LoanApplication(TenantBase):
    """A customer's request for a loan under one product version; ``state`` follows DOMAIN §2.2."""

    __tablename__ = "loan_application"

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
