"""Pay (DOMAIN §5.3): pay bands per grade with steps, and the variable pay of loan officers.

Variable pay = base bonus × KPI score / 100 × quality multiplier, where the quality multiplier is the product of the
NPL multiplier and the overdue multiplier, each read from a band table on the officer's own portfolio (the month's
scorecard). A share of the variable pay is deferred for some months; the clawback flag marks an officer whose loans
disbursed within the clawback window have since gone non-performing (or past a DPD threshold), so HR withholds or
claws back the deferred parts (DOMAIN §5.2 "deferred pay and clawback are linked to later defaults").

Every parameter is the bank's, versioned in ``pay_policy`` (``DEFAULT_POLICY`` is version 1, [R]: no source gives
figures); each month's result is stored in ``officer_pay`` with the steps that produced it (``explanation``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .. import audit
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..lending.classification.models import NPL_CLASSES
from . import scorecards
from .models import Employee, JobGrade, OfficerPay, OfficerScorecard, PayBand, PayPolicy

STANDARD_BANDS = Path(__file__).resolve().parents[3] / "tenants" / "_standard" / "pay" / "standard.yaml"
CENT = Decimal("0.01")
#: [R] defaults. Bands: the first row whose ``below`` the ratio is under gives the multiplier, else ``otherwise``.
DEFAULT_POLICY: dict[str, Any] = {
    "base_bonus": "3000",                       # monthly, yuan, when the grade has no own amount
    "base_bonus_by_grade": {"AM-1": "2000", "AM-2": "2500", "AM-3": "3000", "AM-4": "3600", "AM-5": "4200"},
    "npl_multiplier": {"bands": [{"below": "0.01", "multiplier": "1.20"}, {"below": "0.03", "multiplier": "1.00"},
                                 {"below": "0.05", "multiplier": "0.50"}], "otherwise": "0"},
    "overdue_multiplier": {"bands": [{"below": "0.05", "multiplier": "1.00"},
                                     {"below": "0.10", "multiplier": "0.80"}], "otherwise": "0.50"},
    "deferral_share": "0.30",                  # of the variable pay
    "deferral_months": 12,
    "clawback_window_months": 12,              # loans disbursed this long before the period's end
    "clawback_dpd": 90,                        # ... that are now NPL or past this DPD
}


def _error(message: str):
    from .services import TalentError
    return TalentError(message)


def _money(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _error(f"{where} is not a number") from None
    if not number.is_finite() or number < 0:
        raise _error(f"{where} is a number >= 0")
    return number


def _bands(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("bands"), list):
        raise _error(f"{where} has bands and otherwise")
    bands, last = [], Decimal(-1)
    for item in doc["bands"]:
        below, multiplier = _money(item.get("below"), f"{where} below"), _money(item.get("multiplier"),
                                                                               f"{where} multiplier")
        if below <= last:
            raise _error(f"{where}: bands are in rising order of 'below'")
        last = below
        bands.append({"below": str(below), "multiplier": str(multiplier)})
    return {"bands": bands, "otherwise": str(_money(doc.get("otherwise"), f"{where} otherwise"))}


def validate_policy(doc: dict[str, Any]) -> dict[str, Any]:
    unknown = set(doc) - set(DEFAULT_POLICY)
    if unknown:
        raise _error(f"unknown pay parameter(s): {', '.join(sorted(unknown))}")
    doc = {**DEFAULT_POLICY, **doc}
    share = _money(doc["deferral_share"], "deferral_share")
    if share > 1:
        raise _error("deferral_share is a share between 0 and 1")
    whole = {}
    for key in ("deferral_months", "clawback_window_months", "clawback_dpd"):
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _error(f"{key} is a whole number >= 0")
        whole[key] = value
    return {"base_bonus": str(_money(doc["base_bonus"], "base_bonus")),
            "base_bonus_by_grade": {str(g): str(_money(v, f"base bonus of {g}"))
                                    for g, v in (doc["base_bonus_by_grade"] or {}).items()},
            "npl_multiplier": _bands(doc["npl_multiplier"], "npl_multiplier"),
            "overdue_multiplier": _bands(doc["overdue_multiplier"], "overdue_multiplier"),
            "deferral_share": str(share), **whole}


def current_policy(session: Session) -> PayPolicy:
    policy = session.scalars(select(PayPolicy).order_by(PayPolicy.version.desc())).first()
    if policy is None:
        policy = PayPolicy(version=1, params=validate_policy({}))
        session.add(policy)
        session.flush()
    return policy


def set_policy(session: Session, params: dict[str, Any]) -> PayPolicy:
    """A new version of the bank's pay parameters (unnamed ones keep the default); older pay keeps its version."""
    authorize(Permission.TALENT_MANAGE)
    params = validate_policy(params)
    old = current_policy(session)
    new = PayPolicy(version=old.version + 1, params=params)
    session.add(new)
    session.flush()
    audit.record(session, "talent.pay.policy", object_type="pay_policy", object_id=new.version,
                 before=old.params, after=params)
    return new


def set_band(session: Session, grade_code: str, *, minimum: Any, midpoint: Any, maximum: Any, steps: list[Any],
             currency: str = "CNY", allow_system: bool = False) -> PayBand:
    authorize(Permission.TALENT_MANAGE, allow_system=allow_system)
    grade = session.scalars(select(JobGrade).where(JobGrade.code == grade_code)).first()
    if grade is None:
        from ..errors import NotFound
        raise NotFound(f"no grade {grade_code}")
    low, mid, high = (_money(v, n) for v, n in ((minimum, "minimum"), (midpoint, "midpoint"), (maximum, "maximum")))
    if not low <= mid <= high:
        raise _error("a pay band has minimum <= midpoint <= maximum")
    amounts = [_money(v, f"step {i + 1}").quantize(CENT) for i, v in enumerate(steps)]
    if not amounts:
        raise _error("a pay band has at least one step")
    if any(not low <= a <= high for a in amounts) or amounts != sorted(amounts):
        raise _error("steps rise from the minimum to the maximum of the band")
    band = session.scalars(select(PayBand).where(PayBand.grade_id == grade.id)).first()
    before = band_document(band, grade_code) if band else None
    if band is None:
        band = PayBand(grade_id=grade.id)
        session.add(band)
    band.currency, band.minimum, band.midpoint, band.maximum = currency, low, mid, high
    band.steps = [str(a) for a in amounts]
    session.flush()
    audit.record(session, "talent.pay.band", object_type="pay_band", object_id=grade_code, before=before,
                 after=band_document(band, grade_code))
    return band


def adopt_standard_bands(session: Session, *, allow_system: bool = False) -> list[PayBand]:
    """The head office's standard bands, for every grade the bank has adopted."""
    doc = yaml.safe_load(STANDARD_BANDS.read_text(encoding="utf-8"))
    held = set(session.scalars(select(JobGrade.code)))
    return [set_band(session, code, currency=doc["currency"], allow_system=allow_system, **band)
            for code, band in doc["bands"].items() if code in held]


def set_pay_step(session: Session, employee_no: str, step: int) -> Employee:
    """Put an employee on another step of their grade's pay band (audited)."""
    authorize(Permission.TALENT_MANAGE)
    from .services import _employee

    e = _employee(session, employee_no)
    band = session.scalars(select(PayBand).where(PayBand.grade_id == e.grade_id)).first() if e.grade_id else None
    if band is None:
        raise _error(f"{employee_no}'s grade has no pay band")
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= len(band.steps):
        raise _error(f"the step is a whole number from 1 to {len(band.steps)}")
    before = e.pay_step
    e.pay_step = step
    session.flush()
    audit.record(session, "talent.pay.step", object_type="employee", object_id=employee_no,
                 before={"pay_step": before}, after={"pay_step": step, "base_pay": band.steps[step - 1]})
    return e


def band_document(band: PayBand, grade_code: str) -> dict[str, Any]:
    return {"grade": grade_code, "currency": band.currency, "minimum": band.minimum, "midpoint": band.midpoint,
            "maximum": band.maximum, "steps": [Decimal(s) for s in band.steps]}


def bands(session: Session) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    rows = session.execute(select(PayBand, JobGrade.code).join(JobGrade, JobGrade.id == PayBand.grade_id)
                           .order_by(JobGrade.code))
    return [band_document(b, code) for b, code in rows]


def _multiplier(table: dict[str, Any], ratio: Decimal) -> tuple[Decimal, str | None]:
    """The multiplier and the ``below`` bound of the band that gave it (None: above every band, ``otherwise``)."""
    for item in table["bands"]:
        if ratio < Decimal(item["below"]):
            return Decimal(item["multiplier"]), item["below"]
    return Decimal(table["otherwise"]), None


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


_LATER_DEFAULTS = text(f"""
SELECT e.id AS employee_id, count(l.id) AS loans
FROM employee e JOIN loan_application a ON a.officer_id = e.user_id JOIN loan_account l ON l.application_id = a.id
WHERE e.id = ANY(CAST(:employees AS int[])) AND l.disbursed_on > :window_start AND l.disbursed_on <= :end
  AND (l.risk_class IN ({', '.join(repr(c) for c in NPL_CLASSES)}) OR l.dpd > :dpd)
GROUP BY e.id
""")


def compute(session: Session, period: str) -> list[OfficerPay]:
    """(Re)compute every officer's pay of ``period`` from that month's scorecards (computed first if missing); an
    upsert, so running it twice leaves the same rows. Checks no permission: ``recompute`` and the demo build on it."""
    start, end = scorecards.period_bounds(period)
    cards = list(session.scalars(select(OfficerScorecard).where(OfficerScorecard.period == period)))
    if not cards:
        cards = scorecards.compute(session, period)
    policy = current_policy(session)
    p = policy.params
    employees = {e.id: e for e in session.scalars(select(Employee).where(
        Employee.id.in_([c.employee_id for c in cards])))}
    grades = {g.id: g.code for g in session.scalars(select(JobGrade))}
    band_of = {b.grade_id: b for b in session.scalars(select(PayBand))}
    window_start = _add_months(end, -p["clawback_window_months"])
    defaults = dict(session.execute(_LATER_DEFAULTS, {
        "employees": list(employees), "window_start": window_start, "end": end, "dpd": p["clawback_dpd"]}).all())
    existing = {x.employee_id: x for x in session.scalars(select(OfficerPay).where(OfficerPay.period == period))}
    out = []
    for card in cards:
        e = employees[card.employee_id]
        grade = grades.get(e.grade_id)
        band = band_of.get(e.grade_id)
        base_pay = None
        if band is not None:
            base_pay = Decimal(band.steps[min(max(e.pay_step, 1), len(band.steps)) - 1])
        base_bonus = Decimal(p["base_bonus_by_grade"].get(grade, p["base_bonus"]) if grade else p["base_bonus"])
        npl_m, npl_below = _multiplier(p["npl_multiplier"], card.npl_ratio)
        overdue_m, overdue_below = _multiplier(p["overdue_multiplier"], card.overdue_ratio)
        quality = (npl_m * overdue_m).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        variable = (base_bonus * card.kpi_score / 100 * quality).quantize(CENT, ROUND_HALF_UP)
        deferred = (variable * Decimal(p["deferral_share"])).quantize(CENT, ROUND_HALF_UP)
        later_defaults = defaults.get(e.id, 0)
        row = existing.get(e.id) or OfficerPay(period=period, employee_id=e.id)
        row.policy_version, row.base_pay, row.base_bonus, row.kpi_score = policy.version, base_pay, base_bonus, \
            card.kpi_score
        row.quality_multiplier, row.variable_pay, row.deferred = quality, variable, deferred
        row.paid_now = variable - deferred
        row.deferred_until = _add_months(end, p["deferral_months"])
        row.clawback = later_defaults > 0
        # Numbers only: the pages word them in the reader's language (templates/talent/_explanation.html).
        row.explanation = {
            "grade": grade, "pay_step": e.pay_step if band else None,
            "base_bonus": {"amount": str(base_bonus),
                           "source": "grade" if grade in p["base_bonus_by_grade"] else "default"},
            "kpi_score": {"score": str(card.kpi_score), "period": period,
                          "definition_version": card.definition_version},
            "npl_multiplier": {"ratio": str(card.npl_ratio.normalize()), "below": npl_below,
                               "multiplier": str(npl_m)},
            "overdue_multiplier": {"ratio": str(card.overdue_ratio.normalize()), "below": overdue_below,
                                   "multiplier": str(overdue_m)},
            "variable_pay": {"formula": f"{base_bonus} × {card.kpi_score} / 100 × {quality} = {variable}"},
            "deferred": {"share": p["deferral_share"], "amount": str(deferred),
                         "until": row.deferred_until.isoformat()},
            "clawback": {"loans": later_defaults, "since": window_start.isoformat(), "dpd": p["clawback_dpd"]},
        }
        session.add(row)
        out.append(row)
    session.flush()
    return out


def recompute(session: Session, period: str) -> list[OfficerPay]:
    authorize(Permission.TALENT_MANAGE)
    rows = compute(session, period)
    audit.record(session, "talent.pay.compute", object_type="officer_pay", object_id=period,
                 after={"officers": len(rows), "policy_version": rows[0].policy_version if rows else None})
    return rows


def pay_document(row: OfficerPay, employee: Employee) -> dict[str, Any]:
    return {"employee_no": employee.employee_no, "name": employee.name, "period": row.period,
            "policy_version": row.policy_version, "base_pay": row.base_pay, "base_bonus": row.base_bonus,
            "kpi_score": row.kpi_score, "quality_multiplier": row.quality_multiplier,
            "variable_pay": row.variable_pay, "paid_now": row.paid_now, "deferred": row.deferred,
            "deferred_until": row.deferred_until, "clawback": row.clawback, "explanation": row.explanation}


def officer_pay(session: Session, period: str) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    scorecards.period_bounds(period)
    rows = session.execute(select(OfficerPay, Employee).join(Employee, Employee.id == OfficerPay.employee_id)
                           .where(OfficerPay.period == period).order_by(Employee.employee_no))
    return [pay_document(r, e) for r, e in rows]
