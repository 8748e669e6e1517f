"""Talent and organisation (DOMAIN §5): org units, teams, employees and their moves, the dual-track ladder,
evaluations. All tenant tables: each village bank has its own organisation and its own adopted ladder."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint, func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import TenantBase

ORG_UNIT_KINDS = ("head_office", "branch", "sub_branch", "department")
TEAM_KINDS = ("functional", "agile")
TEAM_SIDES = ("business", "technology")
TRACKS = ("management", "professional")
MOVE_KINDS = ("hire", "transfer", "position", "manager", "grade", "track_transfer", "exit")
DECISIONS = ("promote", "keep", "demote", "exit_track")
EVALUATION_STATUSES = ("draft", "pending", "applied", "rejected")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrgUnit(TenantBase):
    """Head office (总行/本行), branch (支行), sub-branch (分理处) or department (部门); a tree by ``parent_id``."""

    __tablename__ = "org_unit"
    __table_args__ = (CheckConstraint(_in("kind", ORG_UNIT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobFamily(TenantBase):
    """A job family on the management or a professional track (§5.1), adopted from the standard ladder."""

    __tablename__ = "job_family"
    __table_args__ = (CheckConstraint(_in("track", TRACKS), name="track"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    track: Mapped[str] = mapped_column(String(20))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class JobGrade(TenantBase):
    """A grade with its job standard (岗位说明/任职资格): duties, certificates, required KPIs, head-count cap (职数),
    and the management grade it maps to (``maps_to``, for track transfers)."""

    __tablename__ = "job_grade"
    __table_args__ = (
        UniqueConstraint("family_id", "rank"),
        CheckConstraint("min_tenure_months >= 0", name="min_tenure"),
        CheckConstraint("headcount_cap IS NULL OR headcount_cap >= 0", name="headcount_cap"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("job_family.id"))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    rank: Mapped[int] = mapped_column(Integer)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    min_tenure_months: Mapped[int] = mapped_column(Integer, default=0)
    headcount_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``{"duties": [...], "certificates": [...], "required_kpis": {name: "decimal"}}``
    standard: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    maps_to: Mapped[str | None] = mapped_column(String(20), nullable=True)


class Employee(TenantBase):
    """A member of staff; ``user_id`` is the platform user (cf_shared.user_account) where they have one."""

    __tablename__ = "employee"
    __table_args__ = (CheckConstraint("status IN ('active', 'left')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: No foreign key across schemas; unique so one login is one person.
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    position: Mapped[str] = mapped_column(String(200), default="")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id"), nullable=True, index=True)
    grade_id: Mapped[int | None] = mapped_column(ForeignKey("job_grade.id"), nullable=True, index=True)
    hired_on: Mapped[dt.date] = mapped_column(Date)
    grade_since: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    #: The step of the grade's pay band the employee is paid at (1 = the band's first step).
    pay_step: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class EmployeeMove(TenantBase):
    """The history of an employee: hires, transfers, position and manager changes, grade changes, exits."""

    __tablename__ = "employee_move"
    __table_args__ = (CheckConstraint(_in("kind", MOVE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    before: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    reason: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Team(TenantBase):
    """A team; ``agile`` teams are cross-functional (business + technology members) and serve a ``domain``."""

    __tablename__ = "team"
    __table_args__ = (CheckConstraint(_in("kind", TEAM_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(200), default="")
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), nullable=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("employee.id"), nullable=True)


class TeamMember(TenantBase):
    __tablename__ = "team_member"
    __table_args__ = (CheckConstraint(_in("side", TEAM_SIDES), name="side"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), primary_key=True, index=True)
    side: Mapped[str] = mapped_column(String(20))


class EvaluationCycle(TenantBase):
    """An evaluation round (等级评定), e.g. the annual one; its evaluations take effect on ``effective_date``."""

    __tablename__ = "evaluation_cycle"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    period: Mapped[str] = mapped_column(String(20))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    #: Weights of exam, KPI and competency in the total (sum 1).
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="open")


class Evaluation(TenantBase):
    """One employee's evaluation in a cycle and the committee decision; applied only after a second person approves
    (maker-checker kind ``talent.evaluation.decide``)."""

    __tablename__ = "evaluation"
    __table_args__ = (
        UniqueConstraint("cycle_id", "employee_id"),
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
        CheckConstraint(_in("status", EVALUATION_STATUSES), name="status"),
        CheckConstraint("exam_score BETWEEN 0 AND 100 AND kpi_score BETWEEN 0 AND 100 "
                        "AND competency_score BETWEEN 0 AND 100", name="scores"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("evaluation_cycle.id"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    exam_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    kpi_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    competency_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    total_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    decision: Mapped[str] = mapped_column(String(20))
    from_grade_id: Mapped[int | None] = mapped_column(ForeignKey("job_grade.id"), nullable=True)
    to_grade_id: Mapped[int | None] = mapped_column(ForeignKey("job_grade.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    change_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScorecardDefinition(TenantBase):
    """The bank's loan-officer KPI scorecard (DOMAIN §5.2), versioned: each change is a new row, never an update.

    ``kpis``: ``{name: {"weight": "0.2", "target": "10", "direction": "higher"|"lower"}}``; ``npl_gate``: the own
    NPL ratio above which an officer may not be promoted."""

    __tablename__ = "scorecard_definition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    kpis: Mapped[dict[str, Any]] = mapped_column(JSONB)
    npl_gate: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OfficerScorecard(TenantBase):
    """One officer's KPIs for a month, computed set-based from the bank's loans by ``talent.scorecards``."""

    __tablename__ = "officer_scorecard"
    __table_args__ = (UniqueConstraint("period", "employee_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    definition_version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[dt.date] = mapped_column(Date)
    loans_disbursed: Mapped[int] = mapped_column(Integer)
    amount_disbursed: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    managed_balance: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    customers: Mapped[int] = mapped_column(Integer)
    interest_contribution: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    overdue_ratio: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    npl_ratio: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    first_payment_defaults: Mapped[int] = mapped_column(Integer)
    #: Returns to investigation (reviewer or committee) / submissions to review, in the month; NULL without any.
    rework_rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 8), nullable=True)
    #: Median days application → disbursed of the officer's loans disbursed in the month; NULL without any.
    turnaround_days: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    kpi_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    promotion_blocked: Mapped[bool] = mapped_column(Boolean)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CompetencyDimension(TenantBase):
    """A competency dimension (e.g. credit analysis) with a behavioural anchor for each level 1..5, adopted from the
    head office's competency model (§5.1 ``CompetencyModel``).

    ``family_code``: the job family it applies to, or NULL for every family. ``anchors``: ``{"1": {"zh", "en"}, ...
    "5": {...}}``. ``required_levels``: ``{grade_code: level}``, the level a grade expects (its competency profile)."""

    __tablename__ = "competency_dimension"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    family_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    anchors: Mapped[dict[str, Any]] = mapped_column(JSONB)
    required_levels: Mapped[dict[str, Any]] = mapped_column(JSONB)
    template_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EvaluationCompetency(TenantBase):
    """The level (1..5, by the dimension's anchors) an evaluation gave on one competency dimension."""

    __tablename__ = "evaluation_competency"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="level"),)

    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id", ondelete="CASCADE"), primary_key=True)
    dimension_id: Mapped[int] = mapped_column(ForeignKey("competency_dimension.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)


class PayBand(TenantBase):
    """A grade's broadband (§5.3 ``PayBand``): minimum, midpoint, maximum and the monthly base pay of each step."""

    __tablename__ = "pay_band"
    __table_args__ = (CheckConstraint("minimum <= midpoint AND midpoint <= maximum", name="order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade_id: Mapped[int] = mapped_column(ForeignKey("job_grade.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    minimum: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    midpoint: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    maximum: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    #: Step amounts as decimal strings, step 1 first, each within minimum..maximum and not falling.
    steps: Mapped[list[str]] = mapped_column(JSONB)


class PayPolicy(TenantBase):
    """The bank's variable-pay parameters (§5.3), versioned like the scorecard: each change is a new row."""

    __tablename__ = "pay_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OfficerPay(TenantBase):
    """One officer's pay of a month: base pay from the band step, variable pay = base bonus × KPI score × quality
    multiplier, the part paid now and the deferred part, the clawback flag, and how each figure was reached."""

    __tablename__ = "officer_pay"
    __table_args__ = (UniqueConstraint("period", "employee_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employee.id"), index=True)
    policy_version: Mapped[int] = mapped_column(Integer)
    base_pay: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), nullable=True)
    base_bonus: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    kpi_score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    quality_multiplier: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    variable_pay: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    paid_now: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    deferred: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    deferred_until: Mapped[dt.date] = mapped_column(Date)
    clawback: Mapped[bool] = mapped_column(Boolean)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
