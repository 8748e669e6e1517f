"""The origination process: product terms and consent at intake, the decision engine at each stage, the
investigation's parameters and sector profiles, and the plugin events after decisions commit.

Every other capability keeps its own rules (applications: the state machine; products: terms; investigation: the
analysis; decisions: the engine); this module only passes each step what the previous ones produced.
Functions take a tenant ``Session`` and flush; the caller commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ... import audit
from ...decisions.engine import Outcome, Stage
from ...decisions.models import DecisionRecord
from ...decisions.services import VersionsInForce, evaluate_stage
from ..applications.models import LoanApplication
from ..applications.states import Event, State, transition
from ..cob.dates import BUSINESS_DATE, business_date
from ..customers.models import Customer
from ..investigation.analysis import AnalysisParameters, CheckType
from ..investigation.models import InvestigationAnalysis, InvestigationWorksheet
from ..products.models import Product

log = logging.getLogger(__name__)

#: Application channels (applications.models.CHANNELS) as the facts catalogue's ``channel.code`` values.
CHANNEL_FACT = {"branch": "branch", "field_app": "branch", "phone": "branch", "wechat_mini": "wechat",
                "mobile_banking": "app", "online_banking": "app", "partner": "partner"}
#: Terms' ratio limits → the analysis parameter they set.
_RATIO_PARAMETERS = {"repayment_capacity_ratio_max": "repayment_capacity_max", "debt_to_equity_max": "debt_to_equity_max",
                     "debt_to_assets_max": "debt_to_assets_max", "quick_ratio_min": "quick_ratio_min",
                     "loan_to_equity_first_loan_max": "loan_to_equity_max"}
#: Outcomes of a committed decision as ``on_application_decided`` names them.
DECIDED_OUTCOMES = {State.APPROVED.value: "approved", State.APPROVED_WITH_CONDITIONS.value: "approved_with_conditions",
                    State.REJECTED.value: "rejected"}


# --- investigation: parameters from the product, sector profiles from plugins ---------------------------------


def analysis_parameters(session: Session, application: LoanApplication) -> AnalysisParameters:
    """The product's investigation tolerances and ratio thresholds (DOMAIN defaults for a product without terms)."""
    product = session.get(Product, application.product_id)
    if product is None or not product.terms:
        return AnalysisParameters()
    from ..products.services import terms_of
    template = terms_of(session, product.id).investigation
    tolerances = dict(AnalysisParameters().tolerances)
    for rule in template.cross_checks:
        tolerances[CheckType(rule.type)] = Decimal(rule.tolerance_pct)
    values: dict[str, Any] = {"tolerances": tolerances,
                              "capacity_includes_existing": template.capacity_includes_existing_instalments}
    for limit in template.ratios:
        if limit.code in _RATIO_PARAMETERS:
            values[_RATIO_PARAMETERS[limit.code]] = Decimal(limit.value)
    return AnalysisParameters(**values)


@dataclasses.dataclass(frozen=True)
class SectorProfile:
    """One sector's benchmarks as the worksheet uses them, and who supplied them (plugin name, source note)."""

    sector: str
    label_zh: str
    label_en: str
    gross_margin: Decimal
    inventory_turnover: Decimal
    seasonality: tuple[Decimal, ...]
    plugin: str
    source: str

    @property
    def inventory_months(self) -> Decimal:
        """Months of cost of goods the sector keeps in stock: 12 ÷ turns a year."""
        return (Decimal(12) / self.inventory_turnover).quantize(Decimal("0.0001"))


def industry_profiles() -> dict[str, SectorProfile]:
    """The acting bank's sector profiles: its enabled plugins' ``register_industry_profiles`` answers, the first
    answer per sector winning; the built-in national profiles answer last (fallback)."""
    from ...plugins.host import get_host

    host = get_host()
    answers = host.call("register_industry_profiles")
    # Built-ins are called with the rest in registration order; they must lose to any regional plugin.
    builtin = {name for name, info in host.plugins.items() if info.builtin}
    ordered = [a for a in answers if a[0] not in builtin] + [a for a in answers if a[0] in builtin]
    profiles: dict[str, SectorProfile] = {}
    for plugin, answer in ordered:
        for p in answer or []:
            if p.sector not in profiles:
                profiles[p.sector] = SectorProfile(p.sector, p.label_zh, p.label_en, Decimal(p.gross_margin),
                                                   Decimal(p.inventory_turnover), tuple(p.seasonality), plugin,
                                                   p.source)
    return profiles


def profile_sector(application: LoanApplication, data: Mapping[str, Any]) -> str | None:
    """The sector whose profile the worksheet uses: the officer's choice (``sector_profile``), else the
    application's sector."""
    return (str(data.get("sector_profile") or "").strip() or application.sector or None)


def apply_profile(data: Mapping[str, Any], profile: SectorProfile | None) -> dict[str, Any]:
    """The worksheet with the sector's benchmarks filled in where the officer left them out: the sector margin
    for the GROSS_MARGIN cross-check, stock months (12 ÷ turnover) for INVENTORY_TURNOVER, and the seasonality
    factors for the cash-flow projection. What the officer entered always wins."""
    out = dict(data)
    if profile is None:
        return out
    evidence = dict(out.get("evidence") or {})
    if evidence.get("sector_gross_margin") in (None, ""):
        evidence["sector_gross_margin"] = str(profile.gross_margin)
    if evidence.get("sector_inventory_months") in (None, ""):
        evidence["sector_inventory_months"] = str(profile.inventory_months)
    out["evidence"] = evidence
    season = out.get("seasonality")
    if not season or all(s in (None, "", "typical") for s in season):
        out["seasonality"] = [str(f) for f in profile.seasonality]
    out["sector_profile"] = profile.sector
    out["industry_profile"] = profile_note(profile)
    return out


def profile_note(profile: SectorProfile | None) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {"sector": profile.sector, "label_zh": profile.label_zh, "label_en": profile.label_en,
            "gross_margin": str(profile.gross_margin), "inventory_turnover": str(profile.inventory_turnover),
            "inventory_months": str(profile.inventory_months), "seasonality": [str(f) for f in profile.seasonality],
            "plugin": profile.plugin, "source": profile.source}


def prepare_worksheet(session: Session, application: LoanApplication, data: Mapping[str, Any]
                      ) -> tuple[dict[str, Any], AnalysisParameters, dict[str, Any] | None]:
    """(worksheet data with the sector benchmarks, the product's parameters, the profile used) for the analysis."""
    sector = profile_sector(application, data)
    profile = industry_profiles().get(sector) if sector else None
    return apply_profile(data, profile), analysis_parameters(session, application), profile_note(profile)


def _application(session: Session, application_id: int) -> LoanApplication:
    from ..applications.services import get_application
    return get_application(session, application_id)


def analyse_worksheet(session: Session, application_id: int, data: Mapping[str, Any], *, visit_date: dt.date):
    """Live analysis with the product's parameters and the sector profile: (analysis, the data analysed)."""
    from ..investigation.services import analyse_live

    application = _application(session, application_id)
    prepared, parameters, _ = prepare_worksheet(session, application, data)
    return analyse_live(prepared, visit_date=visit_date, parameters=parameters), prepared


def save_investigation(session: Session, application_id: int, data: Mapping[str, Any], *, visit_date: dt.date,
                       base_version: int | None = None):
    """Save the worksheet with the product's parameters and the sector profile; when it is complete the case moves
    INVESTIGATING → ANALYSED and the pre-approval stage runs, in the same transaction."""
    from ..investigation.services import save_worksheet

    application = _application(session, application_id)
    prepared, parameters, _ = prepare_worksheet(session, application, data)
    return save_worksheet(session, application_id, prepared, visit_date=visit_date, base_version=base_version,
                          parameters=parameters, advance=advance_after_analysis)


def advance_after_analysis(session: Session, application: LoanApplication) -> None:
    """``save_worksheet``'s ``advance``: INVESTIGATING → ANALYSED, then the pre-approval stage on the saved analysis."""
    transition(session, application, Event.ANALYSE, reason="IPC worksheet complete")
    session.flush()
    run_pre_approval(session, application)


# --- facts for the decision engine ----------------------------------------------------------------------------


def _years_between(start: dt.date, end: dt.date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def _num(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except Exception:  # noqa: BLE001 - a malformed stored figure is a missing fact, not a crash
        return None


def latest_analysis(session: Session, application_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(InvestigationAnalysis.result).join(InvestigationWorksheet,
                                                  InvestigationWorksheet.id == InvestigationAnalysis.worksheet_id)
        .where(InvestigationWorksheet.application_id == application_id)
        .order_by(InvestigationWorksheet.version.desc()).limit(1)).first()
    return row[0] if row else None


def _analysis_facts(result: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    business = result.get("business_balance_sheet") or {}
    typical = (result.get("pnl") or {}).get("typical") or {}
    sales = _num(typical.get("sales"))
    facts["business.monthly_sales"] = sales
    gross = _num(typical.get("gross_profit"))
    facts["business.gross_margin"] = (gross / sales).quantize(Decimal("0.0001")) if sales and gross is not None else None
    facts["business.net_profit"] = _num(typical.get("net_business_profit"))
    facts["business.total_assets"] = _num(business.get("total_assets"))
    facts["business.total_liabilities"] = _num(business.get("total_liabilities"))
    facts["business.equity"] = _num(business.get("equity"))
    facts["business.cross_checks_failed"] = sum(1 for c in result.get("cross_checks") or [] if not c.get("passed"))
    facts["household.other_income"] = _num(typical.get("other_household_income"))
    facts["household.expenses"] = _num(typical.get("household_expenses"))
    facts["household.disposable_income"] = _num(typical.get("disposable_income"))
    facts["application.new_instalment"] = _num(result.get("new_instalment"))
    ratios = {r.get("code"): r for r in result.get("ratios") or []}
    capacity = next((r for r in ratios.values() if str(r.get("code", "")).startswith("repayment_capacity")
                     and r.get("judged")), None)
    facts["ipc.repayment_ratio"] = _num(capacity.get("value")) if capacity else None
    for code, fact in (("debt_to_equity", "ipc.debt_to_equity"), ("debt_to_assets", "ipc.debt_to_assets"),
                       ("quick_ratio", "ipc.quick_ratio"), ("loan_to_equity", "ipc.loan_to_equity")):
        facts[fact] = _num((ratios.get(code) or {}).get("value"))
    facts["ipc.max_loan"] = _num(result.get("max_loan"))
    return {k: v for k, v in facts.items() if v is not None}


def build_facts(session: Session, application: LoanApplication, *, analysis: Mapping[str, Any] | None = None,
                customer: Customer | None = None, product: Product | None = None,
                date_and_history: tuple[dt.date | None, int] | None = None) -> dict[str, Any]:
    """The engine's facts for ``application``: from the application, its customer, its product, the latest
    investigation analysis (when there is one) and the bank's enabled plugins' ``register_facts``.

    Facts with no source yet (bureau report, blacklists, identity verification) are left out: the engine treats
    them as missing, which fires no rule that needs them. A caller that has the customer and product at hand
    passes them (``analysis={}`` when the case cannot have one yet), and ``date_and_history`` where it read the
    bank's business date and the customer's count of other disbursed applications.
    """
    customer = customer or session.get(Customer, application.customer_id)
    product = product or session.get(Product, application.product_id)
    on, earlier = date_and_history or session.execute(_DATE_AND_HISTORY, {"customer_id": customer.id,
                                                                          "application_id": application.id}).one()
    on = on or business_date(session)  # a bank's first decision seeds its business date
    facts: dict[str, Any] = {
        "application.amount": Decimal(application.amount), "application.term_months": application.term_months,
        "application.date": on, "application.is_renewal": False,
        "channel.code": CHANNEL_FACT.get(application.channel, "branch"),
        "product.code": product.code,
    }
    if product.terms:
        from ..products.services import terms_of
        facts["product.max_amount"] = terms_of(session, product.id).amount.max
    if customer.birth_date is not None:
        facts["applicant.birth_date"] = customer.birth_date
        facts["applicant.age"] = _years_between(customer.birth_date, on)
    if customer.gender in ("male", "female"):
        facts["applicant.gender"] = customer.gender
    if customer.marital_status in ("single", "married", "divorced", "widowed"):
        facts["applicant.marital_status"] = customer.marital_status
    if customer.years_in_business is not None:
        facts["business.years_in_business"] = customer.years_in_business
    facts["history.is_existing_customer"] = bool(earlier)
    if analysis is None:
        analysis = latest_analysis(session, application.id)
    if analysis:
        facts.update(_analysis_facts(analysis))
    facts.update(plugin_facts(facts))
    return facts


# The business date and whether the customer had a loan disbursed before, in one round trip.
_DATE_AND_HISTORY = select(
    BUSINESS_DATE.scalar_subquery(),
    select(func.count()).select_from(LoanApplication)
    .where(LoanApplication.customer_id == bindparam("customer_id"), LoanApplication.id != bindparam("application_id"),
           LoanApplication.state == State.DISBURSED.value).scalar_subquery())


def plugin_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the facts the bank's enabled plugins define (``register_facts``), computed from ``facts``;
    a plugin whose computation fails is isolated (its fact stays missing)."""
    from ...plugins.host import get_host

    host = get_host()
    values: dict[str, Any] = {}
    for plugin, answer in host.call("register_facts"):
        for definition in answer or []:
            if definition.name in values or definition.name in facts:
                continue
            value = host.run_isolated(plugin, f"fact {definition.name}", definition.compute, dict(facts))
            if value is not None:
                values[definition.name] = value
    return values


# --- the three stages -----------------------------------------------------------------------------------------


def stage_records(session: Session, application_id: int) -> dict[str, DecisionRecord]:
    """The latest stored decision of each stage for an application."""
    rows = session.scalars(select(DecisionRecord).where(DecisionRecord.application_id == application_id)
                           .order_by(DecisionRecord.id))
    return {r.stage: r for r in rows}


def run_admission(session: Session, application: LoanApplication, *, in_force: VersionsInForce | None = None,
                  **known: Any):
    """Admission (准入) at intake: a decline rejects the application with the reason codes; refer and pass go on.
    ``known``: what the caller already read, passed on to ``build_facts``; ``in_force``: the admission rule-set
    versions it read (``evaluate_stage``)."""
    decision = evaluate_stage(session, Stage.ADMISSION, build_facts(session, application, **known),
                              application_id=application.id, in_force=in_force)
    if decision.outcome is Outcome.DECLINE and application.state == State.APPLIED.value:
        codes = ", ".join(decision.reason_codes)
        transition(session, application, Event.PRESCREEN_FAIL, reason=f"admission declined: {codes}",
                   check_permission=False)
        session.flush()
    return decision


def run_pre_approval(session: Session, application: LoanApplication):
    """Pre-approval (预批核) on the saved analysis: the indicative limit, rate and term go on the application."""
    decision = evaluate_stage(session, Stage.PRE_APPROVAL, build_facts(session, application),
                              application_id=application.id)
    before = {"segment": application.indicative_segment, "limit": application.indicative_limit,
              "rate": application.indicative_rate, "term_months": application.indicative_term_months}
    out = decision.outputs
    application.indicative_segment = out.get("segment")
    limit, rate, term = _num(out.get("indicative_limit")), _num(out.get("indicative_rate")), out.get("indicative_term_months")
    application.indicative_limit = limit.quantize(Decimal("0.01")) if limit is not None else None
    application.indicative_rate = rate
    application.indicative_term_months = int(term) if term is not None else None
    session.flush()
    audit.record(session, "application.pre_approval", object_type="loan_application", object_id=application.id,
                 before=before, after={"segment": application.indicative_segment, "limit": application.indicative_limit,
                                       "rate": application.indicative_rate,
                                       "term_months": application.indicative_term_months,
                                       "outcome": decision.outcome.value, "decision_id": decision.record_id})
    return decision


def run_approval(session: Session, application: LoanApplication):
    """Approval (审批) when the case enters review: where the rule set says approve and the authority matrix lets
    the engine (role ``system``) approve this amount and term, the case is approved automatically; otherwise it
    stays in review for a person, who sees the rule hits on the case page."""
    from ..applications.services import within_authority

    decision = evaluate_stage(session, Stage.APPROVAL, build_facts(session, application),
                              application_id=application.id)
    if decision.outcome is Outcome.APPROVE and within_authority(session, application, {AUTO_APPROVER_ROLE}):
        codes = ", ".join(decision.reason_codes)
        why = f"decision engine, approval within the engine's authority: {codes} (decision {decision.record_id})"
        transition(session, application, Event.APPROVE, reason=why, check_permission=False)
        session.flush()
    return decision


#: The authority-matrix role under which the engine approves by itself (a row ``system`` × product × amount ×
#: term, set through maker-checker like any other); with no such row, the engine never approves alone.
AUTO_APPROVER_ROLE = "system"


# --- plugin events --------------------------------------------------------------------------------------------


def announce_after_commit(session: Session, application_id: int, state: str) -> None:
    """Fire ``on_application_decided(application_id, outcome)`` for the bank's enabled plugins once ``session``
    commits (never on rollback: a refused operation decided nothing)."""
    from sqlalchemy import event as sa_event

    outcome = DECIDED_OUTCOMES[state]

    def fire(_session: Session) -> None:
        from ...plugins.host import get_host
        try:
            get_host().call("on_application_decided", application_id=application_id, outcome=outcome)
        except Exception:  # noqa: BLE001 - the decision is committed; a notification failure must not undo it
            log.exception("on_application_decided failed for application %s", application_id)

    def forget(_session: Session, *args: Any) -> None:
        if sa_event.contains(session, "after_commit", fire):
            sa_event.remove(session, "after_commit", fire)

    sa_event.listen(session, "after_commit", fire, once=True)
    sa_event.listen(session, "after_soft_rollback", forget, once=True)


# --- the head-office rule sets ----------------------------------------------------------------------------------

#: The first publication of the standard rule sets is in force from this date, so a bank whose business date lies
#: in the past (a demo bank, a replayed test) still finds them; later changes are in force from the day published.
FIRST_EFFECTIVE = dt.date(2000, 1, 1)


def ensure_standard_rules(reason: str) -> list[str]:
    """Publish the head-office rule files that changed (``rules sync-standard``) so every stage has a version in
    force; idempotent. Returns the codes published. Audited as the system (``reason``)."""
    from ...db import SystemContext, shared_session
    from ...decisions.models import StandardRuleSetVersion
    from ...decisions.services import sync_standard

    with SystemContext(reason), shared_session() as shared, shared.begin():
        first = shared.scalar(select(func.count()).select_from(StandardRuleSetVersion)) == 0
        published = sync_standard(shared, FIRST_EFFECTIVE if first else dt.date.today())
        return [v.code for v in published]


# --- visit photos through the file store ----------------------------------------------------------------------


def upload_visit_photo(session: Session, visit_id: int, data: bytes, *, subject: str, caption: str = ""):
    """Store a photo taken on the visit in the file store (bytes sniffed: JPEG, PNG, WebP or HEIC; at most the
    ``upload_max_bytes`` setting) and attach it to the visit by its SHA-256 key; the same photo twice is one."""
    from ... import settings as settings_module
    from ...files.sniff import sniff
    from ...files.store import file_store
    from ...identity.authorization import authorize
    from ...identity.permissions import Permission
    from ..investigation.services import InvestigationError, add_photo

    authorize(Permission.APPLICATION_INVESTIGATE)
    limit = settings_module.get().upload_max_bytes
    if not data:
        raise InvestigationError("file: the photo is empty")
    if len(data) > limit:
        raise InvestigationError(f"file: the photo is {len(data)} bytes; the limit is {limit} bytes")
    content_type = sniff(data)
    if content_type is None or not content_type.startswith("image/"):
        raise InvestigationError("file: not a photo (JPEG, PNG, WebP or HEIC)")
    stored = file_store().put(session.info["tenant"].slug, data)
    return add_photo(session, visit_id, sha256=stored.sha256, content_type=content_type, size_bytes=stored.size,
                     subject=subject, caption=caption)


def visit_for_photos(session: Session, application_id: int):
    """The application's latest visit, or a visit recorded now by the acting officer (the portal's photo form is
    used on site, during the visit)."""
    from ..investigation.models import InvestigationVisit
    from ..investigation.services import record_visit

    visit = session.scalar(select(InvestigationVisit).where(InvestigationVisit.application_id == application_id)
                           .order_by(InvestigationVisit.visited_at.desc(), InvestigationVisit.id.desc()).limit(1))
    return visit or record_visit(session, application_id, visited_at=dt.datetime.now(dt.timezone.utc))
