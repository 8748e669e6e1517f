"""The loan application state machine of DOMAIN §2.2, as data, and the one function that moves an application.

Every change of ``loan_application.state`` goes through :func:`transition`: it refuses an event the current state
does not allow (``Conflict`` naming both), checks the event's permission below the web layer, writes one
``application_state_history`` row per state entered (who, when, why) and points the application's SLA timer at
the new state. Other capabilities call it with their own events:

- the IPC investigation: ``transition(session, application, Event.ANALYSE, reason=...)`` when a worksheet is
  saved (INVESTIGATING → ANALYSED);
- contracts: ``Event.CONTRACT`` (APPROVED / APPROVED_WITH_CONDITIONS → CONTRACTED) once the contract is signed;
- disbursement: ``Event.DISBURSE`` (CONTRACTED → DISBURSED).

Entering PRE_SCREENED also needs the applicant's active written ``bureau_query`` consent
(:func:`prescreen_consent`, DOMAIN §2.2 "consents captured §4"); the application records the consent used.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ...audit import record
from ...errors import Conflict, DomainError
from ...identity import clock
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from .models import ApplicationStateHistory, LoanApplication


class State(str, enum.Enum):
    LEAD = "LEAD"
    APPLIED = "APPLIED"
    PRE_SCREENED = "PRE_SCREENED"
    INVESTIGATING = "INVESTIGATING"
    ANALYSED = "ANALYSED"
    IN_REVIEW = "IN_REVIEW"
    IN_COMMITTEE = "IN_COMMITTEE"
    APPROVED = "APPROVED"
    APPROVED_WITH_CONDITIONS = "APPROVED_WITH_CONDITIONS"
    REJECTED = "REJECTED"
    CONTRACTED = "CONTRACTED"
    DISBURSED = "DISBURSED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class Event(str, enum.Enum):
    APPLY = "apply"                      # the customer is interested: a lead becomes an application
    PRESCREEN_PASS = "prescreen_pass"    # consents captured, pre-screen passed (DOMAIN §4)
    PRESCREEN_FAIL = "prescreen_fail"    # blacklist / bureau / age / sector
    SCHEDULE_VISIT = "schedule_visit"    # on-site investigation starts
    ANALYSE = "analyse"                  # statements and cross-checks saved (IPC worksheet)
    SUBMIT = "submit"                    # to the middle office
    RETURN = "return"                    # reviewer sends it back for more investigation
    APPROVE = "approve"                  # single approver, within authority
    REJECT = "reject"                    # single approver, within authority
    REFER = "refer"                      # above authority or exception: to a committee session
    COMMITTEE_APPROVE = "committee_approve"
    COMMITTEE_APPROVE_WITH_CONDITIONS = "committee_approve_with_conditions"
    COMMITTEE_REJECT = "committee_reject"
    COMMITTEE_RETURN = "committee_return"  # return for more information
    CONTRACT = "contract"                # face-sign + 双录 + e-contract signed (back office)
    DISBURSE = "disburse"
    CANCEL = "cancel"                    # the customer withdraws
    EXPIRE = "expire"                    # no contract within the tenant's expiry period


S, E = State, Event

#: States before a contract is signed: a customer may withdraw and the application may expire from any of them.
PRE_CONTRACT = (S.LEAD, S.APPLIED, S.PRE_SCREENED, S.INVESTIGATING, S.ANALYSED, S.IN_REVIEW, S.IN_COMMITTEE,
                S.APPROVED, S.APPROVED_WITH_CONDITIONS)
#: States nothing leaves (DISBURSED continues as a loan account, DOMAIN §2.6).
TERMINAL = (S.REJECTED, S.DISBURSED, S.CANCELLED, S.EXPIRED)

#: The allowed transitions: (state, event) → next state. Everything else is refused.
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.LEAD, E.APPLY): S.APPLIED,
    (S.APPLIED, E.PRESCREEN_FAIL): S.REJECTED,
    (S.APPLIED, E.PRESCREEN_PASS): S.PRE_SCREENED,
    (S.PRE_SCREENED, E.SCHEDULE_VISIT): S.INVESTIGATING,
    (S.INVESTIGATING, E.ANALYSE): S.ANALYSED,
    (S.ANALYSED, E.SUBMIT): S.IN_REVIEW,
    (S.IN_REVIEW, E.RETURN): S.INVESTIGATING,
    (S.IN_REVIEW, E.APPROVE): S.APPROVED,
    (S.IN_REVIEW, E.REJECT): S.REJECTED,
    (S.IN_REVIEW, E.REFER): S.IN_COMMITTEE,
    (S.IN_COMMITTEE, E.COMMITTEE_APPROVE): S.APPROVED,
    (S.IN_COMMITTEE, E.COMMITTEE_APPROVE_WITH_CONDITIONS): S.APPROVED_WITH_CONDITIONS,
    (S.IN_COMMITTEE, E.COMMITTEE_REJECT): S.REJECTED,
    (S.IN_COMMITTEE, E.COMMITTEE_RETURN): S.INVESTIGATING,
    (S.APPROVED, E.CONTRACT): S.CONTRACTED,
    (S.APPROVED_WITH_CONDITIONS, E.CONTRACT): S.CONTRACTED,
    (S.CONTRACTED, E.DISBURSE): S.DISBURSED,
    **{(state, E.CANCEL): S.CANCELLED for state in PRE_CONTRACT},
    **{(state, E.EXPIRE): S.EXPIRED for state in PRE_CONTRACT},
}


@dataclass(frozen=True)
class EventRule:
    """Who may fire an event: any one of ``permissions``; ``system``: also unattended work (a job)."""

    permissions: tuple[Permission, ...]
    system: bool = False


P = Permission
#: The permission each event needs (any one of them). The committee's events are fired by closing a session,
#: which checks its own permission; expiry is the expiry job's.
EVENT_RULES: dict[Event, EventRule] = {
    E.APPLY: EventRule((P.APPLICATION_CREATE,)),
    E.PRESCREEN_PASS: EventRule((P.APPLICATION_CREATE,), system=True),
    E.PRESCREEN_FAIL: EventRule((P.APPLICATION_CREATE,), system=True),
    E.SCHEDULE_VISIT: EventRule((P.APPLICATION_INVESTIGATE,)),
    E.ANALYSE: EventRule((P.APPLICATION_INVESTIGATE,)),
    E.SUBMIT: EventRule((P.APPLICATION_INVESTIGATE, P.APPLICATION_CREATE)),
    E.RETURN: EventRule((P.APPLICATION_REVIEW, P.APPLICATION_APPROVE)),
    E.APPROVE: EventRule((P.APPLICATION_APPROVE,)),
    E.REJECT: EventRule((P.APPLICATION_APPROVE,)),
    E.REFER: EventRule((P.APPLICATION_REVIEW, P.APPLICATION_APPROVE)),
    E.COMMITTEE_APPROVE: EventRule((P.COMMITTEE_VOTE,)),
    E.COMMITTEE_APPROVE_WITH_CONDITIONS: EventRule((P.COMMITTEE_VOTE,)),
    E.COMMITTEE_REJECT: EventRule((P.COMMITTEE_VOTE,)),
    E.COMMITTEE_RETURN: EventRule((P.COMMITTEE_VOTE,)),
    E.CONTRACT: EventRule((P.LOAN_DISBURSE, P.LOAN_SERVICE)),
    E.DISBURSE: EventRule((P.LOAN_DISBURSE,), system=True),
    E.CANCEL: EventRule((P.APPLICATION_CREATE,)),
    E.EXPIRE: EventRule((), system=True),
}

#: States the front office works (the responsible officer is the assignee); the others wait in a queue.
FRONT_OFFICE = (S.LEAD, S.APPLIED, S.PRE_SCREENED, S.INVESTIGATING, S.ANALYSED, S.APPROVED,
                S.APPROVED_WITH_CONDITIONS)


def next_state(state: State | str, event: Event | str) -> State:
    """The state ``event`` leads to from ``state``; ``Conflict`` naming both when the machine does not allow it."""
    try:
        state, event = State(state), Event(event)
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        raise Conflict(f"event {event.value!r} is not allowed in state {state.value}; allowed: "
                       f"{', '.join(allowed) or 'none (final state)'}") from None


def authorize_any(permissions: tuple[Permission, ...], *, allow_system: bool = False) -> None:
    """Pass when the principal holds any one of ``permissions`` (the first refusal is raised otherwise)."""
    if not permissions:
        authorize(P.APPLICATION_READ, allow_system=allow_system)  # only reached by unattended work
        return
    first: Exception | None = None
    for permission in permissions:
        try:
            authorize(permission, allow_system=allow_system)
            return
        except PermissionError as exc:
            first = first or exc
    assert first is not None
    raise first


class PrescreenConsentMissing(DomainError):
    """The pre-screen's credit-bureau query has no written consent to run under (DOMAIN §2.2, §4.2)."""


def prescreen_consent(session: Session, application: LoanApplication) -> int:
    """The id of the active ``bureau_query`` consent the pre-screen queries the credit bureau under;
    ``PrescreenConsentMissing`` (422) naming whose consent is missing and why otherwise.

    The pre-screen reads the applicant's credit report, which needs the person's written consent with the purpose
    stated (征信业管理条例 art. 18): for an individual or a household (represented by its head) the customer's own.
    A micro enterprise's report is queried under the enterprise's consent, signed by its legal representative; when
    the legal representative is a customer of the bank (a related party linked to their customer record), their
    personal report is queried too and their own consent is required as well. A legal representative recorded only
    as a person cannot hold a consent record, so then the enterprise's consent is the one checked.
    """
    from ..customers.models import Customer, RelatedParty
    from ..customers.services import ConsentMissing, require_consent

    customer = session.get(Customer, application.customer_id)
    at = clock.now()
    subjects = [(application.customer_id, f"the applicant {customer.name if customer else application.customer_id}")]
    if customer is not None and customer.kind == "micro_enterprise":
        subjects += [(person_id, f"the legal representative (customer {person_id})") for person_id in session.scalars(
            select(RelatedParty.related_customer_id).where(RelatedParty.customer_id == customer.id,
                                                           RelatedParty.role == "legal_representative",
                                                           RelatedParty.related_customer_id.is_not(None))
            .order_by(RelatedParty.id))]
    missing, consent_id = [], None
    for customer_id, who in subjects:
        try:
            consent = require_consent(session, customer_id, "bureau_query", at)
        except ConsentMissing as exc:
            missing.append(f"{who}: {exc}")
            continue
        consent_id = consent_id or consent.id
    if missing:
        raise PrescreenConsentMissing(
            f"application {application.reference} cannot pass the pre-screen: the credit-bureau query needs an "
            f"active written bureau_query consent (capture it on the customer page); missing for "
            + "; ".join(missing))
    assert consent_id is not None
    return consent_id


def transition(session: Session, application: LoanApplication, event: Event | str, *, reason: str = "",
               check_permission: bool = True) -> ApplicationStateHistory:
    """Move ``application`` by ``event``: refuse an illegal one (``Conflict``), record who, when and why.

    The update is a compare-and-set on the state read, so of two concurrent transitions of one application the
    second finds the state changed and is refused instead of overwriting the first.
    ``check_permission=False`` only for services that authorized the whole operation themselves (a committee
    session closing, the decision of an approver).
    """
    event = Event(event) if not isinstance(event, Event) else event
    current = State(application.state)
    target = next_state(current, event)
    if check_permission:
        rule = EVENT_RULES[event]
        authorize_any(rule.permissions, allow_system=rule.system)
    if target is S.PRE_SCREENED:
        # Here and nowhere else, so no path (API, portal, demo, a job) pre-screens without the consent.
        application.bureau_consent_id = prescreen_consent(session, application)
    principal = CurrentPrincipal.get_or_none()
    actor_id = principal.user_id if principal is not None else None
    actor = principal.username if principal is not None else "system"
    assignee_id = application.officer_id if target in FRONT_OFFICE else None
    changed = session.execute(
        update(LoanApplication)
        .where(LoanApplication.id == application.id, LoanApplication.state == current.value)
        .values(state=target.value, state_entered_at=func.now(), updated_at=func.now(), assignee_id=assignee_id)
        .returning(LoanApplication.state_entered_at, LoanApplication.updated_at)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if changed is None:
        session.refresh(application)
        raise Conflict(f"application {application.reference} moved to {application.state} meanwhile; "
                       f"event {event.value!r} was not applied")
    session.execute(update(ApplicationStateHistory)
                    .where(ApplicationStateHistory.application_id == application.id,
                           ApplicationStateHistory.left_at.is_(None))
                    .values(left_at=func.now()).execution_options(synchronize_session=False))
    entry = ApplicationStateHistory(application_id=application.id, from_state=current.value, to_state=target.value,
                                    event=event.value, actor_id=actor_id, actor=actor, reason=reason.strip())
    session.add(entry)
    # What the update wrote, without reading the row back.
    for name, value in (("state", target.value), ("assignee_id", assignee_id),
                        ("state_entered_at", changed.state_entered_at), ("updated_at", changed.updated_at)):
        set_committed_value(application, name, value)
    session.flush()
    record(session, f"application.{event.value}", object_type="loan_application", object_id=application.id,
           before={"state": current.value}, after={"state": target.value, "reason": entry.reason})
    if event is E.SCHEDULE_VISIT and actor_id is not None:
        application.investigator_id = actor_id
        session.flush()
    if target in (S.APPROVED, S.APPROVED_WITH_CONDITIONS, S.REJECTED):
        # Plugins hear of a decision only once it is committed (on_application_decided).
        from ..origination.services import announce_after_commit
        announce_after_commit(session, application.id, target.value)
    return entry
