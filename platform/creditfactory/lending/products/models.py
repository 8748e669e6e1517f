"""Loan products: head-office templates (shared, immutable versions) and each village bank's adopted versions."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import SharedBase, TenantBase

_JSONB = JSON().with_variant(JSONB(), "postgresql")


class ProductStatus(str, enum.Enum):
    #: The version new applications use (one per code).
    ACTIVE = "active"
    #: Replaced by a later version; applications made under it keep pointing at it.
    SUPERSEDED = "superseded"


class ProductTemplate(SharedBase):
    """One published version of a head-office standard product (标准产品模板); never changed once published."""

    __tablename__ = "product_template"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    #: The canonical terms document (``terms.terms_document``).
    terms: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    #: ``file:<path>`` for tenants-as-code, ``api:<username>`` for the API.
    source: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Product(TenantBase):
    """One version of a product the bank offers (``code`` + ``version``); applications point at the version.

    A version is immutable once written: a change is a new version, and only ``status`` moves (active →
    superseded). ``template_code``/``template_version`` name the head-office template it adopts (both NULL for
    a tenant-only regional product); ``overrides`` is the bank's partial terms document over the template's and
    ``terms`` the effective terms.
    """

    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        CheckConstraint("status IN ('active', 'superseded')", name="status"),
        CheckConstraint("(template_code IS NULL) = (template_version IS NULL)", name="template_pair"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Stable code of the product across versions, e.g. ``biz_standard`` or ``yn_grass_loan``.
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    template_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(20), server_default=text("'active'"))
    terms: Mapped[dict[str, Any]] = mapped_column(_JSONB, server_default=text("'{}'"))
    overrides: Mapped[dict[str, Any]] = mapped_column(_JSONB, server_default=text("'{}'"))
    #: The approved change request that made this version; NULL when applied from tenants/ by the operator.
    change_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
