"""Rule-set versions (head-office standard in cf_shared, tenant overlays per tenant) and decision records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import SharedBase, TenantBase

_JSONB = JSON().with_variant(JSONB(), "postgresql")
_STAGES = "stage IN ('admission', 'pre_approval', 'approval')"
_STATUSES = "status IN ('draft', 'pending', 'published')"


class StandardRuleSetVersion(SharedBase):
    """One version of a head-office standard rule set (总行标准规则); published versions never change."""

    __tablename__ = "standard_rule_set_version"
    __table_args__ = (UniqueConstraint("code", "version"), CheckConstraint(_STAGES, name="stage"),
                      CheckConstraint(_STATUSES, name="status"),
                      Index("ix_standard_rule_set_version_stage_status", "stage", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: The rule set as authored (:meth:`creditfactory.decisions.engine.RuleSet.as_dict`).
    content: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    content_hash: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RuleSetOverlayVersion(TenantBase):
    """One version of a village bank's overlay on a standard rule set (add, tighten, disable optional rules)."""

    __tablename__ = "rule_set_overlay_version"
    __table_args__ = (UniqueConstraint("code", "version"), CheckConstraint(_STAGES, name="stage"),
                      CheckConstraint(_STATUSES, name="status"),
                      Index("ix_rule_set_overlay_version_stage_status", "stage", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The standard rule set's code this overlays.
    code: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    content: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    content_hash: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    change_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DecisionRecord(TenantBase):
    """One automated decision (自动决策记录), with everything needed to replay and explain it (PIPL art. 24)."""

    __tablename__ = "decision_record"
    __table_args__ = (CheckConstraint(_STAGES, name="stage"),
                      CheckConstraint("outcome IN ('pass', 'approve', 'refer', 'decline')", name="outcome"),
                      CheckConstraint("override_outcome IS NULL OR override_outcome IN "
                                      "('pass', 'approve', 'refer', 'decline')", name="override_outcome"),
                      CheckConstraint("(override_outcome IS NULL) = (override_justification IS NULL)",
                                      name="override_justified"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_application.id"), nullable=True, index=True)
    stage: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    reason_codes: Mapped[list[str]] = mapped_column(_JSONB)
    fired: Mapped[list[dict[str, Any]]] = mapped_column(_JSONB)
    outputs: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    #: The facts as the engine read them (dates as ISO text), so the decision replays without the application.
    facts: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    standard_version_id: Mapped[int] = mapped_column(Integer)
    standard_hash: Mapped[str] = mapped_column(String(64))
    overlay_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_set_overlay_version.id"), nullable=True)
    overlay_hash: Mapped[str] = mapped_column(String(64))
    effective_hash: Mapped[str] = mapped_column(String(64))
    evaluated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    elapsed_ms: Mapped[float] = mapped_column(Float)
    override_outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    override_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    overridden_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overridden_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
