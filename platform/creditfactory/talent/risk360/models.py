"""Employee 360 risk view tables (DOMAIN §5.4), all per tenant: the versioned model (indicators, thresholds, weights,
bands), the employees' authorisations, discipline findings, imported outside signals, hits and scores."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint, func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

DIMENSIONS = ("risk", "compliance", "discipline", "technology")
LEVELS = ("green", "yellow", "orange", "red")
#: What an employee's authorisation covers: credit-bureau summaries (征信) or fund flows with customers (资金往来).
CONSENT_SCOPES = ("bureau", "fund_flows")
FINDING_KINDS = ("audit_finding", "violation", "disciplinary_action", "unauthorised_operation")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EmployeeRiskModel(TenantBase):
    """One version of the bank's 360 model: ``indicators`` (code -> dimension, source, threshold, weight, severity),
    ``dimension_weights`` and the level ``bands``. Never updated: a change is a new version, so every score can be
    recomputed with the version it names."""

    __tablename__ = "employee_risk_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    indicators: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dimension_weights: Mapped[dict[str, str]] = mapped_column(JSONB)
    bands: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployeeRiskConsent(TenantBase):
    """The employee's recorded authorisation (授权) for checks on outside data, with its validity."""

    __tablename__ = "employee_risk_consent"
    __table_args__ = (
        CheckConstraint(_in("scope", CONSENT_SCOPES), name="scope"),
        CheckConstraint("expires_on > granted_on", name="validity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    granted_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    #: Where the signed authorisation is kept (file id, archive number).
    document_ref: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    revoked_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployeeRiskFinding(TenantBase):
    """A discipline record: audit finding, violation points (违规积分), disciplinary action, unauthorised operation."""

    __tablename__ = "employee_risk_finding"
    __table_args__ = (
        CheckConstraint(_in("kind", FINDING_KINDS), name="kind"),
        CheckConstraint("points >= 0", name="points"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    found_on: Mapped[dt.date] = mapped_column(Date)
    points: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(String(1000))
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployeeRiskImport(TenantBase):
    """One accepted import file of outside signals (its rows are ``employee_risk_signal``)."""

    __tablename__ = "employee_risk_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployeeRiskSignal(TenantBase):
    """An outside value (bureau summary, fund flow) for one employee, indicator and period; a later import of the
    same key replaces the value."""

    __tablename__ = "employee_risk_signal"
    __table_args__ = (UniqueConstraint("employee_id", "period", "indicator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    indicator: Mapped[str] = mapped_column(String(60))
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    evidence: Mapped[str] = mapped_column(String(1000), default="")
    import_id: Mapped[int] = mapped_column(ForeignKey("employee_risk_import.id"), index=True)


class EmployeeRiskHit(TenantBase):
    """An indicator over its threshold for an employee in a period, with the figures and evidence behind it and the
    weight and severity it carried (copied from the model version, so the score is reproducible from hits)."""

    __tablename__ = "employee_risk_hit"
    __table_args__ = (
        UniqueConstraint("employee_id", "period", "indicator"),
        CheckConstraint(_in("dimension", DIMENSIONS), name="dimension"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    indicator: Mapped[str] = mapped_column(String(60))
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    threshold: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    weight: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    severity: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    #: ``{"source": ..., "items": [...]}``: audit entries, loans, sessions, findings or the import row behind it.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    model_version: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmployeeRiskScore(TenantBase):
    """The employee's 360 score of a period: per dimension, total and level, with the model version used."""

    __tablename__ = "employee_risk_score"
    __table_args__ = (
        UniqueConstraint("employee_id", "period"),
        CheckConstraint(_in("level", LEVELS), name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    dims: Mapped[dict[str, str]] = mapped_column(JSONB)
    total: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    level: Mapped[str] = mapped_column(String(10))
    model_version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
