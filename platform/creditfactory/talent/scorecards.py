"""Loan-officer KPI scorecards (DOMAIN §5.2), computed set-based from the bank's own loans in one statement.

An officer's portfolio is every loan whose application names them (``loan_application.officer_id``, a platform user)
and the employee linked to that user. Period figures (loans and amount disbursed, interest collected) count the
month; balances and quality (managed balance, customers, overdue and NPL ratio, first-payment defaults) are read at
the moment of computation, so the monthly job run at month end records them as of that day (``as_of``).

Score = 100 × Σ wᵢ × normalised(kpiᵢ) / Σ wᵢ, where normalised = min(value / target, 1) for "higher is better"
KPIs and max(0, 1 − value / target) for "lower is better" ones (a ratio at or above its target scores 0).
Quality gate: an officer whose own NPL ratio is above ``npl_gate`` may not be promoted (checked by evaluations).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .. import audit
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..lending.classification.models import NPL_CLASSES
from ..lending.cob.dates import business_date
from ..reporting import kpis as reporting_kpis
from .models import Employee, OfficerScorecard, ScorecardDefinition

KPIS = ("loans_disbursed", "amount_disbursed", "managed_balance", "customers", "interest_contribution",
        "overdue_ratio", "npl_ratio", "first_payment_defaults", "rework_rate", "turnaround_days")
#: [R] defaults (no source gives weights or targets): each bank sets its own version.
DEFAULT_DEFINITION = {
    "kpis": {
        "loans_disbursed": {"weight": "0.20", "target": "6", "direction": "higher"},
        "amount_disbursed": {"weight": "0.15", "target": "1000000", "direction": "higher"},
        "managed_balance": {"weight": "0.15", "target": "6000000", "direction": "higher"},
        "customers": {"weight": "0.10", "target": "60", "direction": "higher"},
        "interest_contribution": {"weight": "0.10", "target": "30000", "direction": "higher"},
        "overdue_ratio": {"weight": "0.10", "target": "0.05", "direction": "lower"},
        "npl_ratio": {"weight": "0.15", "target": "0.03", "direction": "lower"},
        "first_payment_defaults": {"weight": "0.05", "target": "2", "direction": "lower"},
        # Process quality: defined and shown, weighted 0 by default (a bank gives them weight in its own version).
        "rework_rate": {"weight": "0", "target": "0.30", "direction": "lower"},
        "turnaround_days": {"weight": "0", "target": "5", "direction": "lower"},
    },
    "npl_gate": "0.03",
}
#: The bank's day boundaries for state-history timestamps, as reporting counts them.
TIMEZONE = "Asia/Shanghai"
CENT = Decimal("0.01")
RATIO = Decimal("0.00000001")


class ScorecardError(ValueError):
    pass


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    try:
        year, month = (int(x) for x in period.split("-"))
        start = dt.date(year, month, 1)
    except (ValueError, TypeError):
        from ..errors import DomainError
        raise DomainError(f"period {period!r} is a month, YYYY-MM") from None
    return start, dt.date(year, month, calendar.monthrange(year, month)[1])


def validate_definition(doc: dict[str, Any]) -> dict[str, Any]:
    from ..errors import DomainError

    kpis = doc.get("kpis") or {}
    unknown = set(kpis) - set(KPIS)
    if unknown:
        raise DomainError(f"unknown KPI(s): {', '.join(sorted(unknown))}; known: {', '.join(KPIS)}")
    clean = {}
    for name, item in kpis.items():
        try:
            weight, target = Decimal(str(item["weight"])), Decimal(str(item["target"]))
        except (KeyError, InvalidOperation, TypeError):
            raise DomainError(f"{name}: weight and target are numbers") from None
        if weight < 0 or target <= 0:
            raise DomainError(f"{name}: weight >= 0 and target > 0")
        if item.get("direction") not in ("higher", "lower"):
            raise DomainError(f"{name}: direction is higher or lower")
        clean[name] = {"weight": str(weight), "target": str(target), "direction": item["direction"]}
    if not clean or sum(Decimal(k["weight"]) for k in clean.values()) <= 0:
        raise DomainError("a scorecard weighs at least one KPI")
    try:
        gate = Decimal(str(doc.get("npl_gate")))
    except InvalidOperation:
        raise DomainError("npl_gate is a ratio") from None
    if not Decimal(0) <= gate <= Decimal(1):
        raise DomainError("npl_gate is a ratio between 0 and 1")
    return {"kpis": clean, "npl_gate": str(gate)}


def current_definition(session: Session) -> ScorecardDefinition:
    """The bank's newest scorecard version; version 1 is the default, written on first use."""
    definition = session.scalars(select(ScorecardDefinition).order_by(ScorecardDefinition.version.desc())).first()
    if definition is None:
        doc = validate_definition(DEFAULT_DEFINITION)
        definition = ScorecardDefinition(version=1, kpis=doc["kpis"], npl_gate=Decimal(doc["npl_gate"]))
        session.add(definition)
        session.flush()
    return definition


def set_definition(session: Session, doc: dict[str, Any]) -> ScorecardDefinition:
    """A new version of the bank's scorecard (older scorecards keep the version they were computed with)."""
    authorize(Permission.TALENT_MANAGE)
    doc = validate_definition(doc)
    old = current_definition(session)
    new = ScorecardDefinition(version=old.version + 1, kpis=doc["kpis"], npl_gate=Decimal(doc["npl_gate"]))
    session.add(new)
    session.flush()
    audit.record(session, "talent.scorecard.define", object_type="scorecard_definition", object_id=new.version,
                 before={"kpis": old.kpis, "npl_gate": old.npl_gate}, after=doc)
    return new


_FIGURES = text(f"""
WITH officer AS (
    SELECT e.id AS employee_id, e.user_id FROM employee e
    LEFT JOIN job_grade g ON g.id = e.grade_id LEFT JOIN job_family f ON f.id = g.family_id
    WHERE e.status = 'active' AND e.user_id IS NOT NULL
      AND (f.code = 'AM' OR EXISTS (SELECT 1 FROM loan_application a WHERE a.officer_id = e.user_id))
), book AS (
    SELECT o.employee_id, l.id, l.customer_id, l.principal_amount, l.principal_outstanding, l.dpd, l.risk_class,
           l.disbursed_on, l.state = ANY(CAST(:open_states AS text[])) AS open
    FROM officer o JOIN loan_application a ON a.officer_id = o.user_id JOIN loan_account l ON l.application_id = a.id
), interest AS (
    SELECT b.employee_id, sum(t.interest) AS collected FROM book b JOIN loan_transaction t ON t.loan_id = b.id
    WHERE t.kind IN ('repayment', 'payoff') AND NOT t.reversed AND t.business_date BETWEEN :start AND :end
    GROUP BY b.employee_id
), first_due AS (
    SELECT b.employee_id, count(*) AS defaults FROM book b
    JOIN loan_installment i ON i.loan_id = b.id AND i.version = 1 AND i.seq = 1
    WHERE i.due_date < :as_of AND (i.status IN ('overdue', 'partial') OR i.paid_on > i.due_date)
    GROUP BY b.employee_id
), hist AS (
    SELECT o.employee_id, h.application_id, h.event, h.to_state, h.entered_at,
           (h.entered_at AT TIME ZONE :tz)::date AS day
    FROM officer o JOIN loan_application a ON a.officer_id = o.user_id
    JOIN application_state_history h ON h.application_id = a.id
), rework AS (
    SELECT employee_id, count(*) FILTER (WHERE event IN ('return', 'committee_return')) AS returns,
           count(*) FILTER (WHERE event = 'submit') AS submissions
    FROM hist WHERE day BETWEEN :start AND :end GROUP BY employee_id
), turnaround AS (
    -- reporting's turnaround (first state-history row → DISBURSED), per officer
    SELECT d.employee_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.entered_at - f.first_at) / 86400.0) AS days
    FROM hist d JOIN (SELECT application_id, min(entered_at) AS first_at FROM hist GROUP BY application_id) f
      ON f.application_id = d.application_id
    WHERE d.to_state = 'DISBURSED' AND d.day BETWEEN :start AND :end
    GROUP BY d.employee_id
)
SELECT o.employee_id,
       count(b.id) FILTER (WHERE b.disbursed_on BETWEEN :start AND :end) AS loans_disbursed,
       coalesce(sum(b.principal_amount) FILTER (WHERE b.disbursed_on BETWEEN :start AND :end), 0) AS amount_disbursed,
       coalesce(sum(b.principal_outstanding) FILTER (WHERE b.open), 0) AS managed_balance,
       count(DISTINCT b.customer_id) FILTER (WHERE b.open) AS customers,
       coalesce(max(i.collected), 0) AS interest_contribution,
       coalesce(sum(b.principal_outstanding) FILTER (WHERE b.open AND b.dpd > 0), 0) AS overdue_balance,
       coalesce(sum(b.principal_outstanding) FILTER (WHERE b.open AND b.risk_class IN
           ({', '.join(repr(c) for c in NPL_CLASSES)})), 0) AS npl_balance,
       coalesce(max(f.defaults), 0) AS first_payment_defaults,
       coalesce(max(r.returns), 0) AS returns, coalesce(max(r.submissions), 0) AS submissions,
       max(ta.days) AS turnaround_days
FROM officer o LEFT JOIN book b ON b.employee_id = o.employee_id
LEFT JOIN interest i ON i.employee_id = o.employee_id LEFT JOIN first_due f ON f.employee_id = o.employee_id
LEFT JOIN rework r ON r.employee_id = o.employee_id LEFT JOIN turnaround ta ON ta.employee_id = o.employee_id
GROUP BY o.employee_id ORDER BY o.employee_id
""")


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(RATIO, ROUND_HALF_UP) if whole else Decimal(0)


def score(kpis: dict[str, Any], figures: dict[str, Any]) -> Decimal:
    """A KPI without a value in the month (no submissions, no disbursement: NULL) is left out, weight included."""
    total = weights = Decimal(0)
    for name, item in kpis.items():
        if figures.get(name) is None:
            continue
        weight, target, value = Decimal(item["weight"]), Decimal(item["target"]), Decimal(figures[name])
        normalised = min(value / target, Decimal(1)) if item["direction"] == "higher" \
            else max(Decimal(0), Decimal(1) - value / target)
        total += weight * normalised
        weights += weight
    return (Decimal(100) * total / weights).quantize(CENT, ROUND_HALF_UP) if weights else Decimal("0.00")


def compute(session: Session, period: str) -> list[OfficerScorecard]:
    """(Re)compute every officer's scorecard of ``period`` (upsert: running it twice leaves the same rows).

    Checks no permission: the monthly job and ``recompute`` (which authorizes) build on it."""
    start, end = period_bounds(period)
    as_of = business_date(session)
    definition = current_definition(session)
    rows = session.execute(_FIGURES, {"start": start, "end": end, "as_of": as_of, "tz": TIMEZONE,
                                      "open_states": list(reporting_kpis.OPEN_STATES)}).mappings().all()
    existing = {c.employee_id: c for c in session.scalars(select(OfficerScorecard)
                                                          .where(OfficerScorecard.period == period))}
    out = []
    for row in rows:
        figures = {"loans_disbursed": row["loans_disbursed"], "amount_disbursed": row["amount_disbursed"],
                   "managed_balance": row["managed_balance"], "customers": row["customers"],
                   "interest_contribution": row["interest_contribution"],
                   "overdue_ratio": _ratio(row["overdue_balance"], row["managed_balance"]),
                   "npl_ratio": _ratio(row["npl_balance"], row["managed_balance"]),
                   "first_payment_defaults": row["first_payment_defaults"],
                   "rework_rate": _ratio(row["returns"], row["submissions"]) if row["submissions"] else None,
                   "turnaround_days": None if row["turnaround_days"] is None
                   else Decimal(str(row["turnaround_days"])).quantize(Decimal("0.000001"))}
        card = existing.get(row["employee_id"]) or OfficerScorecard(period=period, employee_id=row["employee_id"])
        for name, value in figures.items():
            setattr(card, name, value)
        card.definition_version, card.as_of = definition.version, as_of
        card.kpi_score = score(definition.kpis, figures)
        card.promotion_blocked = figures["npl_ratio"] > definition.npl_gate
        session.add(card)
        out.append(card)
    session.flush()
    return out


def recompute(session: Session, period: str) -> list[OfficerScorecard]:
    authorize(Permission.TALENT_MANAGE)
    cards = compute(session, period)
    audit.record(session, "talent.scorecard.compute", object_type="officer_scorecard", object_id=period,
                 after={"officers": len(cards)})
    return cards


def scorecards(session: Session, period: str) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    period_bounds(period)
    numbers = dict(session.execute(select(Employee.id, Employee.employee_no)).all())
    names = dict(session.execute(select(Employee.id, Employee.name)).all())
    cards = session.scalars(select(OfficerScorecard).where(OfficerScorecard.period == period)
                            .order_by(OfficerScorecard.kpi_score.desc(), OfficerScorecard.employee_id))
    return [{"employee_no": numbers[c.employee_id], "name": names[c.employee_id], "period": c.period,
             "as_of": c.as_of, "definition_version": c.definition_version,
             **{k: getattr(c, k) for k in KPIS}, "kpi_score": c.kpi_score, "promotion_blocked": c.promotion_blocked}
            for c in cards]


def latest_blocks_promotion(session: Session, employee_id: int) -> OfficerScorecard | None:
    """The officer's newest scorecard when it blocks promotion (own NPL above the gate), else None."""
    card = session.scalars(select(OfficerScorecard).where(OfficerScorecard.employee_id == employee_id)
                           .order_by(OfficerScorecard.period.desc())).first()
    return card if card is not None and card.promotion_blocked else None


# --- officer productivity, exactly as reporting defines it ------------------------------------------------------

#: Per officer (platform user) the two terms of reporting's productivity KPIs (``reporting.kpis``): loans disbursed
#: in the period (``loan_account.disbursed_on``, the application names the officer), whether the officer counts as
#: active in the period (any state change of one of their applications that day range, in the bank's time zone),
#: and the outstanding principal of their open loans (``reporting.kpis.OPEN_STATES``). Summed over officers they
#: give reporting's ``loans_per_officer`` = loans / active officers and ``portfolio_per_officer`` = portfolio /
#: officers with a portfolio; tests/test_talent_scorecards.py checks both against reporting's own computation.
_PRODUCTIVITY = text("""
WITH officer AS (
    SELECT DISTINCT officer_id FROM loan_application WHERE officer_id IS NOT NULL
)
SELECT o.officer_id,
       (SELECT count(*) FROM loan_account l JOIN loan_application a ON a.id = l.application_id
         WHERE a.officer_id = o.officer_id AND l.disbursed_on BETWEEN :start AND :end) AS loans,
       EXISTS (SELECT 1 FROM application_state_history h JOIN loan_application a ON a.id = h.application_id
         WHERE a.officer_id = o.officer_id
           AND (h.entered_at AT TIME ZONE :tz)::date BETWEEN :start AND :end) AS active,
       (SELECT coalesce(sum(l.principal_outstanding), 0) FROM loan_account l
          JOIN loan_application a ON a.id = l.application_id
         WHERE a.officer_id = o.officer_id AND l.state = ANY(CAST(:open_states AS text[]))) AS portfolio,
       EXISTS (SELECT 1 FROM loan_account l JOIN loan_application a ON a.id = l.application_id
         WHERE a.officer_id = o.officer_id AND l.state = ANY(CAST(:open_states AS text[]))) AS has_portfolio
FROM officer o ORDER BY o.officer_id
""")


def productivity(session: Session, period: str) -> dict[str, Any]:
    """Loans per officer in the month and portfolio per officer, bank-wide and per officer, by reporting's
    definitions (a running month counts up to the business date, as reporting's monthly snapshot does)."""
    authorize(Permission.TALENT_READ)
    start, end = period_bounds(period)
    _, end = reporting_kpis.period_window("month", start, business_date(session))
    rows = session.execute(_PRODUCTIVITY, {"start": start, "end": end, "tz": TIMEZONE,
                                           "open_states": list(reporting_kpis.OPEN_STATES)}).mappings().all()
    active = [r for r in rows if r["active"]]
    holding = [r for r in rows if r["has_portfolio"]]
    loans = sum(r["loans"] for r in rows)
    portfolio = sum((Decimal(r["portfolio"]) for r in rows), Decimal(0))
    employees = dict(session.execute(select(Employee.user_id, Employee.employee_no)
                                     .where(Employee.user_id.is_not(None))).all())
    names = dict(session.execute(select(Employee.user_id, Employee.name).where(Employee.user_id.is_not(None))).all())
    # reporting's own ratio (NULL on an empty denominator, 6 decimals), so the figures compare equal.
    return {
        "period": period, "start": start, "end": end,
        "loans_per_officer": reporting_kpis._ratio(loans, len(active)),
        "portfolio_per_officer": reporting_kpis._ratio(portfolio, len(holding)),
        "officers": len(active),
        "per_officer": [{"user_id": r["officer_id"], "employee_no": employees.get(r["officer_id"]),
                         "name": names.get(r["officer_id"]), "loans": r["loans"], "active": r["active"],
                         "portfolio": Decimal(r["portfolio"])} for r in rows],
    }
