"""A village bank's customers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

#: Kinds of customer the micro-credit process serves (DOMAIN §4.3).
CUSTOMER_KINDS = ("individual", "household", "micro_enterprise")


class Customer(TenantBase):
    """An individual business owner (个体工商户), a household (农户) or a micro enterprise (小微企业)."""

    __tablename__ = "customer"
    __table_args__ = (CheckConstraint("kind IN ('individual', 'household', 'micro_enterprise')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: The person's or enterprise's name as on the ID document or business licence.
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
