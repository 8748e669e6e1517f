"""Organisation, dual-track ladders and evaluations (DOMAIN §5.1). Functions take a tenant ``Session``, check the
permission themselves, flush and leave the commit to the caller. Every change is audited with before/after."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import Conflict, DomainError, NotFound
from ..identity import changes
from ..identity.authorization import authorize
from ..identity.errors import AccessDenied
from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal
from . import competencies
from .models import (
    DECISIONS, ORG_UNIT_KINDS, TEAM_KINDS, TEAM_SIDES, TRACKS, Employee, EmployeeMove, Evaluation, EvaluationCycle,
    JobFamily, JobGrade, OrgUnit, Team, TeamMember,
)

STANDARD_LADDER = Path(__file__).resolve().parents[3] / "tenants" / "_standard" / "ladders" / "standard.yaml"
ADOPT_LADDER = "talent.ladder.adopt"
DECIDE_EVALUATION = "talent.evaluation.decide"
#: Grade fields a bank may adjust when adopting the standard ladder; everything else is the head office's.
ADJUSTABLE = ("headcount_cap", "min_tenure_months", "required_kpis")
DEFAULT_CYCLE_WEIGHTS = {"exam": "0.30", "kpi": "0.50", "competency": "0.20"}  # [R] defaults, per cycle
CENT = Decimal("0.01")


class TalentError(DomainError):
    """The organisation or ladder change is not allowed as asked; nothing was changed."""


# --- organisation ----------------------------------------------------------------------------------------

def _unit(session: Session, code: str) -> OrgUnit:
    unit = session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        raise NotFound(f"no org unit {code}")
    return unit


def _employee(session: Session, employee_no: str) -> Employee:
    employee = session.scalars(select(Employee).where(Employee.employee_no == employee_no)).first()
    if employee is None:
        raise NotFound(f"no employee {employee_no}")
    return employee


def _grade(session: Session, code: str) -> JobGrade:
    grade = session.scalars(select(JobGrade).where(JobGrade.code == code)).first()
    if grade is None:
        raise NotFound(f"no grade {code}")
    return grade


def create_org_unit(session: Session, *, code: str, kind: str, name_zh: str, name_en: str,
                    parent_code: str | None = None) -> OrgUnit:
    authorize(Permission.TALENT_MANAGE, allow_system=True)
    if kind not in ORG_UNIT_KINDS:
        raise TalentError(f"kind must be one of {', '.join(ORG_UNIT_KINDS)}")
    parent = _unit(session, parent_code) if parent_code else None
    if kind == "head_office" and parent is not None:
        raise TalentError("the head office has no parent unit")
    if kind == "head_office" and session.scalars(select(OrgUnit.id).where(OrgUnit.kind == "head_office")).first():
        raise Conflict("the bank already has its head office")
    if kind != "head_office" and parent is None:
        raise TalentError(f"a {kind} belongs to a parent unit")
    if kind == "sub_branch" and parent.kind != "branch":
        raise TalentError("a sub-branch belongs to a branch")
    if session.scalars(select(OrgUnit.id).where(OrgUnit.code == code)).first() is not None:
        raise Conflict(f"org unit {code} exists")
    unit = OrgUnit(code=code, kind=kind, name_zh=name_zh, name_en=name_en, parent_id=parent.id if parent else None)
    session.add(unit)
    session.flush()
    audit.record(session, "talent.org_unit.create", object_type="org_unit", object_id=code,
                 after={"kind": kind, "name_zh": name_zh, "name_en": name_en, "parent": parent_code})
    return unit


def org_chart(session: Session) -> list[dict[str, Any]]:
    """The org units as a forest, each with its employees (name, position, grade, manager) and its teams."""
    authorize(Permission.TALENT_READ)
    units = session.scalars(select(OrgUnit).order_by(OrgUnit.id)).all()
    grades = {g.id: g.code for g in session.scalars(select(JobGrade))}
    people = session.scalars(select(Employee).where(Employee.status == "active").order_by(Employee.employee_no)).all()
    numbers = {e.id: e.employee_no for e in people}
    teams = session.scalars(select(Team).order_by(Team.code)).all()
    nodes = {u.id: {"code": u.code, "kind": u.kind, "name_zh": u.name_zh, "name_en": u.name_en, "children": [],
                    "employees": [], "teams": []} for u in units}
    for e in people:
        nodes[e.org_unit_id]["employees"].append({
            "employee_no": e.employee_no, "name": e.name, "position": e.position,
            "grade": grades.get(e.grade_id), "manager": numbers.get(e.manager_id)})
    for t in teams:
        if t.org_unit_id:
            nodes[t.org_unit_id]["teams"].append(t.code)
    roots = []
    for u in units:
        (nodes[u.parent_id]["children"] if u.parent_id else roots).append(nodes[u.id])
    return roots


def _snapshot(session: Session, e: Employee) -> dict[str, Any]:
    unit = session.get(OrgUnit, e.org_unit_id)
    manager = session.get(Employee, e.manager_id) if e.manager_id else None
    grade = session.get(JobGrade, e.grade_id) if e.grade_id else None
    return {"org_unit": unit.code, "position": e.position, "manager": manager.employee_no if manager else None,
            "grade": grade.code if grade else None, "status": e.status}


def _move(session: Session, e: Employee, kind: str, before: dict[str, Any], after: dict[str, Any],
          effective_date: dt.date, reason: str) -> EmployeeMove:
    move = EmployeeMove(employee_id=e.id, kind=kind, effective_date=effective_date, before=before, after=after,
                        reason=reason)
    session.add(move)
    session.flush()
    audit.record(session, f"talent.employee.{kind}", object_type="employee", object_id=e.employee_no,
                 before=before or None, after=after)
    return move


def hire(session: Session, *, employee_no: str, name: str, org_unit_code: str, hired_on: dt.date,
         position: str = "", manager_no: str | None = None, grade_code: str | None = None,
         user_id: int | None = None) -> Employee:
    authorize(Permission.TALENT_MANAGE, allow_system=True)
    if session.scalars(select(Employee.id).where(Employee.employee_no == employee_no)).first() is not None:
        raise Conflict(f"employee {employee_no} exists")
    if user_id is not None and session.scalars(select(Employee.id).where(Employee.user_id == user_id)).first():
        raise Conflict(f"user {user_id} is already linked to an employee")
    unit = _unit(session, org_unit_code)
    manager = _employee(session, manager_no) if manager_no else None
    grade = _grade(session, grade_code) if grade_code else None
    if grade is not None:
        _check_headcount(session, grade)
    e = Employee(employee_no=employee_no, name=name, org_unit_id=unit.id, position=position,
                 manager_id=manager.id if manager else None, grade_id=grade.id if grade else None,
                 hired_on=hired_on, grade_since=hired_on if grade else None, user_id=user_id, status="active")
    session.add(e)
    session.flush()
    _move(session, e, "hire", {}, _snapshot(session, e), hired_on, "")
    return e


def move(session: Session, employee_no: str, *, effective_date: dt.date, reason: str = "",
         org_unit_code: str | None = None, position: str | None = None, manager_no: str | None = None) -> Employee:
    """Transfer to another unit, change position or reporting line; one history row per kind of change."""
    authorize(Permission.TALENT_MANAGE)
    e = _employee(session, employee_no)
    if e.status != "active":
        raise Conflict(f"employee {employee_no} has left")
    if org_unit_code is not None and _unit(session, org_unit_code).id != e.org_unit_id:
        before = _snapshot(session, e)
        e.org_unit_id = _unit(session, org_unit_code).id
        _move(session, e, "transfer", before, _snapshot(session, e), effective_date, reason)
    if position is not None and position != e.position:
        before = _snapshot(session, e)
        e.position = position
        _move(session, e, "position", before, _snapshot(session, e), effective_date, reason)
    if manager_no is not None:
        manager = _employee(session, manager_no)
        if manager.id == e.id or _reports_to(session, manager, e):
            raise TalentError("a reporting line may not form a cycle")
        if manager.id != e.manager_id:
            before = _snapshot(session, e)
            e.manager_id = manager.id
            _move(session, e, "manager", before, _snapshot(session, e), effective_date, reason)
    return e


def _reports_to(session: Session, who: Employee, boss: Employee) -> bool:
    seen: set[int] = set()
    current = who
    while current.manager_id is not None and current.manager_id not in seen:
        if current.manager_id == boss.id:
            return True
        seen.add(current.id)
        current = session.get(Employee, current.manager_id)
    return False


def history(session: Session, employee_no: str) -> list[EmployeeMove]:
    authorize(Permission.TALENT_READ)
    e = _employee(session, employee_no)
    return list(session.scalars(select(EmployeeMove).where(EmployeeMove.employee_id == e.id)
                                .order_by(EmployeeMove.effective_date, EmployeeMove.id)))


def create_team(session: Session, *, code: str, name: str, kind: str, domain: str = "",
                org_unit_code: str | None = None, lead_no: str | None = None,
                members: list[dict[str, str]] = ()) -> Team:
    """A team; an agile team needs business and technology members, a lead among them and the domain it serves."""
    authorize(Permission.TALENT_MANAGE, allow_system=True)
    if kind not in TEAM_KINDS:
        raise TalentError(f"kind must be one of {', '.join(TEAM_KINDS)}")
    if session.scalars(select(Team.id).where(Team.code == code)).first() is not None:
        raise Conflict(f"team {code} exists")
    sides = {}
    for m in members:
        if m.get("side") not in TEAM_SIDES:
            raise TalentError(f"member side must be one of {', '.join(TEAM_SIDES)}")
        sides[m["employee_no"]] = m["side"]
    if kind == "agile":
        if set(sides.values()) != set(TEAM_SIDES):
            raise TalentError("an agile team has business and technology members")
        if not lead_no or lead_no not in sides:
            raise TalentError("an agile team's lead is one of its members")
        if not domain.strip():
            raise TalentError("an agile team names the business domain it serves")
    team = Team(code=code, name=name, kind=kind, domain=domain,
                org_unit_id=_unit(session, org_unit_code).id if org_unit_code else None,
                lead_id=_employee(session, lead_no).id if lead_no else None)
    session.add(team)
    session.flush()
    for number, side in sides.items():
        session.add(TeamMember(team_id=team.id, employee_id=_employee(session, number).id, side=side))
    session.flush()
    audit.record(session, "talent.team.create", object_type="team", object_id=code,
                 after={"name": name, "kind": kind, "domain": domain, "lead": lead_no, "members": sides})
    return team


def teams(session: Session) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    numbers = dict(session.execute(select(Employee.id, Employee.employee_no)).all())
    out = []
    for t in session.scalars(select(Team).order_by(Team.code)):
        members = session.scalars(select(TeamMember).where(TeamMember.team_id == t.id)).all()
        out.append({"code": t.code, "name": t.name, "kind": t.kind, "domain": t.domain,
                    "lead": numbers.get(t.lead_id),
                    "members": [{"employee_no": numbers[m.employee_id], "side": m.side}
                                for m in sorted(members, key=lambda m: numbers[m.employee_id])]})
    return out


# --- the dual-track ladder: head-office template, adoption with adjustments ------------------------------

def load_standard_ladder(path: Path = STANDARD_LADDER) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    codes = set()
    for family in doc["families"]:
        if family["track"] not in TRACKS:
            raise TalentError(f"{path.name}: family {family['code']} has an unknown track")
        for grade in family["grades"]:
            codes.add(grade["code"])
    for family in doc["families"]:
        for grade in family["grades"]:
            if grade.get("maps_to") and grade["maps_to"] not in codes:
                raise TalentError(f"{path.name}: {grade['code']} maps to unknown grade {grade['maps_to']}")
    return doc


def _decimal_map(kpis: dict[str, Any], where: str) -> dict[str, str]:
    out = {}
    for name, value in (kpis or {}).items():
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise TalentError(f"{where}: {name} is not a number") from None
        if number < 0:
            raise TalentError(f"{where}: {name} may not be negative")
        out[name] = str(number)
    return out


def validate_adoption(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Overrides: ``{grade_code: {headcount_cap, min_tenure_months, required_kpis}}``, only grades the template has."""
    template = load_standard_ladder()
    grades = {g["code"]: g for f in template["families"] for g in f["grades"]}
    overrides = payload.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise TalentError("overrides is a mapping of grade code to adjustments")
    clean: dict[str, Any] = {}
    for code, adjust in overrides.items():
        if code not in grades:
            raise TalentError(f"the standard ladder has no grade {code}")
        unknown = set(adjust) - set(ADJUSTABLE)
        if unknown:
            raise TalentError(f"{code}: only {', '.join(ADJUSTABLE)} can be adjusted, not {', '.join(sorted(unknown))}")
        item: dict[str, Any] = {}
        for key in ("headcount_cap", "min_tenure_months"):
            if key in adjust:
                value = adjust[key]
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise TalentError(f"{code}: {key} is a whole number >= 0")
                if key == "min_tenure_months" and value is None:
                    raise TalentError(f"{code}: min_tenure_months is required")
                item[key] = value
        if "required_kpis" in adjust:
            item["required_kpis"] = _decimal_map(adjust["required_kpis"], code)
        clean[code] = item
    return {"template_version": int(template["version"]), "overrides": clean}


def _apply_adoption(session: Session, target: str, payload: dict[str, Any]) -> None:
    template = load_standard_ladder()
    before = ladder_document(session)
    for f in template["families"]:
        family = session.scalars(select(JobFamily).where(JobFamily.code == f["code"])).first()
        if family is None:
            family = JobFamily(code=f["code"])
            session.add(family)
        family.track, family.name_zh, family.name_en = f["track"], f["name_zh"], f["name_en"]
        family.template_version = payload["template_version"]
        session.flush()
        for g in f["grades"]:
            adjust = payload["overrides"].get(g["code"], {})
            grade = session.scalars(select(JobGrade).where(JobGrade.code == g["code"])).first()
            if grade is None:
                grade = JobGrade(code=g["code"], family_id=family.id)
                session.add(grade)
            grade.rank, grade.title_zh, grade.title_en = g["rank"], g["title_zh"], g["title_en"]
            grade.min_tenure_months = adjust.get("min_tenure_months", g.get("min_tenure_months", 0))
            grade.headcount_cap = adjust.get("headcount_cap", g.get("headcount_cap"))
            grade.standard = {"duties": list(g.get("duties", [])), "certificates": list(g.get("certificates", [])),
                              "required_kpis": adjust.get("required_kpis",
                                                          _decimal_map(g.get("required_kpis", {}), g["code"]))}
            grade.maps_to = g.get("maps_to")
    session.flush()
    audit.record(session, ADOPT_LADDER, object_type="ladder", object_id=target, before=before or None,
                 after=ladder_document(session))


def _person() -> None:
    # A maker-checker proposal records the person who made it: a machine client can never be the maker.
    if CurrentPrincipal.get().user_id is None:
        raise AccessDenied("a person proposes this change, not a machine client")


def propose_adoption(session: Session, overrides: dict[str, Any]):
    """Propose adopting (or re-adopting) the standard ladder with the bank's adjustments; a second person approves."""
    authorize(Permission.TALENT_MANAGE)
    _person()
    return changes.propose(session, ADOPT_LADDER, "standard", {"overrides": overrides})


def ladder_document(session: Session) -> list[dict[str, Any]]:
    """The bank's ladder: families, their grades with standard, head-count cap and how many hold each grade."""
    held = dict(session.execute(select(Employee.grade_id, func.count()).where(Employee.status == "active")
                                .group_by(Employee.grade_id)).all())
    out = []
    for family in session.scalars(select(JobFamily).order_by(JobFamily.track, JobFamily.code)):
        grades = session.scalars(select(JobGrade).where(JobGrade.family_id == family.id).order_by(JobGrade.rank))
        out.append({"code": family.code, "track": family.track, "name_zh": family.name_zh, "name_en": family.name_en,
                    "template_version": family.template_version,
                    "grades": [{"code": g.code, "rank": g.rank, "title_zh": g.title_zh, "title_en": g.title_en,
                                "min_tenure_months": g.min_tenure_months, "headcount_cap": g.headcount_cap,
                                "standard": g.standard, "maps_to": g.maps_to, "holders": held.get(g.id, 0)}
                               for g in grades]})
    return out


def ladder(session: Session) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    return ladder_document(session)


def _check_headcount(session: Session, grade: JobGrade, leaving: Employee | None = None) -> None:
    if grade.headcount_cap is None:
        return
    held = session.scalar(select(func.count()).select_from(Employee).where(
        Employee.grade_id == grade.id, Employee.status == "active"))
    if leaving is not None and leaving.grade_id == grade.id:
        held -= 1
    if held >= grade.headcount_cap:
        raise TalentError(f"grade {grade.code} is at its head-count cap ({grade.headcount_cap})")


# --- evaluations (等级评定) with maker-checker ---------------------------------------------------------------

def open_cycle(session: Session, *, code: str, period: str, effective_date: dt.date,
               weights: dict[str, Any] | None = None) -> EvaluationCycle:
    authorize(Permission.TALENT_MANAGE)
    weights = {k: str(Decimal(str(v))) for k, v in (weights or DEFAULT_CYCLE_WEIGHTS).items()}
    if set(weights) != {"exam", "kpi", "competency"}:
        raise TalentError("weights are exam, kpi and competency")
    if sum(Decimal(v) for v in weights.values()) != 1 or any(Decimal(v) < 0 for v in weights.values()):
        raise TalentError("weights are >= 0 and sum to 1")
    if session.scalars(select(EvaluationCycle.id).where(EvaluationCycle.code == code)).first() is not None:
        raise Conflict(f"evaluation cycle {code} exists")
    cycle = EvaluationCycle(code=code, period=period, effective_date=effective_date, weights=weights, status="open")
    session.add(cycle)
    session.flush()
    audit.record(session, "talent.cycle.open", object_type="evaluation_cycle", object_id=code,
                 after={"period": period, "effective_date": effective_date, "weights": weights})
    return cycle


def _cycle(session: Session, code: str) -> EvaluationCycle:
    cycle = session.scalars(select(EvaluationCycle).where(EvaluationCycle.code == code)).first()
    if cycle is None:
        raise NotFound(f"no evaluation cycle {code}")
    return cycle


def close_cycle(session: Session, code: str) -> EvaluationCycle:
    authorize(Permission.TALENT_MANAGE)
    cycle = _cycle(session, code)
    if cycle.status != "open":
        raise Conflict(f"evaluation cycle {code} is already closed")
    pending = session.scalar(select(func.count()).select_from(Evaluation).where(
        Evaluation.cycle_id == cycle.id, Evaluation.status == "pending"))
    if pending:
        raise Conflict(f"{pending} evaluation(s) of {code} still wait for approval")
    cycle.status = "closed"
    session.flush()
    audit.record(session, "talent.cycle.close", object_type="evaluation_cycle", object_id=code,
                 before={"status": "open"}, after={"status": "closed"})
    return cycle


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` (a month counts once its day is reached)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def _target_grade(session: Session, e: Employee, decision: str, target_code: str | None) -> JobGrade | None:
    current = session.get(JobGrade, e.grade_id) if e.grade_id else None
    if decision == "keep":
        return current
    if current is None and decision != "promote":
        raise TalentError(f"employee {e.employee_no} holds no grade to {decision.replace('_', ' ')} from")
    if decision == "exit_track":
        if not target_code and not (current and current.maps_to):
            raise TalentError("a track transfer names the grade on the other track")
        target = _grade(session, target_code or current.maps_to)
        if target.family_id == current.family_id:
            raise TalentError("a track transfer goes to another job family")
        return target
    if decision == "promote" and current is None:
        if not target_code:
            raise TalentError("a first grade is named")
        return _grade(session, target_code)
    rank = current.rank + (1 if decision == "promote" else -1)
    target = session.scalars(select(JobGrade).where(JobGrade.family_id == current.family_id,
                                                    JobGrade.rank == rank)).first()
    if target is None:
        raise TalentError(f"{current.code} has no grade {'above' if decision == 'promote' else 'below'} it")
    if target_code and target_code != target.code:
        raise TalentError(f"{decision} from {current.code} goes to {target.code}, not {target_code}")
    return target


def total_score(weights: dict[str, str], exam: Decimal, kpi: Decimal, competency: Decimal) -> Decimal:
    return (Decimal(weights["exam"]) * exam + Decimal(weights["kpi"]) * kpi
            + Decimal(weights["competency"]) * competency).quantize(CENT, ROUND_HALF_UP)


def propose_evaluation(session: Session, cycle_code: str, employee_no: str, *, exam_score: Any, kpi_score: Any,
                       competency_score: Any = None, decision: str, target_grade: str | None = None,
                       reason: str = "", competency_levels: dict[str, Any] | None = None) -> Evaluation:
    """Record the committee's decision; it changes the grade only once a second person approves the change request.

    ``competency_levels`` (``{dimension: level}``, every dimension of the employee's competency model) replaces a
    bare ``competency_score``: the score is then computed from the levels and the levels are kept."""
    authorize(Permission.TALENT_MANAGE)
    _person()
    cycle = _cycle(session, cycle_code)
    if cycle.status != "open":
        raise Conflict(f"evaluation cycle {cycle_code} is closed")
    if decision not in DECISIONS:
        raise TalentError(f"decision must be one of {', '.join(DECISIONS)}")
    e = _employee(session, employee_no)
    level_rows: dict[int, int] = {}
    if competency_levels:
        competency_score, level_rows = competencies.score_levels(session, e, competency_levels)
    elif competency_score is None:
        raise TalentError("give a competency score or a level for each competency")
    scores = []
    for name, value in (("exam_score", exam_score), ("kpi_score", kpi_score), ("competency_score", competency_score)):
        try:
            number = Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)
        except InvalidOperation:
            raise TalentError(f"{name} is not a number") from None
        if not Decimal(0) <= number <= Decimal(100):
            raise TalentError(f"{name} is between 0 and 100")
        scores.append(number)
    if e.status != "active":
        raise Conflict(f"employee {employee_no} has left")
    if session.scalars(select(Evaluation.id).where(Evaluation.cycle_id == cycle.id,
                                                   Evaluation.employee_id == e.id)).first() is not None:
        raise Conflict(f"{employee_no} is already evaluated in {cycle_code}")
    target = _target_grade(session, e, decision, target_grade)
    if decision in ("promote", "exit_track"):
        total_tenure = months_between(e.hired_on, cycle.effective_date)
        if decision == "promote":
            from .scorecards import latest_blocks_promotion

            blocked = latest_blocks_promotion(session, e.id)
            if blocked is not None:
                raise TalentError(f"quality gate: {employee_no}'s own NPL ratio {blocked.npl_ratio.normalize()} "
                                  f"({blocked.period}) is above the scorecard's threshold")
        if decision == "promote" and total_tenure < target.min_tenure_months:
            raise TalentError(f"{target.code} needs {target.min_tenure_months} months of tenure; "
                              f"{employee_no} has {total_tenure}")
        _check_headcount(session, target)
    evaluation = Evaluation(cycle_id=cycle.id, employee_id=e.id, exam_score=scores[0], kpi_score=scores[1],
                            competency_score=scores[2], total_score=total_score(cycle.weights, *scores),
                            decision=decision, from_grade_id=e.grade_id, to_grade_id=target.id if target else None,
                            reason=reason, status="pending")
    session.add(evaluation)
    session.flush()
    competencies.store_levels(session, evaluation.id, level_rows)
    request = changes.propose(session, DECIDE_EVALUATION, str(evaluation.id), {"evaluation_id": evaluation.id})
    evaluation.change_request_id = request.id
    session.flush()
    audit.record(session, "talent.evaluation.propose", object_type="evaluation", object_id=evaluation.id,
                 after=evaluation_document(session, evaluation))
    return evaluation


def _validate_decision(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    if str(payload.get("evaluation_id")) != target:
        raise TalentError("the change names its evaluation")
    return {"evaluation_id": int(target)}


def _apply_decision(session: Session, target: str, payload: dict[str, Any]) -> None:
    evaluation = session.get(Evaluation, payload["evaluation_id"], with_for_update=True)
    if evaluation is None or evaluation.status != "pending":
        raise Conflict(f"evaluation {target} is not waiting for approval")
    e = session.get(Employee, evaluation.employee_id, with_for_update=True)
    if e.grade_id != evaluation.from_grade_id:
        raise Conflict(f"{e.employee_no}'s grade changed since the evaluation was proposed")
    cycle = session.get(EvaluationCycle, evaluation.cycle_id)
    if evaluation.decision == "promote":
        from .scorecards import latest_blocks_promotion

        # The scorecard may have been recomputed since the proposal: the gate holds at approval too.
        blocked = latest_blocks_promotion(session, e.id)
        if blocked is not None:
            raise Conflict(f"quality gate: {e.employee_no}'s own NPL ratio {blocked.npl_ratio.normalize()} "
                           f"({blocked.period}) is now above the scorecard's threshold")
    if evaluation.to_grade_id != e.grade_id:
        target_grade = session.get(JobGrade, evaluation.to_grade_id)
        _check_headcount(session, target_grade, leaving=e)
        before = _snapshot(session, e)
        e.grade_id = evaluation.to_grade_id
        e.grade_since = cycle.effective_date
        kind = "track_transfer" if evaluation.decision == "exit_track" else "grade"
        _move(session, e, kind, before, _snapshot(session, e), cycle.effective_date,
              f"{cycle.code}: {evaluation.decision}")
    evaluation.status = "applied"
    session.flush()
    audit.record(session, "talent.evaluation.apply", object_type="evaluation", object_id=evaluation.id,
                 before={"status": "pending"}, after=evaluation_document(session, evaluation))


def _discard_decision(session: Session, target: str) -> None:
    evaluation = session.get(Evaluation, int(target))
    if evaluation is not None and evaluation.status == "pending":
        evaluation.status = "rejected"
        session.flush()


def _current_decision(session: Session, target: str) -> dict[str, Any] | None:
    evaluation = session.get(Evaluation, int(target))
    return evaluation_document(session, evaluation) if evaluation else None


def evaluation_document(session: Session, ev: Evaluation) -> dict[str, Any]:
    codes = dict(session.execute(select(JobGrade.id, JobGrade.code)).all())
    e = session.get(Employee, ev.employee_id)
    cycle = session.get(EvaluationCycle, ev.cycle_id)
    return {"id": ev.id, "cycle": cycle.code, "employee_no": e.employee_no, "name": e.name,
            "exam_score": ev.exam_score, "kpi_score": ev.kpi_score, "competency_score": ev.competency_score,
            "total_score": ev.total_score, "decision": ev.decision, "from_grade": codes.get(ev.from_grade_id),
            "to_grade": codes.get(ev.to_grade_id), "effective_date": cycle.effective_date, "reason": ev.reason,
            "status": ev.status, "change_request_id": ev.change_request_id,
            "competency_levels": competencies.levels_of(session, ev.id)}


def evaluations(session: Session, cycle_code: str) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    cycle = _cycle(session, cycle_code)
    rows = session.scalars(select(Evaluation).where(Evaluation.cycle_id == cycle.id).order_by(Evaluation.id))
    return [evaluation_document(session, ev) for ev in rows]


def cycles(session: Session) -> list[EvaluationCycle]:
    authorize(Permission.TALENT_READ)
    return list(session.scalars(select(EvaluationCycle).order_by(EvaluationCycle.effective_date.desc())))


# --- my career ---------------------------------------------------------------------------------------------

def career_of(session: Session, employee: Employee, today: dt.date) -> dict[str, Any]:
    grade = session.get(JobGrade, employee.grade_id) if employee.grade_id else None
    next_grade = None
    if grade is not None:
        next_grade = session.scalars(select(JobGrade).where(JobGrade.family_id == grade.family_id,
                                                            JobGrade.rank == grade.rank + 1)).first()
    tenure = months_between(employee.hired_on, today)
    out: dict[str, Any] = {
        "employee_no": employee.employee_no, "name": employee.name, "position": employee.position,
        "org_unit": session.get(OrgUnit, employee.org_unit_id).code,
        "grade": ({"code": grade.code, "title_zh": grade.title_zh, "title_en": grade.title_en,
                   "since": employee.grade_since} if grade else None),
        "tenure_months": tenure, "next_grade": None,
        "moves": [{"kind": m.kind, "effective_date": m.effective_date, "before": m.before, "after": m.after}
                  for m in session.scalars(select(EmployeeMove).where(EmployeeMove.employee_id == employee.id)
                                           .order_by(EmployeeMove.effective_date, EmployeeMove.id))],
    }
    if next_grade is not None:
        held = session.scalar(select(func.count()).select_from(Employee).where(
            Employee.grade_id == next_grade.id, Employee.status == "active"))
        out["next_grade"] = {
            "code": next_grade.code, "title_zh": next_grade.title_zh, "title_en": next_grade.title_en,
            "min_tenure_months": next_grade.min_tenure_months,
            "tenure_met": tenure >= next_grade.min_tenure_months,
            "tenure_progress": (min(Decimal(1), Decimal(tenure) / Decimal(next_grade.min_tenure_months))
                                .quantize(CENT, ROUND_HALF_UP) if next_grade.min_tenure_months else Decimal(1)),
            "certificates": next_grade.standard.get("certificates", []),
            "duties": next_grade.standard.get("duties", []),
            "required_kpis": next_grade.standard.get("required_kpis", {}),
            "headcount_cap": next_grade.headcount_cap, "holders": held,
            "competencies": _competency_progress(session, employee, next_grade.code)}
    return out


def _competency_progress(session: Session, employee: Employee, grade_code: str) -> list[dict[str, Any]]:
    """The next grade's competency profile beside the levels of the employee's newest evaluation that gave levels."""
    latest = session.scalars(select(Evaluation.id).where(Evaluation.employee_id == employee.id,
                                                         Evaluation.status.in_(("pending", "applied")))
                             .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())).all()
    mine: dict[str, int] = {}
    for evaluation_id in latest:
        mine = competencies.levels_of(session, evaluation_id)
        if mine:
            break
    return [{**item, "mine": mine.get(item["code"]),
             "met": mine.get(item["code"]) is not None and mine[item["code"]] >= item["level"]}
            for item in competencies.profile(session, employee, grade_code)]


def my_career(session: Session, today: dt.date) -> dict[str, Any]:
    """The acting person's own career page; needs no permission beyond being the employee."""
    principal = CurrentPrincipal.get()
    employee = session.scalars(select(Employee).where(Employee.user_id == principal.user_id)).first()
    if employee is None:
        raise NotFound("you have no employee record in this bank")
    return career_of(session, employee, today)


def employee_career(session: Session, employee_no: str, today: dt.date) -> dict[str, Any]:
    authorize(Permission.TALENT_READ)
    return career_of(session, _employee(session, employee_no), today)


for _code, _permission, _validate, _apply, _discard, _current in (
        (ADOPT_LADDER, Permission.TALENT_MANAGE, validate_adoption, _apply_adoption, None, None),
        (DECIDE_EVALUATION, Permission.TALENT_MANAGE, _validate_decision, _apply_decision, _discard_decision,
         _current_decision)):
    if _code not in changes.change_kinds():
        changes.register_change_kind(changes.ChangeKind(_code, _permission, _validate, _apply, discard=_discard,
                                                        current=_current))
