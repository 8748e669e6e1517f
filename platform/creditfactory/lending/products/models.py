"""A village bank's loan products; each row is one immutable version of one product code."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase


class Product(TenantBase):
    """One version of a product the bank offers (``code`` + ``version``); applications point at the version."""

    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Stable code of the product across versions, e.g. ``biz_standard`` or ``yn_grass_loan``.
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
