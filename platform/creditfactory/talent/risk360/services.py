"""Employee 360 risk view (员工360视图, DOMAIN §5.4): the versioned model, authorisations, findings, imports of
outside signals, the period computation, the reproducibility check and the audited views.

Score model (per model version):
    dim_d = 100 × Σ_{hits i in d} wᵢ × severityᵢ / Σ_{indicators i in d} wᵢ        (0..100)
    total = Σ_d W_d × dim_d                                                         (Σ W_d = 1)
    level = green < yellow ≤ total < orange ≤ … < red (the version's ``bands``)
Hits keep the weight and severity they carried, so a stored score is recomputed from its hits and its version alone.
Functions take a tenant ``Session``, check the permission, flush and leave the commit to the caller.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ... import audit
from ...audit import CurrentActor
from ...db import CurrentTenant, TenantRef
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...lending.cob.dates import business_date
from ..models import Employee, OrgUnit
from . import signals
from .models import (
    CONSENT_SCOPES, DIMENSIONS, FINDING_KINDS, LEVELS, EmployeeRiskConsent, EmployeeRiskFinding, EmployeeRiskHit,
    EmployeeRiskImport, EmployeeRiskModel, EmployeeRiskScore, EmployeeRiskSignal,
)

CENT = Decimal("0.01")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_IMPORT_ROWS = 10_000
IMPORT_COLUMNS = ("employee_no", "period", "indicator", "value", "evidence")

#: Every indicator the platform can measure or import: dimension, where the value comes from, and the consent scope an
#: imported one needs. Thresholds are DOMAIN §5.4's published ones [V S25] where it has them; weights, severities and
#: the rest of the thresholds are [R] defaults for each bank to set in its own version.
CATALOGUE: dict[str, dict[str, Any]] = {
    # risk: the officer's portfolio (automatic)
    "risk.npl_ratio": {"dimension": "risk", "source": "loans", "threshold": "0.05", "weight": "2", "severity": "1",
                       "label_zh": "经办贷款不良率", "label_en": "NPL ratio of the loans originated"},
    "risk.early_defaults": {"dimension": "risk", "source": "loans", "threshold": "1", "weight": "2", "severity": "1",
                            "label_zh": "首期违约笔数", "label_en": "First-instalment defaults"},
    "risk.related_party_concentration": {"dimension": "risk", "source": "loans", "threshold": "0.2", "weight": "1",
                                         "severity": "1", "label_zh": "关联客户贷款集中度",
                                         "label_en": "Share of balance lent to related customers"},
    # risk: the employee's household finances, from credit-bureau summaries (imported, needs authorisation)
    "risk.debt_to_assets": {"dimension": "risk", "source": "import", "consent": "bureau", "threshold": "0.7",
                            "weight": "1", "severity": "1", "label_zh": "家庭资产负债率",
                            "label_en": "Household debt-to-assets"},
    "risk.lender_count": {"dimension": "risk", "source": "import", "consent": "bureau", "threshold": "3",
                          "weight": "1", "severity": "1", "label_zh": "授信机构数", "label_en": "Lenders with credit"},
    "risk.credit_used": {"dimension": "risk", "source": "import", "consent": "bureau", "threshold": "1000000",
                         "weight": "1", "severity": "1", "label_zh": "授信及用信金额", "label_en": "Credit granted and used"},
    "risk.card_utilisation": {"dimension": "risk", "source": "import", "consent": "bureau", "threshold": "0.7",
                              "weight": "1", "severity": "1", "label_zh": "信用卡使用率（6个月平均）",
                              "label_en": "Card utilisation (6-month average)"},
    "risk.bureau_inquiries": {"dimension": "risk", "source": "import", "consent": "bureau", "threshold": "5",
                              "weight": "1", "severity": "1", "label_zh": "征信查询次数", "label_en": "Bureau inquiries"},
    # risk: a combination DOMAIN §5.4 names [V S25]: high leverage with high card use points to cash-out (套现)
    "risk.cash_out_pattern": {"dimension": "risk", "source": "combination",
                              "of": ["risk.debt_to_assets", "risk.card_utilisation"], "threshold": "0",
                              "weight": "1", "severity": "1", "label_zh": "高负债且高信用卡使用（疑似套现）",
                              "label_en": "High leverage with high card use (cash-out risk)"},
    # compliance (imported)
    "compliance.customer_fund_flows": {"dimension": "compliance", "source": "import", "consent": "fund_flows",
                                       "threshold": "0", "weight": "3", "severity": "1",
                                       "label_zh": "员工与客户资金往来笔数",
                                       "label_en": "Fund flows between the employee and customers"},
    "compliance.fixed_amount_cash_out": {"dimension": "compliance", "source": "import", "consent": "fund_flows",
                                         "threshold": "2", "weight": "2", "severity": "1",
                                         "label_zh": "固定金额反复套现笔数",
                                         "label_en": "Repeated fixed-amount card cash-outs"},
    "compliance.outside_interests": {"dimension": "compliance", "source": "import", "consent": "bureau",
                                     "threshold": "0", "weight": "2", "severity": "1",
                                     "label_zh": "与客户关联的对外投资/兼职",
                                     "label_en": "Outside business interests linked to customers"},
    "compliance.litigation": {"dimension": "compliance", "source": "import", "consent": "bureau", "threshold": "0",
                              "weight": "1", "severity": "1", "label_zh": "涉诉或失信记录",
                              "label_en": "Litigation or dishonest-debtor listings"},
    # discipline (recorded findings)
    "discipline.violation_points": {"dimension": "discipline", "source": "findings", "threshold": "5",
                                    "weight": "2", "severity": "1", "label_zh": "违规积分（12个月）",
                                    "label_en": "Violation points (12 months)"},
    "discipline.audit_findings": {"dimension": "discipline", "source": "findings", "threshold": "0", "weight": "1",
                                  "severity": "1", "label_zh": "本期审计发现", "label_en": "Audit findings this period"},
    "discipline.disciplinary_actions": {"dimension": "discipline", "source": "findings", "threshold": "0",
                                        "weight": "2", "severity": "1", "label_zh": "纪律处分/越权操作（12个月）",
                                        "label_en": "Disciplinary actions, unauthorised operations (12 months)"},
    # technology (audit log and login records)
    "tech.odd_hour_logins": {"dimension": "technology", "source": "staff_session", "threshold": "2", "weight": "1",
                             "severity": "1", "label_zh": "非工作时间登录", "label_en": "Logins at odd hours"},
    "tech.new_device_logins": {"dimension": "technology", "source": "staff_session", "threshold": "1",
                               "weight": "1", "severity": "1", "label_zh": "新设备登录",
                               "label_en": "Logins from new devices"},
    "tech.bulk_exports": {"dimension": "technology", "source": "audit_log", "threshold": "2", "weight": "1",
                          "severity": "1", "label_zh": "批量导出", "label_en": "Bulk exports"},
    "tech.pii_reveals": {"dimension": "technology", "source": "audit_log", "threshold": "30", "weight": "1",
                         "severity": "1", "label_zh": "查看客户敏感信息明文", "label_en": "Personal data read in clear"},
    "tech.privilege_changes": {"dimension": "technology", "source": "audit_log", "threshold": "0", "weight": "1",
                               "severity": "1", "label_zh": "权限变更", "label_en": "Privilege changes"},
}
#: DOMAIN §5.4 placeholders [B/R].
DEFAULT_DIMENSION_WEIGHTS = {"risk": "0.35", "compliance": "0.30", "discipline": "0.20", "technology": "0.15"}
DEFAULT_BANDS = {"yellow": "40", "orange": "60", "red": "80"}
#: What a bank may set per indicator; dimension, source and consent are the platform's.
EDITABLE = ("threshold", "weight", "severity")


class RiskViewError(DomainError):
    """The 360 request is not allowed as asked; nothing was changed."""


class ImportRefused(RiskViewError):
    """The whole import file is refused; ``errors`` maps "row N" (or "file") to what is wrong there."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"import refused: {sum(len(v) for v in errors.values())} error(s); nothing was imported")
        self.errors = errors


def _actor() -> str:
    actor = CurrentActor.get_or_none()
    return actor.display or actor.id if actor else ""


def check_period(period: str) -> str:
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise RiskViewError(f"period {period!r} is a month, YYYY-MM")
    return period


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(x) for x in check_period(period).split("-"))
    start = dt.date(year, month, 1)
    return start, (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError):
        raise RiskViewError(f"{what} is a number, not {value!r}") from None
    if not number.is_finite():
        raise RiskViewError(f"{what} is a number, not {value!r}")
    return number


# --- the versioned model -----------------------------------------------------------------------------------

def validate_model(doc: dict[str, Any]) -> dict[str, Any]:
    """A complete model document from ``doc``: indicators default to the catalogue, dimension weights sum to 1,
    bands rise from yellow to red within 0..100."""
    given = doc.get("indicators") or {}
    unknown = sorted(set(given) - set(CATALOGUE))
    if unknown:
        raise RiskViewError(f"unknown indicator(s): {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    indicators = {}
    for code, base in CATALOGUE.items():
        item = dict(base)
        for key, value in (given.get(code) or {}).items():
            if key not in EDITABLE:
                raise RiskViewError(f"{code}: only {', '.join(EDITABLE)} may be set, not {key}")
            item[key] = value
        threshold, weight, severity = (_decimal(item[k], f"{code} {k}") for k in EDITABLE)
        if weight < 0:
            raise RiskViewError(f"{code}: weight >= 0 (0 switches the indicator off)")
        if not Decimal(0) <= severity <= Decimal(1):
            raise RiskViewError(f"{code}: severity between 0 and 1")
        item.update(threshold=str(threshold), weight=str(weight), severity=str(severity))
        indicators[code] = item
    weights = {d: _decimal((doc.get("dimension_weights") or DEFAULT_DIMENSION_WEIGHTS).get(d, "0"),
                           f"weight of {d}") for d in DIMENSIONS}
    extra = set(doc.get("dimension_weights") or {}) - set(DIMENSIONS)
    if extra:
        raise RiskViewError(f"unknown dimension(s): {', '.join(sorted(extra))}; known: {', '.join(DIMENSIONS)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) != Decimal(1):
        raise RiskViewError("dimension weights are >= 0 and sum to 1")
    bands = {b: _decimal((doc.get("bands") or DEFAULT_BANDS).get(b), f"band {b}") for b in LEVELS[1:]}
    if not Decimal(0) < bands["yellow"] < bands["orange"] < bands["red"] <= Decimal(100):
        raise RiskViewError("bands rise: 0 < yellow < orange < red <= 100")
    return {"indicators": indicators, "dimension_weights": {d: str(w) for d, w in weights.items()},
            "bands": {b: str(v) for b, v in bands.items()}}


def current_model(session: Session) -> EmployeeRiskModel:
    """The bank's newest model version; version 1, the defaults, is written on first use."""
    model = session.scalars(select(EmployeeRiskModel).order_by(EmployeeRiskModel.version.desc())).first()
    if model is None:
        model = EmployeeRiskModel(version=1, created_by="default", **validate_model({}))
        session.add(model)
        session.flush()
    return model


def model_version(session: Session, version: int) -> EmployeeRiskModel:
    model = session.scalars(select(EmployeeRiskModel).where(EmployeeRiskModel.version == version)).first()
    if model is None:
        raise NotFound(f"no 360 model version {version}")
    return model


def set_model(session: Session, doc: dict[str, Any]) -> EmployeeRiskModel:
    """A new version of the model; scores already computed keep the version they name."""
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    clean = validate_model(doc)
    old = current_model(session)
    new = EmployeeRiskModel(version=old.version + 1, created_by=_actor(), **clean)
    session.add(new)
    session.flush()
    audit.record(session, "employee_risk.model.publish", object_type="employee_risk_model", object_id=new.version,
                 before={"indicators": old.indicators, "dimension_weights": old.dimension_weights,
                         "bands": old.bands}, after=clean)
    return new


def model_doc(model: EmployeeRiskModel) -> dict[str, Any]:
    return {"version": model.version, "created_by": model.created_by, "created_at": model.created_at,
            "indicators": [{"code": code, **item} for code, item in model.indicators.items()],
            "dimension_weights": model.dimension_weights, "bands": model.bands}


def get_model(session: Session, version: int | None = None) -> dict[str, Any]:
    authorize(Permission.EMPLOYEE_RISK_READ)
    return model_doc(model_version(session, version) if version else current_model(session))


# --- employees, authorisations, findings ---------------------------------------------------------------------

def _employee(session: Session, employee_no: str) -> Employee:
    employee = session.scalars(select(Employee).where(Employee.employee_no == employee_no)).first()
    if employee is None:
        raise NotFound(f"no employee {employee_no}")
    return employee


def record_consent(session: Session, *, employee_no: str, scope: str, granted_on: dt.date, expires_on: dt.date,
                   document_ref: str) -> EmployeeRiskConsent:
    """Record the employee's signed authorisation (授权) for checks of ``scope`` from ``granted_on`` to
    ``expires_on``."""
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    if scope not in CONSENT_SCOPES:
        raise RiskViewError(f"scope must be one of {', '.join(CONSENT_SCOPES)}")
    if expires_on <= granted_on:
        raise RiskViewError("an authorisation expires after it is granted")
    if not document_ref or not document_ref.strip():
        raise RiskViewError("name where the signed authorisation is kept (document_ref)")
    employee = _employee(session, employee_no)
    consent = EmployeeRiskConsent(employee_id=employee.id, scope=scope, granted_on=granted_on,
                                  expires_on=expires_on, document_ref=document_ref.strip(), recorded_by=_actor())
    session.add(consent)
    session.flush()
    audit.record(session, "employee_risk.consent.record", object_type="employee", object_id=employee_no,
                 after={"consent": consent.id, "scope": scope, "granted_on": granted_on, "expires_on": expires_on,
                        "document_ref": consent.document_ref})
    return consent


def revoke_consent(session: Session, consent_id: int) -> EmployeeRiskConsent:
    """The employee withdrew the authorisation: from the business date on, imports for them are refused."""
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    consent = session.get(EmployeeRiskConsent, consent_id, with_for_update=True)
    if consent is None:
        raise NotFound(f"no authorisation {consent_id}")
    if consent.revoked_on is not None:
        raise Conflict(f"authorisation {consent_id} was revoked on {consent.revoked_on}")
    consent.revoked_on = business_date(session)
    session.flush()
    audit.record(session, "employee_risk.consent.revoke", object_type="employee_risk_consent", object_id=consent_id,
                 after={"revoked_on": consent.revoked_on})
    return consent


def consent_doc(consent: EmployeeRiskConsent, employee_no: str, on: dt.date) -> dict[str, Any]:
    return {"id": consent.id, "employee_no": employee_no, "scope": consent.scope, "granted_on": consent.granted_on,
            "expires_on": consent.expires_on, "document_ref": consent.document_ref,
            "revoked_on": consent.revoked_on, "active": _active(consent, on)}


def _active(consent: EmployeeRiskConsent, on: dt.date) -> bool:
    return consent.granted_on <= on <= consent.expires_on and (consent.revoked_on is None or consent.revoked_on > on)


def record_finding(session: Session, *, employee_no: str, kind: str, found_on: dt.date, description: str,
                   points: int = 0, reference: str = "") -> EmployeeRiskFinding:
    """A discipline record: audit finding, violation points (违规积分), disciplinary action, unauthorised operation."""
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    if kind not in FINDING_KINDS:
        raise RiskViewError(f"kind must be one of {', '.join(FINDING_KINDS)}")
    if points < 0:
        raise RiskViewError("points are >= 0")
    if not description or not description.strip():
        raise RiskViewError("a finding says what was found")
    employee = _employee(session, employee_no)
    finding = EmployeeRiskFinding(employee_id=employee.id, kind=kind, found_on=found_on, points=points,
                                  reference=reference, description=description.strip(), recorded_by=_actor())
    session.add(finding)
    session.flush()
    audit.record(session, "employee_risk.finding.record", object_type="employee", object_id=employee_no,
                 after={"finding": finding.id, "kind": kind, "found_on": found_on, "points": points,
                        "reference": reference})
    return finding


# --- imports of outside signals --------------------------------------------------------------------------

def import_signals(session: Session, filename: str, content: bytes) -> EmployeeRiskImport:
    """Import outside signals from a CSV file (columns ``IMPORT_COLUMNS``, UTF-8, header row first).

    All or nothing: any bad row, or a row for an employee without an active authorisation of the indicator's scope
    on the business date, refuses the whole file (``ImportRefused`` with every row's errors)."""
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    try:
        reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
        header = reader.fieldnames or []
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRefused({"file": [f"not a UTF-8 CSV file: {exc}"]}) from None
    missing = [c for c in IMPORT_COLUMNS if c not in header]
    if missing:
        raise ImportRefused({"file": [f"missing column(s): {', '.join(missing)}; expected {', '.join(IMPORT_COLUMNS)}"]})
    if not rows:
        raise ImportRefused({"file": ["no data rows"]})
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportRefused({"file": [f"at most {MAX_IMPORT_ROWS} rows per file"]})
    model = current_model(session)
    today = business_date(session)
    employees = {e.employee_no: e for e in session.scalars(select(Employee))}
    consents: dict[int, list[EmployeeRiskConsent]] = {}
    for consent in session.scalars(select(EmployeeRiskConsent)):
        consents.setdefault(consent.employee_id, []).append(consent)
    errors: dict[str, list[str]] = {}
    accepted, seen = [], set()
    for number, row in enumerate(rows, start=2):  # the header is line 1
        problems = []
        no, period, code = ((row.get(column) or "").strip() for column in ("employee_no", "period", "indicator"))
        employee = employees.get(no)
        if employee is None:
            problems.append(f"no employee {no!r}")
        if not PERIOD_RE.match(period):
            problems.append(f"period {period!r} is a month, YYYY-MM")
        indicator = model.indicators.get(code)
        if indicator is None or indicator["source"] != "import":
            problems.append(f"indicator {code!r} is not imported; importable: "
                            f"{', '.join(c for c, i in model.indicators.items() if i['source'] == 'import')}")
        try:
            value = Decimal((row.get("value") or "").strip())
            if not value.is_finite() or value < 0:
                raise InvalidOperation
        except InvalidOperation:
            problems.append(f"value {row.get('value')!r} is a number >= 0")
            value = None
        evidence = (row.get("evidence") or "").strip()
        if len(evidence) > 1000:
            problems.append("evidence is at most 1000 characters")
        if employee is not None and indicator is not None and indicator["source"] == "import":
            scope = indicator["consent"]
            if not any(c.scope == scope and _active(c, today) for c in consents.get(employee.id, [])):
                problems.append(f"employee {no} has no recorded, unexpired {scope} authorisation on {today}")
        key = (no, period, code)
        if key in seen:
            problems.append(f"{no} {period} {code} appears twice in the file")
        seen.add(key)
        if problems:
            errors[f"row {number}"] = problems
        else:
            accepted.append((employee.id, period, code, value, evidence))
    if errors:
        raise ImportRefused(errors)
    batch = EmployeeRiskImport(filename=filename[:200], sha256=hashlib.sha256(content).hexdigest(),
                               rows=len(accepted), imported_by=_actor())
    session.add(batch)
    session.flush()
    existing = {(s.employee_id, s.period, s.indicator): s for s in session.scalars(select(EmployeeRiskSignal))}
    for employee_id, period, code, value, evidence in accepted:
        signal = existing.get((employee_id, period, code))
        if signal is None:
            session.add(EmployeeRiskSignal(employee_id=employee_id, period=period, indicator=code, value=value,
                                           evidence=evidence, import_id=batch.id))
        else:
            signal.value, signal.evidence, signal.import_id = value, evidence, batch.id
    session.flush()
    audit.record(session, "employee_risk.import", object_type="employee_risk_import", object_id=batch.id,
                 after={"filename": batch.filename, "sha256": batch.sha256, "rows": batch.rows})
    return batch


# --- computing a period ----------------------------------------------------------------------------------

def dimension_scores(hits: list[dict[str, Any]], model: EmployeeRiskModel) -> tuple[dict[str, Decimal], Decimal, str]:
    """(score per dimension, total, level) from hits (indicator, weight, severity) and the model version: the one
    formula both the computation and the reproducibility check use."""
    dims = {}
    for dimension in DIMENSIONS:
        possible = sum((Decimal(i["weight"]) for i in model.indicators.values() if i["dimension"] == dimension),
                       Decimal(0))
        got = sum((Decimal(h["weight"]) * Decimal(h["severity"]) for h in hits if h["dimension"] == dimension),
                  Decimal(0))
        dims[dimension] = (Decimal(100) * got / possible).quantize(CENT, ROUND_HALF_UP) if possible else Decimal(0)
    total = sum((Decimal(model.dimension_weights[d]) * dims[d] for d in DIMENSIONS), Decimal(0)).quantize(
        CENT, ROUND_HALF_UP)
    return dims, total, level_of(total, model.bands)


def level_of(total: Decimal, bands: dict[str, str]) -> str:
    level = "green"
    for name in LEVELS[1:]:
        if total >= Decimal(bands[name]):
            level = name
    return level


def compute(session: Session, period: str, tenant: TenantRef | None = None) -> list[EmployeeRiskScore]:
    """(Re)compute every active employee's hits and score of ``period`` with the current model version.

    ``tenant``: the session's tenant (its slug finds the logins, its time zone the odd hours); by default the bound
    one, but work in a SystemContext (jobs, the demo) has none bound and passes it.

    Replaces the period's earlier hits and scores, so running it twice leaves the same rows. Checks no permission:
    the job and ``recompute`` (which authorizes and audits) build on it."""
    start, end = period_bounds(period)
    # Portfolio figures are balances read now: a past period recomputed later is as of today, never as of the future.
    as_of = min(business_date(session), end)
    model = current_model(session)
    employees = session.scalars(select(Employee).where(Employee.status == "active").order_by(Employee.id)).all()
    names = signals.usernames([e.user_id for e in employees if e.user_id])
    people = [signals.Person(e.id, e.user_id, names.get(e.user_id)) for e in employees]
    measured: dict[int, dict[str, signals.Signal]] = {p.employee_id: {} for p in people}
    for part in (signals.technology(session, tenant or CurrentTenant.get(), people, start, end),
                 signals.portfolio(session, people, as_of),
                 signals.discipline(session, people, start, end)):
        for employee_id, values in part.items():
            measured[employee_id].update(values)
    # An authorisation withdrawn (or expired) since the import stops the use of what it allowed (PIPL art. 15).
    today = business_date(session)
    authorised = {(c.employee_id, c.scope) for c in session.scalars(select(EmployeeRiskConsent))
                  if _active(c, today)}
    for signal in session.scalars(select(EmployeeRiskSignal).where(EmployeeRiskSignal.period == period)):
        scope = model.indicators.get(signal.indicator, {}).get("consent")
        if signal.employee_id in measured and (signal.employee_id, scope) in authorised:
            measured[signal.employee_id][signal.indicator] = signals.Signal(
                signal.value, "import", [{"import": signal.import_id, "evidence": signal.evidence}])
    for values in measured.values():
        values.update(_combinations(model, values))
    session.execute(delete(EmployeeRiskHit).where(EmployeeRiskHit.period == period))
    existing = {s.employee_id: s for s in session.scalars(select(EmployeeRiskScore)
                                                          .where(EmployeeRiskScore.period == period))}
    scores = []
    for person in people:
        hits = []
        for code, indicator in model.indicators.items():
            signal = measured[person.employee_id].get(code)
            if signal is None or Decimal(indicator["weight"]) == 0:
                continue
            if signal.value > Decimal(indicator["threshold"]):
                hit = EmployeeRiskHit(employee_id=person.employee_id, period=period, indicator=code,
                                      dimension=indicator["dimension"], value=signal.value,
                                      threshold=Decimal(indicator["threshold"]), weight=Decimal(indicator["weight"]),
                                      severity=Decimal(indicator["severity"]), evidence=signal.evidence(),
                                      model_version=model.version)
                session.add(hit)
                hits.append({"dimension": hit.dimension, "weight": hit.weight, "severity": hit.severity})
        dims, total, level = dimension_scores(hits, model)
        score = existing.pop(person.employee_id, None) or EmployeeRiskScore(employee_id=person.employee_id,
                                                                            period=period)
        score.dims, score.total, score.level = {d: str(v) for d, v in dims.items()}, total, level
        score.model_version, score.as_of = model.version, as_of
        session.add(score)
        scores.append(score)
    for stale in existing.values():  # employees who left since the last run
        session.delete(stale)
    session.flush()
    return scores


def _combinations(model: EmployeeRiskModel, values: dict[str, signals.Signal]) -> dict[str, signals.Signal]:
    """Combination indicators: 1 when every part is over its own threshold (of the same model version), else 0."""
    out = {}
    for code, indicator in model.indicators.items():
        if indicator["source"] != "combination":
            continue
        parts = [(part, values.get(part), Decimal(model.indicators[part]["threshold"])) for part in indicator["of"]]
        over = all(signal is not None and signal.value > threshold for _, signal, threshold in parts)
        out[code] = signals.Signal(Decimal(1 if over else 0), "combination", [
            {"indicator": part, "value": str(signal.value) if signal else None, "threshold": str(threshold)}
            for part, signal, threshold in parts])
    return out


def recompute(session: Session, period: str) -> list[EmployeeRiskScore]:
    authorize(Permission.EMPLOYEE_RISK_MANAGE)
    scores = compute(session, period)
    audit.record(session, "employee_risk.compute", object_type="employee_risk_period", object_id=period,
                 after={"employees": len(scores), "levels": {lv: sum(s.level == lv for s in scores)
                                                             for lv in LEVELS}})
    return scores


def reproduce(session: Session, employee_id: int, period: str) -> dict[str, Any]:
    """The stored score next to the one recomputed from the stored hits and the model version it names."""
    score = session.scalars(select(EmployeeRiskScore).where(EmployeeRiskScore.employee_id == employee_id,
                                                            EmployeeRiskScore.period == period)).first()
    if score is None:
        raise NotFound(f"no 360 score of {period} for this employee")
    hits = [{"dimension": h.dimension, "weight": h.weight, "severity": h.severity}
            for h in session.scalars(select(EmployeeRiskHit).where(EmployeeRiskHit.employee_id == employee_id,
                                                                   EmployeeRiskHit.period == period))]
    dims, total, level = dimension_scores(hits, model_version(session, score.model_version))
    recomputed = {"dims": {d: str(v) for d, v in dims.items()}, "total": total, "level": level}
    return {"model_version": score.model_version, "recomputed": recomputed,
            "matches": recomputed == {"dims": score.dims, "total": score.total, "level": score.level}}


# --- the audited views -----------------------------------------------------------------------------------

def latest_period(session: Session) -> str | None:
    return session.scalars(select(EmployeeRiskScore.period).order_by(EmployeeRiskScore.period.desc())).first()


def dashboard(session: Session, period: str, *, level: str | None = None) -> list[dict[str, Any]]:
    """Every employee's score of ``period``, worst first (the 360 dashboard); the view is audited."""
    authorize(Permission.EMPLOYEE_RISK_READ)
    check_period(period)
    if level is not None and level not in LEVELS:
        raise RiskViewError(f"level must be one of {', '.join(LEVELS)}")
    query = (select(EmployeeRiskScore, Employee, OrgUnit)
             .join(Employee, Employee.id == EmployeeRiskScore.employee_id)
             .join(OrgUnit, OrgUnit.id == Employee.org_unit_id)
             .where(EmployeeRiskScore.period == period)
             .order_by(EmployeeRiskScore.total.desc(), Employee.employee_no))
    if level:
        query = query.where(EmployeeRiskScore.level == level)
    hits = dict(session.execute(select(EmployeeRiskHit.employee_id, func.count()).where(
        EmployeeRiskHit.period == period).group_by(EmployeeRiskHit.employee_id)).all())
    rows = [{"employee_no": e.employee_no, "name": e.name, "position": e.position, "org_unit": u.code,
             "org_unit_zh": u.name_zh, "org_unit_en": u.name_en, "period": s.period,
             "dims": {d: Decimal(v) for d, v in s.dims.items()}, "total": s.total, "level": s.level,
             "hits": hits.get(e.id, 0), "model_version": s.model_version, "as_of": s.as_of}
            for s, e, u in session.execute(query).all()]
    audit.record(session, "employee_risk.view", object_type="employee_risk_period", object_id=period,
                 after={"view": "dashboard", "level": level, "rows": len(rows)})
    return rows


def employee_view(session: Session, employee_no: str, period: str) -> dict[str, Any]:
    """One employee's drill-down: score per dimension, every hit with its evidence, authorisations, the score
    history and the reproducibility check; the view is audited."""
    authorize(Permission.EMPLOYEE_RISK_READ)
    check_period(period)
    employee = _employee(session, employee_no)
    unit = session.get(OrgUnit, employee.org_unit_id)
    score = session.scalars(select(EmployeeRiskScore).where(EmployeeRiskScore.employee_id == employee.id,
                                                            EmployeeRiskScore.period == period)).first()
    model = model_version(session, score.model_version) if score else current_model(session)
    hits = session.scalars(select(EmployeeRiskHit).where(EmployeeRiskHit.employee_id == employee.id,
                                                         EmployeeRiskHit.period == period)
                           .order_by(EmployeeRiskHit.indicator)).all()
    hits = sorted(hits, key=lambda h: DIMENSIONS.index(h.dimension))  # risk first, as the dashboard's columns
    history = session.scalars(select(EmployeeRiskScore).where(EmployeeRiskScore.employee_id == employee.id)
                              .order_by(EmployeeRiskScore.period.desc()).limit(12)).all()
    today = business_date(session)
    consents = session.scalars(select(EmployeeRiskConsent).where(EmployeeRiskConsent.employee_id == employee.id)
                               .order_by(EmployeeRiskConsent.granted_on.desc())).all()
    view = {
        "employee_no": employee.employee_no, "name": employee.name, "position": employee.position,
        "org_unit": unit.code, "org_unit_zh": unit.name_zh, "org_unit_en": unit.name_en, "period": period,
        "score": None if score is None else {
            "dims": {d: Decimal(v) for d, v in score.dims.items()}, "total": score.total, "level": score.level,
            "model_version": score.model_version, "as_of": score.as_of},
        "hits": [{"indicator": h.indicator, "dimension": h.dimension,
                  "label_zh": model.indicators.get(h.indicator, CATALOGUE.get(h.indicator, {})).get("label_zh", ""),
                  "label_en": model.indicators.get(h.indicator, CATALOGUE.get(h.indicator, {})).get("label_en", ""),
                  "value": h.value, "threshold": h.threshold, "weight": h.weight, "severity": h.severity,
                  "evidence": h.evidence, "model_version": h.model_version, "at": h.at} for h in hits],
        "history": [{"period": s.period, "total": s.total, "level": s.level, "model_version": s.model_version}
                    for s in history],
        "consents": [consent_doc(c, employee.employee_no, today) for c in consents],
        "reproduced": reproduce(session, employee.id, period) if score else None,
    }
    audit.record(session, "employee_risk.view", object_type="employee", object_id=employee.employee_no,
                 after={"view": "employee", "period": period, "hits": len(hits)})
    return view


def employee_no_of(session: Session, employee_id: int) -> str:
    return session.scalar(select(Employee.employee_no).where(Employee.id == employee_id))
