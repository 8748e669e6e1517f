"""Applications: intake (idempotent), queues, the officer's and reviewer's transitions, single-approver decisions,
credit-committee sessions, and the expiry and SLA sweeps the jobs run.

Services flush; the caller commits. Permissions and segregation of duties are checked here, below the web layer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

from sqlalchemy import (Executable, Integer, Sequence, String, Text, and_, bindparam, cast, func, literal, or_, select,
                        text, true)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, load_only, make_transient_to_detached

from ...audit import record
from ...db import TENANT_SCHEMA_PLACEHOLDER, CurrentTenant, shared_reads, shared_session
from ...db.session import reaches_shared
from ...decisions.engine import Stage
from ...decisions.services import VersionsInForce, versions_in_force_of, with_versions_in_force
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.duties import check_separation
from ...identity.models import Membership, User
from ...identity.permissions import Permission as P
from ...identity.principal import CurrentPrincipal
from ...tenancy.models import Tenant, TenantParameter
from ..cob.dates import BUSINESS_DATE
from ..customers.models import Customer
from ..products.models import Product
from .models import (CHANNELS, ApplicationDecision, ApplicationIdempotencyKey, ApplicationReminder,
                     ApplicationStateHistory, ApprovalAuthority, CommitteeCase, CommitteeMember, CommitteeSession,
                     CommitteeVote, LoanApplication)
from .states import PRE_CONTRACT, Event, State, authorize_any, transition

FEN = Decimal("0.01")

# --- tenant parameters ([R] defaults, DOMAIN §2.2 and §1.5) -----------------------------------------------------

EXPIRY_DAYS_KEY = "applications.expiry_days"
SLA_HOURS_KEY = "applications.sla_hours"
COMMITTEE_MIN_MEMBERS_KEY = "applications.committee.min_members"
DEFAULT_EXPIRY_DAYS = 30
#: Hours a case may wait in each state before its assignee is reminded; the "1–2 days to decision" target.
DEFAULT_SLA_HOURS: dict[str, int] = {
    "LEAD": 72, "APPLIED": 24, "PRE_SCREENED": 24, "INVESTIGATING": 48, "ANALYSED": 8, "IN_REVIEW": 8,
    "IN_COMMITTEE": 48, "APPROVED": 72, "APPROVED_WITH_CONDITIONS": 72,
}
DEFAULT_COMMITTEE_MIN_MEMBERS = 3


class ApplicationError(DomainError):
    """Bad input to an application operation; nothing was changed."""


class IdempotencyKeyReused(ApplicationError):
    """The ``Idempotency-Key`` was used before with another request body."""


def parameter(session: Session, key: str, default: Any) -> Any:
    row = session.get(TenantParameter, key)
    return default if row is None or row.value is None else row.value


def sla_hours(session: Session) -> dict[str, int]:
    configured = parameter(session, SLA_HOURS_KEY, {})
    hours = dict(DEFAULT_SLA_HOURS)
    if isinstance(configured, dict):
        hours.update({str(k): int(v) for k, v in configured.items() if str(k) in hours})
    return hours


def expiry_days(session: Session) -> int:
    return int(parameter(session, EXPIRY_DAYS_KEY, DEFAULT_EXPIRY_DAYS))


# --- intake ---------------------------------------------------------------------------------------------------------


def validate_intake(session: Session, data: dict[str, Any], *, loaded: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Every check of a new application in one place; the normalised data, or ``ApplicationError`` naming all problems.

    ``loaded``, when given, receives the customer and product read for the checks (``"customer"``, ``"product"``)
    and what admission decides on, read in the same statement (``"date_and_history"``, ``"in_force"``: see
    ``build_facts`` and ``evaluate_stage``), so the caller's next step need not read them again (the session's
    identity map holds objects only weakly).

    With a product that has terms, the products capability's ``check_application_terms`` refuses an amount, term,
    repayment method or sector the product does not allow (a product with a single method needs none named);
    ``bureau_query: true`` needs the customer's active ``bureau_query`` consent (customers ``require_consent``).
    """
    problems = []
    out: dict[str, Any] = {}
    channel = data.get("channel")
    if channel not in CHANNELS:
        problems.append(f"channel must be one of {', '.join(CHANNELS)}")
    out["channel"] = channel
    try:
        amount = Decimal(str(data.get("amount"))).quantize(FEN, ROUND_HALF_UP)
        if amount <= 0:
            problems.append("amount must be positive")
    except (InvalidOperation, ValueError):
        amount = None
        problems.append("amount must be a number of yuan")
    out["amount"] = amount
    term = data.get("term_months")
    if not isinstance(term, int) or isinstance(term, bool) or not 1 <= term <= 360:
        problems.append("term_months must be a whole number of months from 1 to 360")
    out["term_months"] = term
    rows = _intake_rows(session, data.get("customer_id"), data.get("product_id"), data.get("officer_id"))
    customer, product = rows.customer, rows.product
    if customer is None:
        problems.append(f"no customer {data.get('customer_id')!r} in this bank")
    if product is None:
        problems.append(f"no product {data.get('product_id')!r} in this bank")
    out["customer_id"], out["product_id"] = data.get("customer_id"), data.get("product_id")
    # The product's own terms (amount and term ranges, repayment methods, eligible sectors), each field named.
    out["repayment_method"] = str(data.get("repayment_method") or "").strip() or None
    out["sector"] = str(data.get("sector") or "").strip() or None
    if product is not None and product.terms and amount is not None and isinstance(term, int):
        from ..products.services import ApplicationOutOfTerms, check_application_terms, terms_of

        terms = terms_of(session, product.id)
        if out["repayment_method"] is None and len(terms.repayment_methods) == 1:
            out["repayment_method"] = terms.repayment_methods[0]
        try:
            check_application_terms(terms, amount, term, out["repayment_method"] or "", out["sector"] or "")
        except ApplicationOutOfTerms as exc:
            problems.extend(f"{field}: {why}" for field, why in exc.problems)
    # A bureau query needs the customer's consent first (PIPL, DOMAIN §4.3).
    out["bureau_consent_id"] = None
    if data.get("bureau_query") and customer is not None:
        from ..customers.services import ConsentMissing, require_consent

        try:
            out["bureau_consent_id"] = require_consent(session, customer.id, "bureau_query",
                                                       session.scalar(select(func.now()))).id
        except ConsentMissing as exc:
            problems.append(f"bureau_query: {exc}")
    out["purpose"] = str(data.get("purpose") or "").strip()
    if len(out["purpose"]) > 2000:
        problems.append("purpose is at most 2000 characters")
    officer_id = data.get("officer_id")
    if officer_id is None:
        principal = CurrentPrincipal.get()
        officer_id = principal.user_id
        if officer_id is None:
            problems.append("officer_id is required when a machine client registers an application")
    elif not _works_here(session, officer_id, P.APPLICATION_INVESTIGATE, roles=rows.officer_roles):
        problems.append(f"user {officer_id} is no loan officer of this bank")
    out["officer_id"] = officer_id
    out["lead"] = bool(data.get("lead", False))
    if problems:
        raise ApplicationError("; ".join(problems))
    if loaded is not None:
        loaded.update(customer=customer, product=product, date_and_history=rows.date_and_history,
                      in_force=rows.in_force)
    return out


class _IntakeRows(NamedTuple):
    """What intake reads before it registers an application: the customer and product it names, the roles its
    officer holds in the bank (None where they are left for ``_works_here`` to read), and what admission decides on
    (None where left for ``build_facts`` and the decision to read): the business date with the customer's count of
    disbursed loans, and the admission rule-set versions in force."""

    customer: Customer | None
    product: Product | None
    officer_roles: frozenset[str] | None = None
    date_and_history: tuple[dt.date | None, int] | None = None
    in_force: VersionsInForce | None = None


def _intake_rows(session: Session, customer_id: Any, product_id: Any, officer_id: Any) -> _IntakeRows:
    """Everything intake reads before it writes, in one statement; the officer's roles and the rule-set versions
    only where the tenant session reaches the head-office tables. Each row is read on its own when one is missing,
    to say which."""
    if isinstance(customer_id, int) and isinstance(product_id, int):
        keys = {"customer_id": customer_id, "product_id": product_id}
        if reaches_shared(session):
            # No officer named by id, no roles to read: intake takes the acting user, or refuses what was named.
            row = session.execute(_CUSTOMER_PRODUCT_ROLES, {
                **keys, "user_id": officer_id if isinstance(officer_id, int) else None,
                "slug": CurrentTenant.get().slug}).first()
            if row is not None:
                return _IntakeRows(row[0], row[1], frozenset(row[4] or ()), (row[2], row[3]), versions_in_force_of(row))
        else:
            row = session.execute(_CUSTOMER_AND_PRODUCT, keys).first()
            if row is not None:
                return _IntakeRows(row[0], row[1], None, (row[2], row[3]))
    return _IntakeRows(session.get(Customer, customer_id) if isinstance(customer_id, int) else None,
                       session.get(Product, product_id) if isinstance(product_id, int) else None)


def _works_here(session: Session, user_id: Any, permission: P, *, roles: frozenset[str] | None = None) -> bool:
    """Whether user ``user_id`` holds a standard role in the acting bank that grants ``permission``; ``roles``, when
    given, are the roles already read.

    Read over the tenant session's connection where it reaches the head-office tables (``shared_reads``).
    """
    from ...identity.roles import STANDARD_ROLES

    if not isinstance(user_id, int):
        return False
    if roles is None:
        with shared_reads(session) as shared:
            roles = frozenset(shared.scalars(_ROLES_HERE, {"user_id": user_id, "slug": CurrentTenant.get().slug}))
    return any(permission in STANDARD_ROLES[r].permissions for r in roles if r in STANDARD_ROLES)


_ROLES_HERE = (select(Membership.role).join(Tenant, Tenant.id == Membership.tenant_id)
               .join(User, User.id == Membership.user_id)
               .where(Membership.user_id == bindparam("user_id"), Tenant.slug == bindparam("slug"),
                      User.active.is_(True)))
# Two rows by key, side by side (the join condition is the keys' own), the business date and whether the customer
# had a loan disbursed before; then the officer's roles and the admission rule-set versions in force. Of the customer
# and the product only what the checks, the terms' cache and the decision facts read: not the customer's sealed
# identifiers, which intake has no use for, nor the product's names and overrides.
_CUSTOMER_AND_PRODUCT = (
    select(Customer, Product, BUSINESS_DATE.scalar_subquery(),
           select(func.count()).select_from(LoanApplication)
           .where(LoanApplication.customer_id == Customer.id, LoanApplication.state == State.DISBURSED.value)
           .scalar_subquery())
    .join_from(Customer, Product, true())
    .where(Customer.id == bindparam("customer_id"), Product.id == bindparam("product_id"))
    .options(load_only(Customer.id, Customer.birth_date, Customer.gender, Customer.marital_status,
                       Customer.years_in_business),
             load_only(Product.id, Product.code, Product.version, Product.created_at, Product.terms)))
_CUSTOMER_PRODUCT_ROLES = with_versions_in_force(
    _CUSTOMER_AND_PRODUCT.add_columns(
        _ROLES_HERE.with_only_columns(func.array_agg(Membership.role)).scalar_subquery()),
    Stage.ADMISSION, BUSINESS_DATE.scalar_subquery())


def _request_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def caller_identity() -> str:
    """Whose idempotency keys these are: the person (through any app), else the machine client."""
    principal = CurrentPrincipal.get()
    return f"user:{principal.user_id}" if principal.user_id is not None else f"client:{principal.client_id}"


def roles_in_bank(user_id: int) -> frozenset[str]:
    """The role codes ``user_id`` holds in the acting bank (a token's principal carries permissions, not roles)."""
    with shared_session() as shared:
        return frozenset(shared.scalars(
            select(Membership.role).join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Tenant.slug == CurrentTenant.get().slug)))


def create_application(session: Session, data: dict[str, Any], *, idempotency_key: str | None = None
                       ) -> tuple[LoanApplication | None, dict[str, Any] | None]:
    """Register an application from any channel: ``(application, None)``, or ``(None, first_response)`` when the
    ``idempotency_key`` was used before with the same body (a retry).

    The key is claimed by the statement that inserts the application, which inserts nothing when the key is taken:
    a concurrent retry waits on the key's row until the first request commits, then finds it and replays its
    response; a key reused with another body is refused. A retry is replayed even where its body would no longer
    pass the checks (the customer's consent withdrawn since, say).
    """
    authorize(P.APPLICATION_CREATE)
    key: dict[str, str] = {}
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 200:
            raise ApplicationError("Idempotency-Key must be 1 to 200 characters")
        normalised = dict(data)
        if "amount" in normalised:
            try:
                normalised["amount"] = str(Decimal(str(normalised["amount"])).quantize(FEN, ROUND_HALF_UP))
            except (InvalidOperation, ValueError):
                pass
        key = {"key_owner": caller_identity(), "key_text": idempotency_key, "key_hash": _request_hash(normalised)}
    loaded: dict[str, Any] = {}
    try:
        values = validate_intake(session, data, loaded=loaded)
    except ApplicationError:
        first = _first_response(session, key) if key else None
        if first is None:
            raise
        return None, first
    initial = State.LEAD if values.pop("lead") else State.APPLIED
    principal = CurrentPrincipal.get()
    row = session.execute(_REGISTER_CLAIMING if key else _REGISTER, {
        **values, **key, "state": initial.value, "assignee_id": values["officer_id"],
        "timezone": CurrentTenant.get().timezone, "actor_id": principal.user_id, "actor": principal.username,
        "reason": f"channel {values['channel']}"}).first()
    if row is None:  # the key was claimed before: a retry
        first = _first_response(session, key)
        if first is None:  # the first request's key was removed meanwhile
            raise Conflict(f"Idempotency-Key {key['key_text']!r} changed hands while this request ran; send it again")
        return None, first
    # The row as inserted becomes the session's object without reading it back.
    application = LoanApplication(**row._mapping)
    make_transient_to_detached(application)
    session.add(application)
    record(session, "application.create", object_type="loan_application", object_id=application.id,
           after={"reference": application.reference, "channel": application.channel,
                  "amount": application.amount, "term_months": application.term_months,
                  "customer_id": application.customer_id, "product_id": application.product_id,
                  "officer_id": application.officer_id, "state": application.state,
                  "repayment_method": application.repayment_method, "sector": application.sector})
    if application.state == State.APPLIED.value:
        # Admission (准入) by the decision engine: a decline rejects the case at once with its reason codes.
        from ..origination.services import run_admission
        # Just registered: no investigation analysis can exist yet, so the facts need not look for one.
        run_admission(session, application, analysis={}, **loaded)
    return application, None


def _first_response(session: Session, key: dict[str, str]) -> dict[str, Any] | None:
    """The response stored under an idempotency key, or None where the key was never used."""
    first = session.execute(select(ApplicationIdempotencyKey).where(
        ApplicationIdempotencyKey.owner == key["key_owner"], ApplicationIdempotencyKey.key == key["key_text"])
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if first is None:
        return None
    if first.request_hash != key["key_hash"]:
        raise IdempotencyKeyReused(f"Idempotency-Key {key['key_text']!r} was used for another request body")
    if first.response is None:
        raise Conflict(f"the request with Idempotency-Key {key['key_text']!r} is still being processed")
    return first.response


def _register_statement(*, claiming: bool) -> Executable:
    """Insert an application with its reference and its first history row, in one statement; ``claiming``: and
    claim the request's idempotency key, inserting nothing (and returning no row) when the key is taken.

    The reference (``LA`` + the bank's local date + the id, zero-padded to six digits) needs the id, so the id is
    drawn from the table's sequence first; the insert returns every column for the session's object.
    """
    table, history = LoanApplication.__table__, ApplicationStateHistory.__table__
    new = select(_APPLICATION_IDS.next_value().label("id")).cte("new")
    number = cast(new.c.id, Text)
    reference = (literal("LA") + func.to_char(func.timezone(bindparam("timezone"), func.now()), "YYYYMMDD")
                 + func.lpad(number, func.greatest(6, func.length(number)), "0"))
    given = ("customer_id", "product_id", "amount", "term_months", "channel", "state", "officer_id", "assignee_id",
             "purpose", "repayment_method", "sector", "bureau_consent_id")
    source = select(new.c.id, reference, *(bindparam(name, type_=table.c[name].type) for name in given))
    if claiming:
        claim = (insert(_KEYS).values(owner=bindparam("key_owner"), key=bindparam("key_text"),
                                      request_hash=bindparam("key_hash"))
                 .on_conflict_do_nothing().returning(_KEYS.c.key).cte("claim"))
        source = source.join_from(new, claim, true())
    inserted = insert(table).from_select(["id", "reference", *given], source).returning(*table.c).cte("inserted")
    first_state = insert(history).from_select(
        ["application_id", "to_state", "event", "actor_id", "actor", "reason"],
        select(inserted.c.id, inserted.c.state, literal("intake"), bindparam("actor_id", type_=Integer),
               bindparam("actor", type_=String), bindparam("reason", type_=Text))
    ).cte("first_state")
    return select(inserted).add_cte(first_state)


#: The applications' id sequence (the serial column's own) in the session's tenant schema.
_APPLICATION_IDS = Sequence("loan_application_id_seq", schema=TENANT_SCHEMA_PLACEHOLDER)
_KEYS = ApplicationIdempotencyKey.__table__
_REGISTER = _register_statement(claiming=False)
_REGISTER_CLAIMING = _register_statement(claiming=True)


def remember_response(session: Session, idempotency_key: str, application: LoanApplication,
                      response: dict[str, Any]) -> None:
    """Store the application made under ``idempotency_key`` and the first response, to replay to retries (same
    transaction as the create)."""
    session.execute(_REMEMBER, {"key_owner": caller_identity(), "key_text": idempotency_key.strip(),
                                "application_id": application.id, "response": response})


_REMEMBER = _KEYS.update().where(_KEYS.c.owner == bindparam("key_owner"), _KEYS.c.key == bindparam("key_text"))


# --- reading --------------------------------------------------------------------------------------------------------


def get_application(session: Session, application_id: int, *, for_update: bool = False) -> LoanApplication:
    authorize(P.APPLICATION_READ)
    query = select(LoanApplication).where(LoanApplication.id == application_id)
    if for_update:
        query = query.with_for_update()
    application = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if application is None:
        raise NotFound(f"no application {application_id} in this bank")
    return application


QUEUES = ("mine", "review", "committee")


def list_applications(session: Session, *, state: str | None = None, assignee_id: int | None = None,
                      officer_id: int | None = None, channel: str | None = None, queue: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[LoanApplication]:
    """Applications, newest first, filtered; ``queue``: ``mine`` (my cases as officer or assignee), ``review``
    (waiting for a reviewer or approver), ``committee`` (on a committee's agenda)."""
    authorize(P.APPLICATION_READ)
    query = select(LoanApplication)
    if state:
        query = query.where(LoanApplication.state == State(state).value)
    if assignee_id is not None:
        query = query.where(LoanApplication.assignee_id == assignee_id)
    if officer_id is not None:
        query = query.where(LoanApplication.officer_id == officer_id)
    if channel:
        query = query.where(LoanApplication.channel == channel)
    if queue == "mine":
        me = CurrentPrincipal.get().user_id
        query = query.where(or_(LoanApplication.officer_id == me, LoanApplication.assignee_id == me))
    elif queue == "review":
        query = query.where(LoanApplication.state == State.IN_REVIEW.value)
    elif queue == "committee":
        query = query.where(LoanApplication.state == State.IN_COMMITTEE.value)
    elif queue is not None:
        raise ApplicationError(f"queue must be one of {', '.join(QUEUES)}")
    return list(session.scalars(query.order_by(LoanApplication.id.desc()).limit(min(limit, 500)).offset(offset)))


def history(session: Session, application: LoanApplication) -> list[ApplicationStateHistory]:
    return list(session.scalars(select(ApplicationStateHistory)
                                .where(ApplicationStateHistory.application_id == application.id)
                                .order_by(ApplicationStateHistory.id)))


def decisions(session: Session, application: LoanApplication) -> list[ApplicationDecision]:
    return list(session.scalars(select(ApplicationDecision)
                                .where(ApplicationDecision.application_id == application.id)
                                .order_by(ApplicationDecision.id)))


def sla_status(session: Session, application: LoanApplication, now: dt.datetime | None = None) -> dict[str, Any]:
    """The current state's timer: hours allowed, when it is due, whether it is overdue (None for final states)."""
    hours = sla_hours(session).get(application.state)
    if hours is None:
        return {"state": application.state, "hours": None, "due_at": None, "overdue": False}
    due = application.state_entered_at + dt.timedelta(hours=hours)
    now = now or session.scalar(select(func.now()))
    return {"state": application.state, "hours": hours, "due_at": due, "overdue": now > due}


def turnaround(session: Session, application: LoanApplication) -> dict[str, Any]:
    """Seconds spent in each state (summed over visits) and from intake to decision, from the history."""
    rows = history(session, application)
    now = session.scalar(select(func.now()))
    spent: dict[str, float] = {}
    for row in rows:
        spent[row.to_state] = spent.get(row.to_state, 0.0) + ((row.left_at or now) - row.entered_at).total_seconds()
    decided = next((r.entered_at for r in rows if r.to_state in (State.APPROVED.value, State.REJECTED.value,
                                                                  State.APPROVED_WITH_CONDITIONS.value)), None)
    intake = rows[0].entered_at if rows else None
    return {"seconds_in_state": spent,
            "intake_to_decision_seconds": (decided - intake).total_seconds() if decided and intake else None}


# --- the officer's and reviewer's transitions -------------------------------------------------------------------


def fire(session: Session, application_id: int, event: Event | str, reason: str = "") -> LoanApplication:
    """Fire ``event`` on an application (locked for the transition); the event's permission is checked."""
    application = get_application(session, application_id, for_update=True)
    event = Event(event)
    if event in (Event.RETURN, Event.REFER):
        check_not_investigator(session, application)
    if event is Event.RETURN and not reason.strip():
        raise ApplicationError("returning an application needs the reason the officer will read")
    if event is Event.CANCEL and not reason.strip():
        raise ApplicationError("a cancellation needs the reason (e.g. the customer withdrew)")
    transition(session, application, event, reason=reason)
    if event is Event.SUBMIT:
        # Approval (审批) by the decision engine as the case enters review: small standard cases within the
        # engine's authority are approved; the rest wait for a reviewer with the rule hits on the case page.
        from ..origination.services import run_approval
        run_approval(session, application)
    return application


def investigators(session: Session, application: LoanApplication) -> set[int]:
    """Everyone who investigated the case: the one who started the visit and whoever saved the analysis."""
    ids = set(session.scalars(select(ApplicationStateHistory.actor_id).where(
        ApplicationStateHistory.application_id == application.id,
        ApplicationStateHistory.event.in_((Event.SCHEDULE_VISIT.value, Event.ANALYSE.value)),
        ApplicationStateHistory.actor_id.is_not(None))))
    if application.investigator_id is not None:
        ids.add(application.investigator_id)
    return ids


def check_not_investigator(session: Session, application: LoanApplication, user_id: int | None = None) -> None:
    """审贷分离: refuse (SegregationOfDutiesViolation) when the acting person investigated this application."""
    if user_id is None:
        user_id = CurrentPrincipal.get().user_id
        if user_id is None:
            # Reviews, approvals and votes are people's: a machine never decides (its scopes cannot either).
            from ...identity.errors import AccessDenied
            raise AccessDenied("only a person may review, approve or vote on an application")
    for investigator in investigators(session, application):
        check_separation(investigator, user_id)


# --- approval authority and the single approver -----------------------------------------------------------------


def authority_of(session: Session, roles: frozenset[str] | set[str], product_code: str) -> list[ApprovalAuthority]:
    """The authority rows that apply to ``roles`` for ``product_code``: a product's own row beats the ``*`` one."""
    rows = list(session.scalars(select(ApprovalAuthority).where(ApprovalAuthority.role.in_(list(roles)),
                                                                 ApprovalAuthority.product_code.in_((product_code, "*")))))
    own = {r.role for r in rows if r.product_code == product_code}
    return [r for r in rows if r.product_code == product_code or r.role not in own]


def within_authority(session: Session, application: LoanApplication, roles: frozenset[str] | set[str]) -> bool:
    product = session.get(Product, application.product_id)
    return any(application.amount <= row.max_amount and application.term_months <= row.max_term_months
               for row in authority_of(session, roles, product.code))


def decide(session: Session, application_id: int, decision: str, reasons: str,
           conditions: list[str] | None = None) -> ApplicationDecision:
    """A single approver's decision (approve / reject / return) on a case within their authority."""
    authorize(P.APPLICATION_APPROVE)
    if decision not in ("approve", "reject", "return"):
        raise ApplicationError("a single approver decides approve, reject or return; conditions need the committee")
    if not reasons or not reasons.strip():
        raise ApplicationError("a decision needs its reasons")
    application = get_application(session, application_id, for_update=True)
    check_not_investigator(session, application)
    principal = CurrentPrincipal.get()
    if decision != "return" and application.state == State.IN_REVIEW.value \
            and not within_authority(session, application, principal.roles or roles_in_bank(principal.user_id)):
        raise Conflict(f"application {application.reference} ({application.amount} yuan, {application.term_months} "
                       "months) is above your approval authority; refer it to a credit-committee session")
    event = {"approve": Event.APPROVE, "reject": Event.REJECT, "return": Event.RETURN}[decision]
    transition(session, application, event, reason=reasons)
    row = ApplicationDecision(application_id=application.id, decision=decision, decided_by=principal.user_id,
                              reasons=reasons.strip(), conditions=list(conditions or []))
    session.add(row)
    session.flush()
    record(session, "application.decide", object_type="loan_application", object_id=application.id,
           after={"decision": decision, "reasons": row.reasons, "by": principal.username})
    return row


# --- credit committee (审贷会) ------------------------------------------------------------------------------------


def create_session(session: Session, meeting_date: dt.date, member_ids: list[int],
                   quorum: int | None = None) -> CommitteeSession:
    """Open a committee session with its members (at least the tenant's minimum, 3 by default [R])."""
    authorize_any((P.COMMITTEE_VOTE, P.APPLICATION_APPROVE, P.APPLICATION_REVIEW))
    members = sorted(set(member_ids))
    minimum = int(parameter(session, COMMITTEE_MIN_MEMBERS_KEY, DEFAULT_COMMITTEE_MIN_MEMBERS))
    if len(members) < minimum:
        raise ApplicationError(f"a committee session needs at least {minimum} members, got {len(members)}")
    not_members = [m for m in members if not _works_here(session, m, P.COMMITTEE_VOTE)]
    if not_members:
        raise ApplicationError(f"users {not_members} hold no credit-committee role in this bank")
    quorum = minimum if quorum is None else quorum
    if not 1 <= quorum <= len(members) or quorum < minimum:
        raise ApplicationError(f"quorum must be from {minimum} to the number of members ({len(members)})")
    row = CommitteeSession(meeting_date=meeting_date, quorum=quorum, status="open",
                           created_by=CurrentPrincipal.get().user_id)
    session.add(row)
    session.flush()
    session.add_all(CommitteeMember(session_id=row.id, user_id=m) for m in members)
    session.flush()
    session.refresh(row)
    record(session, "committee.session.create", object_type="committee_session", object_id=row.id,
           after={"meeting_date": meeting_date, "members": members, "quorum": quorum})
    return row


def get_session(session: Session, session_id: int, *, for_update: bool = False) -> CommitteeSession:
    authorize(P.APPLICATION_READ)
    query = select(CommitteeSession).where(CommitteeSession.id == session_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if row is None:
        raise NotFound(f"no committee session {session_id} in this bank")
    return row


def session_members(session: Session, committee: CommitteeSession) -> list[int]:
    return list(session.scalars(select(CommitteeMember.user_id).where(CommitteeMember.session_id == committee.id)
                                .order_by(CommitteeMember.user_id)))


def session_cases(session: Session, committee: CommitteeSession) -> list[CommitteeCase]:
    return list(session.scalars(select(CommitteeCase).where(CommitteeCase.session_id == committee.id)
                                .order_by(CommitteeCase.application_id)))


def case_votes(session: Session, session_id: int, application_id: int) -> list[CommitteeVote]:
    return list(session.scalars(select(CommitteeVote).where(CommitteeVote.session_id == session_id,
                                                            CommitteeVote.application_id == application_id)
                                .order_by(CommitteeVote.cast_at, CommitteeVote.member_id)))


def _open(session: Session, session_id: int) -> CommitteeSession:
    committee = get_session(session, session_id, for_update=True)
    if committee.status != "open":
        raise Conflict(f"committee session {session_id} is closed")
    return committee


def add_case(session: Session, session_id: int, application_id: int, reason: str = "") -> CommitteeCase:
    """Refer a case in review to an open session (IN_REVIEW → IN_COMMITTEE)."""
    authorize_any((P.APPLICATION_REVIEW, P.APPLICATION_APPROVE))
    committee = _open(session, session_id)
    application = get_application(session, application_id, for_update=True)
    check_not_investigator(session, application)
    transition(session, application, Event.REFER, reason=reason or f"referred to committee session {committee.id}")
    case = CommitteeCase(session_id=committee.id, application_id=application.id, conditions=[], dissent=[])
    session.add(case)
    session.flush()
    return case


def vote(session: Session, session_id: int, application_id: int, choice: str, comment: str = "",
         conditions: list[str] | None = None) -> CommitteeVote:
    """A member's vote on a case of an open session; once per member and case; never by its investigator."""
    authorize(P.COMMITTEE_VOTE)
    committee = _open(session, session_id)
    me = CurrentPrincipal.get().user_id
    if me not in session_members(session, committee):
        from ...identity.errors import AccessDenied
        raise AccessDenied(f"user {CurrentPrincipal.get().username!r} is no member of committee session {session_id}")
    case = session.get(CommitteeCase, (committee.id, application_id))
    if case is None:
        raise NotFound(f"application {application_id} is not on the agenda of committee session {session_id}")
    application = get_application(session, application_id)
    check_not_investigator(session, application)
    if choice not in ("approve", "approve_with_conditions", "reject", "return"):
        raise ApplicationError("a vote is approve, approve_with_conditions, reject or return")
    conditions = [c.strip() for c in conditions or [] if c and c.strip()]
    if choice == "approve_with_conditions" and not conditions:
        raise ApplicationError("a vote to approve with conditions names the conditions")
    if choice in ("reject", "return") and not comment.strip():
        raise ApplicationError("a vote to reject or return needs a comment saying why")
    if session.get(CommitteeVote, (committee.id, application_id, me)) is not None:
        raise Conflict(f"you have already voted on application {application.reference} in this session")
    row = CommitteeVote(session_id=committee.id, application_id=application_id, member_id=me, vote=choice,
                        comment=comment.strip(), conditions=conditions)
    session.add(row)
    session.flush()
    record(session, "committee.vote", object_type="loan_application", object_id=application_id,
           after={"session": committee.id, "vote": choice, "comment": row.comment, "conditions": conditions})
    return row


def tally(votes: list[CommitteeVote]) -> tuple[str, list[str]]:
    """The committee's decision from its votes: a strict majority to approve (with or without conditions) approves,
    with every condition any approving member set; otherwise the larger of reject and return, a tie returning the
    case for more information (the cautious outcome that still lets it come back). [R]"""
    approving = [v for v in votes if v.vote in ("approve", "approve_with_conditions")]
    if len(approving) * 2 > len(votes):
        conditions = sorted({c for v in approving for c in v.conditions})
        return ("approve_with_conditions" if conditions else "approve"), conditions
    rejecting = sum(v.vote == "reject" for v in votes)
    returning = sum(v.vote == "return" for v in votes)
    return ("reject" if rejecting > returning else "return"), []


_DECISION_EVENTS = {"approve": Event.COMMITTEE_APPROVE, "approve_with_conditions": Event.COMMITTEE_APPROVE_WITH_CONDITIONS,
                    "reject": Event.COMMITTEE_REJECT, "return": Event.COMMITTEE_RETURN}


def close_session(session: Session, session_id: int, minutes: str) -> CommitteeSession:
    """Close a session: every case on its agenda is decided by its votes (quorum required), or nothing changes."""
    authorize(P.COMMITTEE_VOTE)
    if not minutes or not minutes.strip():
        raise ApplicationError("closing a session needs its minutes (the reasons for the decisions)")
    committee = _open(session, session_id)
    me = CurrentPrincipal.get().user_id
    if me not in session_members(session, committee):
        from ...identity.errors import AccessDenied
        raise AccessDenied(f"only a member of committee session {session_id} may close it")
    cases = session_cases(session, committee)
    short = [c.application_id for c in cases if len(case_votes(session, committee.id, c.application_id)) < committee.quorum]
    if short:
        raise Conflict(f"committee session {session_id}: applications {short} have fewer votes than the quorum "
                       f"({committee.quorum})")
    for case in cases:
        votes = case_votes(session, committee.id, case.application_id)
        decision, conditions = tally(votes)
        application = get_application(session, case.application_id, for_update=True)
        why = f"committee session {committee.id}: {minutes.strip()}"
        transition(session, application, _DECISION_EVENTS[decision], reason=why, check_permission=False)
        approving = decision in ("approve", "approve_with_conditions")
        case.decision, case.conditions = decision, conditions
        case.dissent = sorted(v.member_id for v in votes
                              if (v.vote in ("approve", "approve_with_conditions")) != approving
                              or (not approving and v.vote != decision))
        case.decided_at = session.scalar(select(func.now()))
        session.add(ApplicationDecision(application_id=application.id, decision=decision, decided_by=me,
                                        by_committee=committee.id, reasons=why, conditions=conditions))
    committee.status = "closed"
    committee.closed_at = session.scalar(select(func.now()))
    session.flush()
    record(session, "committee.session.close", object_type="committee_session", object_id=committee.id,
           after={"minutes": minutes.strip(), "decisions": {str(c.application_id): c.decision for c in cases}})
    return committee


# --- sweeps run by the jobs -----------------------------------------------------------------------------------------


def expire_stale(session: Session) -> list[int]:
    """Expire every pre-contract application older than the tenant's expiry period (from intake); their ids.

    Idempotent: an expired application is no longer pre-contract, so a second run finds nothing.
    """
    days = expiry_days(session)
    stale = list(session.scalars(
        select(LoanApplication).where(LoanApplication.state.in_([s.value for s in PRE_CONTRACT]),
                                      LoanApplication.created_at < func.now() - text(f"interval '{int(days)} days'"))
        .with_for_update(skip_locked=True)))
    for application in stale:
        transition(session, application, Event.EXPIRE, reason=f"no contract within {days} days of intake")
    return [a.id for a in stale]


def send_reminders(session: Session) -> list[ApplicationReminder]:
    """One reminder row to the assignee of every case whose state's SLA timer ran out; new rows only.

    Idempotent: a reminder is unique per application and state visit (state and the time it was entered).
    """
    hours = sla_hours(session)
    conditions = [and_(LoanApplication.state == state,
                       LoanApplication.state_entered_at < func.now() - text(f"interval '{int(h)} hours'"))
                  for state, h in hours.items()]
    due = list(session.scalars(select(LoanApplication).where(or_(*conditions),
                                                             LoanApplication.assignee_id.is_not(None))))
    sent = []
    for application in due:
        message = (f"{application.reference}: {application.state} since "
                   f"{application.state_entered_at:%Y-%m-%d %H:%M} UTC, over its {hours[application.state]} h")
        inserted = session.execute(
            insert(ApplicationReminder).values(application_id=application.id, user_id=application.assignee_id,
                                               kind="sla", state=application.state,
                                               state_entered_at=application.state_entered_at, message=message)
            .on_conflict_do_nothing().returning(ApplicationReminder.id)).scalar()
        if inserted is not None:
            sent.append(session.get(ApplicationReminder, inserted))
    return sent


# The approval-authority change kind registers itself with maker-checker when applications are loaded.
from . import authority  # noqa: E402,F401
