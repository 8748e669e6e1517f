"""Five-tier classification (DOMAIN §3.1): computed minimum class, proposals, reviews, upgrades, ratios.

``computed = max_severity(dpd rule, restructuring rule, debtor contagion, manual floor)``. COB proposes a
downgrade when the computed class is worse than the loan's class; a reviewer confirms it. A better class is
reached only by an upgrade request approved by a second person, never during an observation period and
never better than the computed minimum.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ... import audit
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.duties import SegregationOfDutiesViolation
from ...identity.errors import AccessDenied
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ..cob.dates import business_date as current_business_date
from ..loans.models import LoanAccount
from . import policy
from .models import CLASSES, NPL_CLASSES, ClassificationEvent

_CLASS_ARRAY = "ARRAY['normal', 'special_mention', 'substandard', 'doubtful', 'loss']"

#: Per open loan: each rule's minimum class rank (0 normal .. 4 loss) and the evidence.
_COMPUTED = f"""
WITH debtor AS (
    SELECT customer_id,
           sum(principal_outstanding) FILTER (WHERE risk_class IN ('substandard', 'doubtful', 'loss'))
             / nullif(sum(principal_outstanding), 0) AS npl_share
    FROM loan_account
    WHERE NOT retail AND state IN ('active', 'overdue', 'restructured', 'in_litigation')
    GROUP BY customer_id
), ranks AS (
    SELECT a.id, a.dpd, a.risk_class, d.npl_share,
           array_position({_CLASS_ARRAY}, a.risk_class) - 1 AS current_rank,
           CASE WHEN a.dpd > :loss THEN 4 WHEN a.dpd > :doubtful THEN 3 WHEN a.dpd > :substandard THEN 2
                WHEN a.dpd > :special_mention THEN 1 ELSE 0 END AS dpd_rank,
           CASE WHEN a.observation_until IS NOT NULL AND a.observation_until >= CAST(:d AS date)
                THEN CASE WHEN a.dpd > :relapse THEN 3 ELSE 2 END ELSE 0 END AS restructuring_rank,
           CASE WHEN NOT a.retail AND d.npl_share > CAST(:share AS numeric) THEN 2 ELSE 0 END AS contagion_rank,
           coalesce(array_position({_CLASS_ARRAY}, a.class_floor) - 1, 0) AS floor_rank,
           a.restructured_on, a.observation_until, a.class_floor
    FROM loan_account a LEFT JOIN debtor d ON d.customer_id = a.customer_id
    WHERE a.state IN ('active', 'overdue', 'restructured', 'in_litigation') {{where}}
), computed AS (
    SELECT *, greatest(dpd_rank, restructuring_rank, contagion_rank, floor_rank) AS computed_rank FROM ranks
)
"""

_PROPOSE = _COMPUTED + f"""
INSERT INTO classification_event (loan_id, from_class, to_class, direction, trigger, dpd, evidence, status,
                                  proposed_by, reason, business_date)
SELECT id, risk_class, ({_CLASS_ARRAY})[computed_rank + 1], 'downgrade',
       CASE computed_rank WHEN dpd_rank THEN 'dpd' WHEN restructuring_rank THEN 'restructuring'
            WHEN contagion_rank THEN 'contagion' ELSE 'manual_floor' END,
       dpd,
       jsonb_build_object('dpd', dpd, 'dpd_class', ({_CLASS_ARRAY})[dpd_rank + 1],
                          'restructured_on', restructured_on, 'observation_until', observation_until,
                          'debtor_npl_share', round(npl_share, 4), 'manual_floor', class_floor),
       'proposed', 'cob', '', CAST(:d AS date)
FROM computed WHERE computed_rank > current_rank
ON CONFLICT (loan_id) WHERE status = 'proposed' DO UPDATE SET
    to_class = EXCLUDED.to_class, trigger = EXCLUDED.trigger, dpd = EXCLUDED.dpd, evidence = EXCLUDED.evidence,
    business_date = EXCLUDED.business_date
WHERE classification_event.direction = 'downgrade' AND classification_event.to_class <> EXCLUDED.to_class
"""

# Proposals overtaken by events (arrears paid before review) are closed, so the reviewer sees only live ones.
_WITHDRAW = """
UPDATE classification_event e SET status = 'rejected', decided_by = 'cob', decided_at = now(),
       reason = 'no longer indicated on ' || CAST(:d AS text)
FROM loan_account a
WHERE e.status = 'proposed' AND e.direction = 'downgrade' AND e.proposed_by = 'cob' AND a.id = e.loan_id
  AND (a.state NOT IN ('active', 'overdue', 'restructured', 'in_litigation')
       OR array_position(ARRAY['normal', 'special_mention', 'substandard', 'doubtful', 'loss'], e.to_class)
          > 1 + greatest(
              CASE WHEN a.dpd > :loss THEN 4 WHEN a.dpd > :doubtful THEN 3 WHEN a.dpd > :substandard THEN 2
                   WHEN a.dpd > :special_mention THEN 1 ELSE 0 END,
              CASE WHEN a.observation_until >= CAST(:d AS date) THEN 2 ELSE 0 END,
              coalesce(array_position(ARRAY['normal', 'special_mention', 'substandard', 'doubtful', 'loss'],
                                      a.class_floor) - 1, 0),
              CASE WHEN NOT a.retail THEN 4 ELSE 0 END))
"""

_NON_ACCRUAL = """
UPDATE loan_account SET non_accrual = x.flag
FROM (SELECT id, (dpd > :non_accrual_dpd OR risk_class IN ('substandard', 'doubtful', 'loss')) AS flag
      FROM loan_account WHERE state IN ('active', 'overdue', 'restructured', 'in_litigation')) x
WHERE loan_account.id = x.id AND loan_account.non_accrual <> x.flag
"""


class ClassificationError(DomainError):
    """A refused classification request."""


def _params(session: Session, day: dt.date) -> dict[str, Any]:
    values = policy.load(session)
    return {"d": day, "loss": int(values["classification.dpd.loss"]),
            "doubtful": int(values["classification.dpd.doubtful"]),
            "substandard": int(values["classification.dpd.substandard"]),
            "special_mention": int(values["classification.dpd.special_mention"]),
            "relapse": int(values["classification.restructured_relapse_dpd"]),
            "share": str(values["classification.contagion_share"]),
            "non_accrual_dpd": int(values["classification.non_accrual_dpd"])}


def propose_all(session: Session, day: dt.date) -> int:
    """COB step: propose downgrades for every loan whose computed class is worse; set non-accrual flags."""
    params = _params(session, day)
    proposed = session.execute(text(_PROPOSE.replace("{where}", "")), params).rowcount
    session.execute(text(_WITHDRAW), params)
    session.execute(text(_NON_ACCRUAL), params)
    return proposed


def computed_class(session: Session, loan_id: int) -> tuple[str, dict[str, Any]]:
    """The minimum class the rules require for one loan today, with each rule's answer."""
    params = _params(session, current_business_date(session))
    row = session.execute(text(_COMPUTED.replace("{where}", "AND a.id = :loan") + " SELECT * FROM computed"),
                          {**params, "loan": loan_id}).mappings().first()
    if row is None:
        raise NotFound(f"no open loan {loan_id}")
    return CLASSES[row["computed_rank"]], {k: CLASSES[row[f"{k}_rank"]] for k in
                                           ("dpd", "restructuring", "contagion", "floor")}


def ten_grade_enabled(values: dict[str, Any]) -> bool:
    flag = values["classification.ten_grade.enabled"]
    return flag is True or str(flag).strip().lower() in ("true", "1", "yes", "on")


def sub_grade(session: Session, loan: LoanAccount) -> str | None:
    """The loan's ten-grade sub-class (``policy.ten_grade``), or None when the bank has not switched it on.

    Derived on reading from the confirmed five-tier class, today's DPD and the loan's overdue events in the
    look-back window, so it never disagrees with the five-tier class a reviewer confirmed."""
    authorize(Permission.LOAN_READ, allow_system=True)
    values = policy.load(session)
    if not ten_grade_enabled(values):
        return None
    since = current_business_date(session) - dt.timedelta(days=int(values["classification.ten_grade.lookback_days"]))
    events = session.scalar(text("SELECT count(*) FROM loan_event WHERE loan_id = :loan AND to_state = 'overdue' "
                                 "AND business_date > :since"), {"loan": loan.id, "since": since})
    return policy.ten_grade(loan.risk_class, loan.dpd, int(events or 0), values)


def _who() -> str:
    principal = CurrentPrincipal.get_or_none()
    return principal.username if principal is not None else "system"


def _open_event(session: Session, event_id: int) -> ClassificationEvent:
    event = session.scalars(select(ClassificationEvent).where(ClassificationEvent.id == event_id)
                            .with_for_update()).first()
    if event is None:
        raise NotFound(f"no classification event {event_id}")
    if event.status != "proposed":
        raise Conflict(f"classification event {event_id} is already {event.status}")
    return event


def confirm(session: Session, event_id: int) -> ClassificationEvent:
    """Reviewer: confirm a proposed downgrade (or approve an upgrade request, which needs ``config.approve``)."""
    # Servicing staff confirm downgrades; an upgrade is the checker's decision (config.approve), which a risk
    # manager holds without loan.service.
    try:
        authorize(Permission.LOAN_SERVICE)
    except AccessDenied:
        authorize(Permission.CONFIG_APPROVE)
    event = _open_event(session, event_id)
    who = _who()
    if event.proposed_by == who:
        raise SegregationOfDutiesViolation("the proposer of a classification change cannot confirm it")
    authorize(Permission.CONFIG_APPROVE if event.direction == "upgrade" else Permission.LOAN_SERVICE)
    loan = session.get(LoanAccount, event.loan_id, with_for_update=True)
    if event.direction == "upgrade":
        minimum, _ = computed_class(session, loan.id)
        if CLASSES.index(event.to_class) < CLASSES.index(minimum):
            raise Conflict(f"the rules require at least {minimum} today")
        if loan.observation_until is not None and loan.observation_until >= current_business_date(session):
            raise Conflict(f"no upgrade during the observation period (until {loan.observation_until})")
    if loan.risk_class != event.from_class:
        raise Conflict(f"the loan is {loan.risk_class} now, not {event.from_class}; propose again")
    event.status, event.decided_by, event.decided_at = "confirmed", who, dt.datetime.now(dt.timezone.utc)
    loan.risk_class = event.to_class
    loan.row_version += 1
    session.flush()
    audit.record(session, "loan.classification", object_type="loan", object_id=loan.id,
                 before={"class": event.from_class}, after={"class": event.to_class, "trigger": event.trigger,
                                                           "event": event.id})
    return event


def reject(session: Session, event_id: int, *, reason: str) -> ClassificationEvent:
    """Reviewer: reject a proposed downgrade, or (``config.approve``) an upgrade request, with a reason."""
    try:
        authorize(Permission.LOAN_SERVICE)
    except AccessDenied:
        authorize(Permission.CONFIG_APPROVE)
    if not reason.strip():
        raise ClassificationError("a rejection needs a reason")
    event = _open_event(session, event_id)
    # The maker may withdraw their own upgrade request; anyone else's is the checker's to turn down.
    own = event.direction == "upgrade" and event.proposed_by == _who()
    authorize(Permission.CONFIG_APPROVE if event.direction == "upgrade" and not own else Permission.LOAN_SERVICE)
    event.status, event.decided_by, event.decided_at = "rejected", _who(), dt.datetime.now(dt.timezone.utc)
    event.reason = reason.strip()
    session.flush()
    audit.record(session, "loan.classification_reject", object_type="loan", object_id=event.loan_id,
                 after={"event": event.id, "reason": event.reason})
    return event


def request_upgrade(session: Session, loan_id: int, *, to_class: str, reason: str,
                    evidence: dict[str, Any] | None = None) -> ClassificationEvent:
    """Ask for a better class with evidence (arrears cleared, repayment ability shown); a second person decides."""
    authorize(Permission.LOAN_SERVICE)
    loan = session.get(LoanAccount, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    if to_class not in CLASSES or CLASSES.index(to_class) >= CLASSES.index(loan.risk_class):
        raise ClassificationError(f"an upgrade goes to a class better than {loan.risk_class}")
    if not reason.strip():
        raise ClassificationError("an upgrade request needs a reason")
    if loan.risk_class in NPL_CLASSES and loan.dpd > 0:
        raise Conflict("an NPL loan is upgraded only after its arrears are cleared")
    day = current_business_date(session)
    if session.scalars(select(ClassificationEvent.id).where(ClassificationEvent.loan_id == loan_id,
                                                            ClassificationEvent.status == "proposed")).first():
        raise Conflict("this loan already has a classification change waiting for review")
    event = ClassificationEvent(loan_id=loan_id, from_class=loan.risk_class, to_class=to_class, direction="upgrade",
                                trigger="upgrade_request", dpd=loan.dpd, evidence=evidence or {}, status="proposed",
                                proposed_by=_who(), reason=reason.strip(), business_date=day)
    session.add(event)
    session.flush()
    return event


def set_floor(session: Session, loan_id: int, floor: str | None, *, reason: str) -> LoanAccount:
    """A reviewer's manual floor; COB proposes the downgrade it implies."""
    authorize(Permission.LOAN_SERVICE)
    if floor is not None and floor not in CLASSES:
        raise ClassificationError(f"unknown class {floor}")
    loan = session.get(LoanAccount, loan_id, with_for_update=True)
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    before = loan.class_floor
    loan.class_floor = floor
    audit.record(session, "loan.class_floor", object_type="loan", object_id=loan_id,
                 before={"floor": before}, after={"floor": floor, "reason": reason})
    return loan


def ratios(session: Session) -> dict[str, Any]:
    """NPL ratio, provision coverage and loan-provision ratio (DOMAIN §3.2) of this tenant today."""
    total, npl, by_class = Decimal("0"), Decimal("0"), {c: Decimal("0.00") for c in CLASSES}
    for cls, amount in session.execute(text(
            "SELECT risk_class, coalesce(sum(principal_outstanding), 0) FROM loan_account "
            "WHERE state IN ('active', 'overdue', 'restructured', 'in_litigation') GROUP BY risk_class")):
        by_class[cls] = amount
        total += amount
        if cls in NPL_CLASSES:
            npl += amount
    provisions = session.execute(text("SELECT coalesce(sum(credit - debit), 0) FROM journal_line "
                                      "WHERE account_code = '1304'")).scalar()

    def ratio(a: Decimal, b: Decimal) -> Decimal | None:
        return (a / b).quantize(Decimal("0.0001")) if b else None

    return {"total_loans": total, "npl": npl, "provisions": provisions, "by_class": by_class,
            "npl_ratio": ratio(npl, total), "provision_coverage": ratio(provisions, npl),
            "loan_provision_ratio": ratio(provisions, total)}


def pending(session: Session, *, limit: int = 100, after_id: int | None = None) -> list[tuple[ClassificationEvent,
                                                                                            LoanAccount]]:
    """The review queue: open proposals (COB's downgrades, people's upgrade requests) with their loans, oldest
    first, ``limit`` at a time (keyset ``after_id``)."""
    authorize(Permission.LOAN_READ)
    query = (select(ClassificationEvent, LoanAccount).join(LoanAccount, LoanAccount.id == ClassificationEvent.loan_id)
             .where(ClassificationEvent.status == "proposed"))
    if after_id is not None:
        query = query.where(ClassificationEvent.id > after_id)
    return [tuple(row) for row in session.execute(query.order_by(ClassificationEvent.id).limit(limit))]
