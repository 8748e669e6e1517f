"""Tenant registry (shared) and the per-tenant base tables every village bank has."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import SharedBase, TenantBase


class TenantStatus(str, enum.Enum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDING = "offboarding"
    OFFBOARDED = "offboarded"
    FAILED = "failed"


#: Statuses whose schema exists and must be kept migrated.
STATUSES_WITH_SCHEMA = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.OFFBOARDING)


def _status_check(column: str) -> str:
    values = ", ".join(f"'{s.value}'" for s in TenantStatus)
    return f"{column} IN ({values})"


class Tenant(SharedBase):
    """A village bank (村镇银行): one legal entity, one schema ``t_<slug>``."""

    __tablename__ = "tenant"
    __table_args__ = (CheckConstraint(_status_check("status"), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(31), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: 法人编号: the legal-entity code the regulator knows the bank by.
    legal_entity_code: Mapped[str] = mapped_column(String(40), unique=True)
    province: Mapped[str] = mapped_column(String(60))
    city: Mapped[str] = mapped_column(String(60), default="")
    county: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.PROVISIONING.value)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    cluster: Mapped[str] = mapped_column(String(31), default="default")
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(20), default="zh_Hans_CN")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    #: Where the offboarding export was written, and when the schema may be dropped.
    export_path: Mapped[str] = mapped_column(Text, default="")
    drop_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class TenantMigration(SharedBase):
    """Ledger of each tenant schema's Alembic revision, as last seen by the orchestrator."""

    __tablename__ = "tenant_migration"

    tenant_id: Mapped[int] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), primary_key=True)
    revision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class TenantParameter(TenantBase):
    """A tenant's own configuration value (regional parameter), keyed by a dotted name."""

    __tablename__ = "tenant_parameter"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class Holiday(TenantBase):
    """A non-business day in the tenant's calendar (local festivals differ between counties)."""

    __tablename__ = "holiday"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
