"""Shared reporting tables: KPI snapshots (aggregates only, never personal data) and each tenant's capital."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from typing import Any

from ..db import SharedBase


class KpiSnapshot(SharedBase):
    """One KPI of one tenant for one period. Long format: a KPI that cannot be computed yet (cold-visit success
    before marketing exists, a ratio over an empty denominator) is a row with ``value`` NULL, never a zero."""

    __tablename__ = "kpi_snapshot"
    __table_args__ = (
        UniqueConstraint("tenant_slug", "period_kind", "period_start", "metric"),
        CheckConstraint("period_kind IN ('day', 'month')", name="period_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenant.slug", ondelete="CASCADE"))
    period_kind: Mapped[str] = mapped_column(String(5))
    #: The day, or the first day of the month.
    period_start: Mapped[dt.date] = mapped_column(Date)
    #: The last business date the figures include (a month still running is refreshed daily).
    as_of: Mapped[dt.date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(40))
    value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6), nullable=True)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantCapital(SharedBase):
    """A village bank's net capital and its prudential limits (DOMAIN §3.2 defaults), for concentration reports."""

    __tablename__ = "tenant_capital"
    __table_args__ = (CheckConstraint("net_capital >= 0", name="net_capital"),)

    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenant.slug", ondelete="CASCADE"), primary_key=True)
    net_capital: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    #: Loans to one borrower / net capital: village banks ≤ 5% (村镇银行管理暂行规定).
    single_borrower_limit: Mapped[Decimal] = mapped_column(Numeric(12, 8), default=Decimal("0.05"))
    #: Credit to one group client / net capital: village banks ≤ 10%.
    single_group_limit: Mapped[Decimal] = mapped_column(Numeric(12, 8), default=Decimal("0.10"))
    npl_ratio_limit: Mapped[Decimal] = mapped_column(Numeric(12, 8), default=Decimal("0.05"))
    #: Provision coverage floor, set per bank between 120% and 150% ("一行一策").
    provision_coverage_min: Mapped[Decimal] = mapped_column(Numeric(12, 8), default=Decimal("1.50"))
    #: Loan-provision ratio floor, between 1.5% and 2.5%.
    loan_provision_ratio_min: Mapped[Decimal] = mapped_column(Numeric(12, 8), default=Decimal("0.025"))
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class RegulatorySnapshot(SharedBase):
    """One tenant's regulator document (``reporting.regulatory``) as of a business date: aggregates, plus the
    largest borrowers by internal customer id."""

    __tablename__ = "regulatory_snapshot"

    tenant_slug: Mapped[str] = mapped_column(ForeignKey("tenant.slug", ondelete="CASCADE"), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ConsoleTask(SharedBase):
    """Long work started from the head-office console or the regulator portal (provisioning a bank, a large
    report): its progress, shown by a page that polls it, and where its result file is kept."""

    __tablename__ = "console_task"
    __table_args__ = (CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``provision`` or ``regulatory_report``.
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    step: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=1)
    #: A msgid of the job's step (translated where it is shown) with ``message_args``, or an error's text.
    message: Mapped[str] = mapped_column(Text, default="")
    message_args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    #: File-store key and download name of the result (reports), empty until done.
    result_key: Mapped[str] = mapped_column(String(200), default="")
    result_name: Mapped[str] = mapped_column(String(200), default="")
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    #: The context (head office, regulator) whose permission reads the task.
    context: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())
