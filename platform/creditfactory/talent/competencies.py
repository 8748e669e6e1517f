"""Competency models (DOMAIN §5.1 ``CompetencyModel``): dimensions with behavioural anchors for levels 1..5 and the
level each grade expects. The head office's model is ``tenants/_standard/competencies/standard.yaml``; a bank adopts
it through maker-checker (change kind ``talent.competency.adopt``) and may adjust anchor texts and required levels,
as it adjusts the ladder. An evaluation may give a level per dimension instead of a bare competency number: the
competency score is then 100 × Σ level / (5 × dimensions), and the levels are stored with the evaluation."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..identity import changes
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from .models import CompetencyDimension, Employee, EvaluationCompetency, JobFamily, JobGrade

STANDARD_MODEL = Path(__file__).resolve().parents[3] / "tenants" / "_standard" / "competencies" / "standard.yaml"
ADOPT_MODEL = "talent.competency.adopt"
LEVELS = (1, 2, 3, 4, 5)
CENT = Decimal("0.01")


def _error(message: str):
    from .services import TalentError
    return TalentError(message)


def load_standard_model(path: Path = STANDARD_MODEL) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for d in doc["dimensions"]:
        if sorted(int(k) for k in d["anchors"]) != list(LEVELS):
            raise _error(f"{path.name}: {d['code']} needs an anchor for each level 1..5")
    return doc


def _level(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in LEVELS:
        raise _error(f"{where}: a level is a whole number from 1 to 5")
    return value


def validate_adoption(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Overrides ``{dimension: {"anchors": {level: {"zh", "en"}}, "required_levels": {grade: level}}}``."""
    template = load_standard_model()
    dimensions = {d["code"]: d for d in template["dimensions"]}
    overrides = payload.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise _error("overrides is a mapping of dimension code to adjustments")
    clean: dict[str, Any] = {}
    for code, adjust in overrides.items():
        if code not in dimensions:
            raise _error(f"the standard competency model has no dimension {code}")
        if not isinstance(adjust, dict) or set(adjust) - {"anchors", "required_levels"}:
            raise _error(f"{code}: only anchors and required_levels can be adjusted")
        item: dict[str, Any] = {}
        if "anchors" in adjust:
            anchors = {}
            for level, text in (adjust["anchors"] or {}).items():
                level = _level(int(level) if str(level).isdigit() else level, code)
                if not isinstance(text, dict) or not str(text.get("zh", "")).strip() \
                        or not str(text.get("en", "")).strip():
                    raise _error(f"{code}: anchor {level} has a zh and an en text")
                anchors[str(level)] = {"zh": str(text["zh"]).strip(), "en": str(text["en"]).strip()}
            item["anchors"] = anchors
        if "required_levels" in adjust:
            item["required_levels"] = {str(g): _level(v, f"{code} {g}")
                                       for g, v in (adjust["required_levels"] or {}).items()}
        clean[code] = item
    return {"template_version": int(template["version"]), "overrides": clean}


def _apply_adoption(session: Session, target: str, payload: dict[str, Any]) -> None:
    template = load_standard_model()
    before = model_document(session)
    for d in template["dimensions"]:
        adjust = payload["overrides"].get(d["code"], {})
        row = session.scalars(select(CompetencyDimension).where(CompetencyDimension.code == d["code"])).first()
        if row is None:
            row = CompetencyDimension(code=d["code"])
            session.add(row)
        row.family_code, row.name_zh, row.name_en = d.get("family"), d["name_zh"], d["name_en"]
        anchors = {str(k): {"zh": v["zh"], "en": v["en"]} for k, v in d["anchors"].items()}
        anchors.update(adjust.get("anchors", {}))
        row.anchors = anchors
        row.required_levels = {**{str(g): int(v) for g, v in (d.get("required_levels") or {}).items()},
                               **adjust.get("required_levels", {})}
        row.template_version = payload["template_version"]
    session.flush()
    audit.record(session, ADOPT_MODEL, object_type="competency_model", object_id=target, before=before or None,
                 after=model_document(session))


def propose_adoption(session: Session, overrides: dict[str, Any]):
    """Propose adopting (or re-adopting) the standard competency model; a second person approves."""
    from .services import _person

    authorize(Permission.TALENT_MANAGE)
    _person()
    return changes.propose(session, ADOPT_MODEL, "standard", {"overrides": overrides})


def model_document(session: Session) -> list[dict[str, Any]]:
    return [{"code": d.code, "family": d.family_code, "name_zh": d.name_zh, "name_en": d.name_en,
             "anchors": {k: d.anchors[k] for k in sorted(d.anchors, key=int)}, "required_levels": d.required_levels,
             "template_version": d.template_version}
            for d in session.scalars(select(CompetencyDimension).order_by(CompetencyDimension.id))]


def competency_model(session: Session) -> list[dict[str, Any]]:
    authorize(Permission.TALENT_READ)
    return model_document(session)


def dimensions_for(session: Session, employee: Employee) -> list[CompetencyDimension]:
    """The dimensions that apply to the employee: those of their grade's job family and the bank-wide ones."""
    family = None
    if employee.grade_id is not None:
        family = session.scalar(select(JobFamily.code).join(JobGrade, JobGrade.family_id == JobFamily.id)
                                .where(JobGrade.id == employee.grade_id))
    rows = session.scalars(select(CompetencyDimension).order_by(CompetencyDimension.id))
    return [d for d in rows if d.family_code is None or d.family_code == family]


def score_levels(session: Session, employee: Employee, levels: dict[str, Any]) -> tuple[Decimal, dict[int, int]]:
    """The competency score of ``levels`` (one level per applicable dimension) and the rows to store."""
    applicable = {d.code: d for d in dimensions_for(session, employee)}
    if not applicable:
        raise _error("the bank has adopted no competency model for this employee's job family")
    unknown = set(levels) - set(applicable)
    if unknown:
        raise _error(f"not a competency of {employee.employee_no}: {', '.join(sorted(unknown))}")
    missing = set(applicable) - set(levels)
    if missing:
        raise _error(f"give a level for every competency: {', '.join(sorted(missing))} missing")
    rows = {applicable[code].id: _level(int(v) if str(v).isdigit() else v, code) for code, v in levels.items()}
    total = Decimal(100) * sum(rows.values()) / (5 * len(rows))
    return total.quantize(CENT, ROUND_HALF_UP), rows


def store_levels(session: Session, evaluation_id: int, rows: dict[int, int]) -> None:
    for dimension_id, level in rows.items():
        session.add(EvaluationCompetency(evaluation_id=evaluation_id, dimension_id=dimension_id, level=level))
    session.flush()


def levels_of(session: Session, evaluation_id: int) -> dict[str, int]:
    return dict(session.execute(
        select(CompetencyDimension.code, EvaluationCompetency.level)
        .join(EvaluationCompetency, EvaluationCompetency.dimension_id == CompetencyDimension.id)
        .where(EvaluationCompetency.evaluation_id == evaluation_id).order_by(CompetencyDimension.id)).all())


def profile(session: Session, employee: Employee, grade_code: str | None) -> list[dict[str, Any]]:
    """The levels ``grade_code`` expects on each of the employee's dimensions, with the anchor text."""
    out = []
    for d in dimensions_for(session, employee):
        level = d.required_levels.get(grade_code) if grade_code else None
        if level is not None:
            out.append({"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "level": level,
                        "anchor": d.anchors[str(level)]})
    return out


if ADOPT_MODEL not in changes.change_kinds():
    changes.register_change_kind(changes.ChangeKind(ADOPT_MODEL, Permission.TALENT_MANAGE, validate_adoption,
                                                    _apply_adoption))
