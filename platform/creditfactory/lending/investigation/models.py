"""Investigation worksheet tables (贷前调查): visits, photos, versioned worksheets and analysis snapshots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

_JSONB = JSON().with_variant(JSONB(), "postgresql")


class InvestigationVisit(TenantBase):
    """An on-site visit (望闻问切): who went, when, where (GPS), what they noted.

    Officers are staff users (``cf_shared``); tenant tables name them by id and username without a foreign key,
    since tenant keys stay inside the tenant's schema (ARCHITECTURE §2).
    """

    __tablename__ = "investigation_visit"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(Integer)
    officer: Mapped[str] = mapped_column(String(100))
    second_officer_id: Mapped[int | None] = mapped_column(Integer)
    second_officer: Mapped[str | None] = mapped_column(String(100))
    visited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    #: Accuracy of the GPS fix in metres, as the device reported it.
    location_accuracy_m: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: Who recorded the visit (the acting principal's username).
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InvestigationPhoto(TenantBase):
    """A photo of premises, stock or household: the file lives in the file store under its SHA-256 key."""

    __tablename__ = "investigation_photo"
    __table_args__ = (
        UniqueConstraint("visit_id", "sha256"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("investigation_visit.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    #: What it shows: premises, stock, household, document, other.
    subject: Mapped[str] = mapped_column(String(20))
    caption: Mapped[str] = mapped_column(String(500), default="")
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InvestigationWorksheet(TenantBase):
    """One saved version of an application's worksheet (statements, P&L months, seasonality, evidence, answers).

    Versions are never updated: each save appends the next version, so the committee sees what changed.
    """

    __tablename__ = "investigation_worksheet"
    __table_args__ = (UniqueConstraint("application_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    #: Complete enough to move the case to ANALYSED (analysis.is_complete).
    complete: Mapped[bool] = mapped_column(Boolean)
    investigator_id: Mapped[int | None] = mapped_column(Integer)
    investigator: Mapped[str] = mapped_column(String(100))
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InvestigationAnalysis(TenantBase):
    """The analysis computed from one worksheet version with the parameters then in force (a frozen snapshot)."""

    __tablename__ = "investigation_analysis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worksheet_id: Mapped[int] = mapped_column(ForeignKey("investigation_worksheet.id"), unique=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    result: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    max_loan: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    escalate: Mapped[bool] = mapped_column(Boolean)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
