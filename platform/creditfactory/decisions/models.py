"""Rule-set versions (head-office standard in cf_shared, tenant overlays per tenant) and decision records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, Numeric, String,
                        Text, UniqueConstraint, func)
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


_SIMULATION_STATUSES = "status IN ('queued', 'running', 'done', 'failed')"


class DecisionSimulation(TenantBase):
    """A simulation run (规则模拟): a draft overlay version against the version in force, over stored decisions.

    The population is frozen when the run starts (``first_record_id``..``last_record_id``: the latest stored
    decision of the stage per application in that range), so a redelivered or resumed job sees the same
    applications; ``cursor`` is the last decision record folded into ``results`` (committed together, so a chunk
    is counted once whatever happens to the worker).
    """

    __tablename__ = "decision_simulation"
    __table_args__ = (CheckConstraint(_STAGES, name="stage"), CheckConstraint(_SIMULATION_STATUSES, name="status"),
                      CheckConstraint("done <= total", name="progress"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The draft overlay version simulated (the API calls it ``draft_version_id``).
    draft_id: Mapped[int] = mapped_column(ForeignKey("rule_set_overlay_version.id"))
    stage: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64))
    #: The "current" side: the standard and the overlay (``overlay_id``) in force on ``as_of`` at the start.
    standard_version_id: Mapped[int] = mapped_column(Integer)
    overlay_id: Mapped[int | None] = mapped_column(ForeignKey("rule_set_overlay_version.id"), nullable=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    sample: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    first_record_id: Mapped[int] = mapped_column(Integer, default=0)
    last_record_id: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    #: Bad rate of matured loans per bureau-score band, fixed at the start (the expected bad rate's basis).
    bad_rates: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    #: Running counts per side, swap sets (capped lists and counts).
    results: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DecisionChallenger(TenantBase):
    """The challenger of a stage (champion/challenger in shadow mode): an overlay version evaluated on a share of
    live decisions, recorded, never affecting the outcome. One per stage at most; no row, no cost."""

    __tablename__ = "decision_challenger"
    __table_args__ = (UniqueConstraint("stage"), CheckConstraint(_STAGES, name="stage"),
                      CheckConstraint("share_percent >= 0 AND share_percent <= 100", name="share"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))
    version_id: Mapped[int] = mapped_column(ForeignKey("rule_set_overlay_version.id"))
    #: Share of applications (by a hash of the application id, so an application is always in or always out).
    share_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ShadowDecision(TenantBase):
    """What the challenger would have decided for one live decision (the champion's record), kept for comparison."""

    __tablename__ = "shadow_decision"
    __table_args__ = (CheckConstraint("outcome IN ('pass', 'approve', 'refer', 'decline')", name="outcome"),
                      CheckConstraint(_STAGES, name="stage"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_record_id: Mapped[int] = mapped_column(ForeignKey("decision_record.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stage: Mapped[str] = mapped_column(String(20))
    #: The challenger overlay version that decided.
    version_id: Mapped[int] = mapped_column(ForeignKey("rule_set_overlay_version.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    reason_codes: Mapped[list[str]] = mapped_column(_JSONB)
    effective_hash: Mapped[str] = mapped_column(String(64))
    elapsed_ms: Mapped[float] = mapped_column(Float)
    evaluated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
