"""Simulation (规则模拟) of a draft overlay version over stored decisions, and the champion/challenger settings.

``start_simulation`` records a run and enqueues :func:`run_simulation` (a dramatiq tenant job). The job takes the
latest stored decision of the draft's stage for each application (frozen when the run starts), evaluates both the
version in force on ``as_of`` ("current") and the draft over the decisions' facts snapshots with the column-wise
back-test (:meth:`CompiledRuleSet.backtest`), chunk by chunk, and folds each chunk into the run row together
with the cursor and progress in one transaction — so a redelivered, retried or restarted job resumes where the
last committed chunk ended and never counts a chunk twice.

Figures (see docs/decisions.md, "Simulation"):

- **accepted**: outcome ``pass`` (admission, pre-approval) or ``approve`` (approval); ``refer`` and ``decline``
  are not accepted. Approval rate = accepted / evaluated.
- **bad** loan: written off or in litigation, DPD ≥ 90 now or in any classification event, or classified
  substandard or worse now or by a confirmed classification. **Matured** loan: bad, or settled / written off, or
  its maturity date is on or before ``as_of``. An application's loan outcome is over all its loans.
- **observed bad rate** of a version: bad / matured among the applications it accepts that have a matured loan
  (applications it accepts that were never booked have no observed outcome: see the expected bad rate).
- **expected bad rate** of a version: the mean, over the applications it accepts, of the observed bad rate of
  matured loans in the application's bureau-score band (:data:`BAND_WIDTH` points; no score is a band of its
  own), falling back to the whole book's rate where a band has fewer than :data:`MIN_BAND_LOANS` matured
  loans. The table is computed once when the job starts and stored with the run. It is the standard
  swap-set estimate: a swap-in was never booked, so only its score band can say how it would have performed.
- **swap-in**: not accepted by the current version, accepted by the draft; **swap-out** the reverse; capped
  lists of (application, decision record, current outcome, draft outcome) and exact counts. ``changed`` counts
  every outcome change (refer → decline included).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from .. import audit
from ..audit import CurrentActor
from ..db import CurrentTenant, SystemContext, shared_session, tenant_session
from ..errors import DomainError, NotFound
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..jobs import BrokerNotConfigured, installed_broker, tenant_actor
from ..lending.classification.models import NPL_CLASSES, ClassificationEvent
from ..lending.loans.models import LoanAccount
from . import shadow
from .engine import DecisionError, Outcome, Stage, coerce_facts
from .expressions import RuleSyntaxError
from .models import (DecisionChallenger, DecisionRecord, DecisionSimulation, RuleSetOverlayVersion,
                     ShadowDecision, StandardRuleSetVersion)
from .services import CACHE, RuleSetError, effective_rule_set

log = logging.getLogger(__name__)

#: Decisions per transaction of the job: progress moves at least this often; the back-test batches inside.
CHUNK = 5_000
#: Applications listed per swap set (the counts are exact).
SWAP_LIST_CAP = 200
#: Bureau-score band width for the expected bad rate, and the matured loans a band needs to use its own rate.
BAND_WIDTH = 50
MIN_BAND_LOANS = 20
ACCEPTED = frozenset({Outcome.PASS.value, Outcome.APPROVE.value})
SIDES = ("current", "draft")


# --- loan outcomes ------------------------------------------------------------------------------------------

def loan_outcomes(session: Session, as_of: dt.date, application_ids: list[int] | None = None
                  ) -> dict[int, tuple[bool, bool]]:
    """application id -> (matured, bad) over its loans (see the module docstring for the definitions)."""
    bad_history = select(ClassificationEvent.loan_id).where(or_(
        and_(ClassificationEvent.status == "confirmed", ClassificationEvent.to_class.in_(NPL_CLASSES)),
        ClassificationEvent.dpd >= 90))
    bad = or_(LoanAccount.state.in_(("written_off", "in_litigation")), LoanAccount.dpd >= 90,
              LoanAccount.risk_class.in_(NPL_CLASSES), LoanAccount.id.in_(bad_history))
    matured = or_(bad, LoanAccount.state.in_(("settled", "written_off")), LoanAccount.maturity_date <= as_of)
    query = (select(LoanAccount.application_id, func.bool_or(matured), func.bool_or(bad))
             .where(LoanAccount.application_id.is_not(None)).group_by(LoanAccount.application_id))
    if application_ids is not None:
        query = query.where(LoanAccount.application_id.in_(application_ids))
    return {app: (bool(m), bool(b)) for app, m, b in session.execute(query)}


def band_of(score: Any) -> str:
    if score is None:
        return "none"
    try:
        return str(int(float(score) // BAND_WIDTH * BAND_WIDTH))
    except (TypeError, ValueError):
        return "none"


def bad_rate_table(session: Session, as_of: dt.date) -> dict[str, Any]:
    """Observed bad rate of matured loans per bureau-score band (the score in the application's latest decision)."""
    outcomes = {app: bad for app, (matured, bad) in loan_outcomes(session, as_of).items() if matured}
    scores: dict[int, Any] = {}
    if outcomes:
        latest = (select(func.max(DecisionRecord.id)).where(DecisionRecord.application_id.in_(
            select(LoanAccount.application_id).where(LoanAccount.application_id.is_not(None))))
            .group_by(DecisionRecord.application_id))
        for app, score in session.execute(select(DecisionRecord.application_id,
                                                 DecisionRecord.facts["bureau.score"].as_float())
                                          .where(DecisionRecord.id.in_(latest))):
            scores[app] = score
    bands: dict[str, dict[str, Any]] = {}
    for app, is_bad in outcomes.items():
        band = bands.setdefault(band_of(scores.get(app)), {"matured": 0, "bad": 0})
        band["matured"] += 1
        band["bad"] += int(is_bad)
    for band in bands.values():
        band["rate"] = _ratio(band["bad"], band["matured"])
    matured = len(outcomes)
    bad = sum(outcomes.values())
    return {"band_width": BAND_WIDTH, "min_loans": MIN_BAND_LOANS, "as_of": as_of.isoformat(),
            "overall": {"matured": matured, "bad": bad, "rate": _ratio(bad, matured)}, "bands": bands}


def expected_rate(table: dict[str, Any], score: Any) -> float | None:
    band = table["bands"].get(band_of(score))
    if band is not None and band["matured"] >= table["min_loans"]:
        return band["rate"]
    return table["overall"]["rate"]


def _ratio(part: float, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


# --- starting a run -----------------------------------------------------------------------------------------

def _population(stage: str, first: int, last: int):
    """Conditions selecting the latest decision of ``stage`` per application with ids in [first, last].

    One grouped scan (a hash aggregate joined back by id) rather than a correlated NOT EXISTS: the latter's plan
    depends on table statistics, and without fresh ones PostgreSQL chose a nested loop of bitmap scans that took
    27 s for 20,000 decisions; this one is linear whatever the statistics say."""
    latest = (select(func.max(DecisionRecord.id))
              .where(DecisionRecord.stage == stage, DecisionRecord.application_id.is_not(None),
                     DecisionRecord.id <= last)
              .group_by(DecisionRecord.application_id))
    return (DecisionRecord.id.in_(latest), DecisionRecord.id >= first)


def _empty_results() -> dict[str, Any]:
    side = {"outcomes": {o.value: 0 for o in Outcome}, "accepted": 0, "expected_bad_sum": 0.0, "expected_basis": 0,
            "matured": 0, "bad": 0}
    return {"evaluated": 0, "skipped": 0, "changed": 0, **{s: {**side, "outcomes": dict(side["outcomes"])}
                                                          for s in SIDES},
            "swap_in": {"count": 0, "applications": []}, "swap_out": {"count": 0, "applications": []}}


def start_simulation(session: Session, draft_version_id: int, *, sample: int | None = None,
                     as_of: dt.date | None = None, shared: Session | None = None) -> DecisionSimulation:
    """Record a simulation run of overlay version ``draft_version_id`` against the version in force on ``as_of``
    (default today) and enqueue the job once ``session`` commits. ``sample``: only the latest ``sample``
    applications' decisions (default: all). Refused (422) when the draft does not compile or no standard is in
    force; nothing is recorded then."""
    authorize(Permission.RULESET_CONFIGURE)
    if sample is not None and sample < 1:
        raise DomainError("sample must be a positive number of applications")
    if installed_broker() is None:
        raise BrokerNotConfigured("no job broker is installed: simulations run as jobs")
    draft = session.get(RuleSetOverlayVersion, draft_version_id)
    if draft is None:
        raise NotFound(f"no rule-set overlay version {draft_version_id}")
    as_of = as_of or dt.date.today()
    stage = Stage(draft.stage)
    _, standard, current, _ = effective_rule_set(session, stage, as_of, shared)
    if standard.code != draft.code:
        raise RuleSetError(f"the draft overlays {draft.code}, but the {stage.value} standard in force on {as_of} "
                           f"is {standard.code}")
    try:
        CACHE.get(standard, draft)  # compiled now: a draft that no longer compiles is refused before any job
    except (RuleSyntaxError, DecisionError) as exc:
        raise RuleSetError(f"the draft does not compile against {standard.code} v{standard.version}: {exc}") from None

    last = session.scalar(select(func.max(DecisionRecord.id))) or 0
    first = 0
    if sample is not None:
        first = session.scalar(select(DecisionRecord.id).where(*_population(stage.value, 0, last))
                               .order_by(DecisionRecord.id.desc()).offset(sample - 1).limit(1)) or 0
    total = session.scalar(select(func.count()).select_from(DecisionRecord)
                           .where(*_population(stage.value, first, last)))
    run = DecisionSimulation(draft_id=draft.id, stage=stage.value, code=draft.code,
                             standard_version_id=standard.id,
                             overlay_id=current.id if current is not None else None, as_of=as_of,
                             sample=sample, status="queued", first_record_id=first, last_record_id=last, cursor=0,
                             total=total, done=0, bad_rates={}, results=_empty_results(),
                             created_by=CurrentActor.resolve().id)
    session.add(run)
    session.flush()
    audit.record(session, "decision.simulation.start", object_type="decision_simulation", object_id=run.id,
                 after={"draft_version_id": draft.id, "as_of": as_of, "sample": sample, "total": total})
    _send_after_commit(session, run.id)
    return run


def _send_after_commit(session: Session, simulation_id: int) -> None:
    from sqlalchemy import event

    tenant = CurrentTenant.get()

    def send(_session: Session) -> None:
        with CurrentTenant.bind(tenant):
            run_simulation.send(simulation_id)

    event.listen(session, "after_commit", send, once=True)


# --- the job ------------------------------------------------------------------------------------------------

@tenant_actor(max_retries=5, time_limit=6 * 3_600_000)
def run_simulation(simulation_id: int) -> None:
    """Run (or resume) simulation ``simulation_id`` of the bound tenant to the end; idempotent."""
    tenant = CurrentTenant.get()
    with SystemContext(f"decision simulation {simulation_id}: {tenant.slug}"):
        try:
            while advance(simulation_id, tenant):
                pass
        except Exception as exc:
            # Shown on the run while dramatiq retries (from the committed cursor); the step's own work rolled back.
            _note_error(simulation_id, tenant, f"{type(exc).__name__}: {exc}")
            raise


def _note_error(simulation_id: int, tenant, error: str) -> None:
    try:
        with tenant_session(tenant) as session, session.begin():
            run = session.get(DecisionSimulation, simulation_id)
            if run is not None and run.status not in ("done", "failed"):
                run.error = error[:2000]
    except Exception:  # noqa: BLE001 - the database may be what failed; the retry is what matters
        log.exception("could not record the error of simulation %s", simulation_id)


def advance(simulation_id: int, tenant=None) -> bool:
    """One step of a run in its own transaction: start it, or fold the next chunk in, or finish it. True while
    there is more to do. The run row is locked for the step, so two deliveries of the job take turns."""
    with tenant_session(tenant) as session, session.begin():
        run = session.scalar(select(DecisionSimulation).where(DecisionSimulation.id == simulation_id)
                             .with_for_update())
        if run is None:
            log.warning("simulation %s does not exist; nothing to do", simulation_id)
            return False
        if run.status in ("done", "failed"):
            return False
        if run.status == "queued":
            run.bad_rates = bad_rate_table(session, run.as_of)
            run.status = "running"
            run.started_at = dt.datetime.now(dt.timezone.utc)
            return True
        try:
            return _fold_chunk(session, run)
        except (RuleSyntaxError, DecisionError, RuleSetError) as exc:
            run.status = "failed"
            run.error = str(exc)
            run.finished_at = dt.datetime.now(dt.timezone.utc)
            return False


def _compiled_sides(session: Session, run: DecisionSimulation):
    with shared_session() as shared:
        standard = shared.get(StandardRuleSetVersion, run.standard_version_id)
    current = session.get(RuleSetOverlayVersion, run.overlay_id) if run.overlay_id else None
    draft = session.get(RuleSetOverlayVersion, run.draft_id)
    return CACHE.get(standard, current)[0], CACHE.get(standard, draft)[0]


def _fold_chunk(session: Session, run: DecisionSimulation) -> bool:
    rows = session.execute(select(DecisionRecord.id, DecisionRecord.application_id, DecisionRecord.facts)
                           .where(*_population(run.stage, run.first_record_id, run.last_record_id),
                                  DecisionRecord.id > run.cursor)
                           .order_by(DecisionRecord.id).limit(CHUNK)).all()
    if not rows:
        run.status = "done"
        run.error = None  # an attempt that failed and was retried is not an error of the finished run
        run.finished_at = dt.datetime.now(dt.timezone.utc)
        return False
    results = copy.deepcopy(run.results)
    facts_list, kept = [], []
    for row in rows:
        try:
            facts_list.append(coerce_facts(row.facts))
            kept.append(row)
        except DecisionError:  # a fact no longer catalogued (a plugin removed): not comparable, counted
            results["skipped"] += 1
    current, draft = _compiled_sides(session, run)
    outcomes = {"current": current.backtest(facts_list), "draft": draft.backtest(facts_list)}
    loans = loan_outcomes(session, run.as_of, [row.application_id for row in kept])
    table = run.bad_rates
    for i, row in enumerate(kept):
        matured, bad = loans.get(row.application_id, (False, False))
        rate = expected_rate(table, facts_list[i].get("bureau.score"))
        seen = {}
        for side in SIDES:
            outcome = outcomes[side][i][0].value
            seen[side] = outcome
            figures = results[side]
            figures["outcomes"][outcome] += 1
            if outcome in ACCEPTED:
                figures["accepted"] += 1
                if rate is not None:
                    figures["expected_bad_sum"] += rate
                    figures["expected_basis"] += 1
                if matured:
                    figures["matured"] += 1
                    figures["bad"] += int(bad)
        if seen["current"] != seen["draft"]:
            results["changed"] += 1
            was, now = seen["current"] in ACCEPTED, seen["draft"] in ACCEPTED
            if was != now:
                swap = results["swap_in" if now else "swap_out"]
                swap["count"] += 1
                if len(swap["applications"]) < SWAP_LIST_CAP:
                    swap["applications"].append({"application_id": row.application_id, "record_id": row.id,
                                                 "current": seen["current"], "draft": seen["draft"]})
    results["evaluated"] += len(kept)
    run.results = results
    flag_modified(run, "results")
    run.cursor = rows[-1].id
    run.done = min(run.total, run.done + len(rows))
    return True


# --- reading runs -------------------------------------------------------------------------------------------

def _side_report(figures: dict[str, Any], evaluated: int) -> dict[str, Any]:
    return {"outcomes": figures["outcomes"], "accepted": figures["accepted"],
            "approval_rate": _ratio(figures["accepted"], evaluated),
            "expected_bad_rate": _ratio(figures["expected_bad_sum"], figures["expected_basis"]),
            "observed": {"matured": figures["matured"], "bad": figures["bad"],
                         "bad_rate": _ratio(figures["bad"], figures["matured"])}}


def report(run: DecisionSimulation) -> dict[str, Any]:
    results = run.results
    evaluated = results["evaluated"]
    return {"id": run.id, "status": run.status, "stage": run.stage, "code": run.code,
            "draft_version_id": run.draft_id, "standard_version_id": run.standard_version_id,
            "current_overlay_version_id": run.overlay_id, "as_of": run.as_of, "sample": run.sample,
            "progress": {"done": run.done, "total": run.total,
                         "percent": round(100 * run.done / run.total, 1) if run.total else 100.0},
            "created_by": run.created_by, "created_at": run.created_at, "started_at": run.started_at,
            "finished_at": run.finished_at, "error": run.error,
            "results": {"evaluated": evaluated, "skipped": results["skipped"], "changed": results["changed"],
                        **{side: _side_report(results[side], evaluated) for side in SIDES},
                        "swap_in": results["swap_in"], "swap_out": results["swap_out"],
                        "bad_rates": run.bad_rates or None}}


def simulation_status(session: Session, simulation_id: int) -> dict[str, Any]:
    """Progress and (partial while running) results of a simulation run."""
    authorize(Permission.RULESET_READ)
    run = session.get(DecisionSimulation, simulation_id)
    if run is None:
        raise NotFound(f"no simulation {simulation_id}")
    return report(run)


def list_simulations(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest simulation runs, newest first."""
    authorize(Permission.RULESET_READ)
    runs = session.scalars(select(DecisionSimulation).order_by(DecisionSimulation.id.desc()).limit(limit))
    return [report(run) for run in runs]


# --- champion / challenger ----------------------------------------------------------------------------------

def set_challenger(session: Session, version_id: int, share_percent: Decimal | float | str,
                   shared: Session | None = None) -> DecisionChallenger:
    """Make overlay version ``version_id`` (draft or published) the challenger of its stage on ``share_percent``
    (0–100) of applications; replaces the stage's previous challenger. Audited."""
    authorize(Permission.RULESET_CONFIGURE)
    try:
        share = Decimal(str(share_percent)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise DomainError(f"share must be a percentage, got {share_percent!r}") from None
    if not Decimal(0) <= share <= Decimal(100):
        raise DomainError("share must be between 0 and 100 percent")
    version = session.get(RuleSetOverlayVersion, version_id)
    if version is None:
        raise NotFound(f"no rule-set overlay version {version_id}")
    _, standard, _, _ = effective_rule_set(session, Stage(version.stage), dt.date.today(), shared)
    if standard.code != version.code:
        raise RuleSetError(f"the challenger overlays {version.code}, but the {version.stage} standard in force is "
                           f"{standard.code}")
    try:
        CACHE.get(standard, version)
    except (RuleSyntaxError, DecisionError) as exc:
        raise RuleSetError(f"the challenger does not compile against {standard.code}: {exc}") from None
    challenger = session.scalar(select(DecisionChallenger).where(DecisionChallenger.stage == version.stage))
    before = None
    if challenger is None:
        challenger = DecisionChallenger(stage=version.stage)
        session.add(challenger)
    else:
        before = {"version_id": challenger.version_id, "share_percent": challenger.share_percent}
    challenger.version_id = version.id
    challenger.share_percent = share
    challenger.set_by = CurrentActor.resolve().id
    challenger.set_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    shadow.forget(session)
    audit.record(session, "decision.challenger.set", object_type="decision_challenger", object_id=challenger.id,
                 before=before, after={"stage": version.stage, "version_id": version.id, "share_percent": share})
    return challenger


def clear_challenger(session: Session, stage: Stage | str) -> None:
    """Stop shadow evaluation at ``stage`` (the shadow decisions already stored stay). Audited."""
    authorize(Permission.RULESET_CONFIGURE)
    stage = Stage(stage)
    challenger = session.scalar(select(DecisionChallenger).where(DecisionChallenger.stage == stage.value))
    if challenger is None:
        raise NotFound(f"no challenger is set for {stage.value}")
    before = {"version_id": challenger.version_id, "share_percent": challenger.share_percent}
    session.delete(challenger)
    session.flush()
    shadow.forget(session)
    audit.record(session, "decision.challenger.clear", object_type="decision_challenger", object_id=challenger.id,
                 before=before, after={"stage": stage.value})


def list_challengers(session: Session) -> list[DecisionChallenger]:
    authorize(Permission.RULESET_READ)
    return list(session.scalars(select(DecisionChallenger).order_by(DecisionChallenger.stage)))


def challenger_report(session: Session, stage: Stage | str, version_id: int | None = None) -> dict[str, Any]:
    """Champion (the live, automated outcome) against challenger over the stored shadow decisions of ``stage``
    (of one challenger version, or all): counts per outcome pair, acceptance rates, swap sets."""
    authorize(Permission.RULESET_READ)
    stage = Stage(stage)
    query = (select(DecisionRecord.outcome, ShadowDecision.outcome, func.count())
             .join(DecisionRecord, DecisionRecord.id == ShadowDecision.decision_record_id)
             .where(ShadowDecision.stage == stage.value)
             .group_by(DecisionRecord.outcome, ShadowDecision.outcome))
    if version_id is not None:
        query = query.where(ShadowDecision.version_id == version_id)
    pairs = [{"champion": champion, "challenger": challenger, "count": n}
             for champion, challenger, n in session.execute(query)]
    total = sum(p["count"] for p in pairs)
    champion_accepted = sum(p["count"] for p in pairs if p["champion"] in ACCEPTED)
    challenger_accepted = sum(p["count"] for p in pairs if p["challenger"] in ACCEPTED)
    agree = sum(p["count"] for p in pairs if p["champion"] == p["challenger"])

    def swaps(champion_in: bool) -> dict[str, Any]:
        accepted, refused = list(ACCEPTED), [o.value for o in Outcome if o.value not in ACCEPTED]
        q = (select(ShadowDecision.application_id, DecisionRecord.id, DecisionRecord.outcome, ShadowDecision.outcome)
             .join(DecisionRecord, DecisionRecord.id == ShadowDecision.decision_record_id)
             .where(ShadowDecision.stage == stage.value,
                    DecisionRecord.outcome.in_(accepted if champion_in else refused),
                    ShadowDecision.outcome.in_(refused if champion_in else accepted))
             .order_by(ShadowDecision.id.desc()).limit(SWAP_LIST_CAP))
        if version_id is not None:
            q = q.where(ShadowDecision.version_id == version_id)
        count = sum(p["count"] for p in pairs
                    if (p["champion"] in ACCEPTED) == champion_in and (p["challenger"] in ACCEPTED) != champion_in)
        return {"count": count, "applications": [{"application_id": a, "record_id": r, "champion": c,
                                                  "challenger": s} for a, r, c, s in session.execute(q)]}

    return {"stage": stage.value, "version_id": version_id, "decisions": total, "pairs": pairs,
            "agreement_rate": _ratio(agree, total), "champion_approval_rate": _ratio(champion_accepted, total),
            "challenger_approval_rate": _ratio(challenger_accepted, total),
            "swap_in": swaps(False), "swap_out": swaps(True)}


__all__ = ["ACCEPTED", "CHUNK", "advance", "bad_rate_table", "challenger_report", "clear_challenger",
           "list_challengers", "list_simulations", "loan_outcomes", "run_simulation", "set_challenger",
           "simulation_status", "start_simulation"]
