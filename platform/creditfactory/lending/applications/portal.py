"""Portal pages for applications: new application (officer), my applications, the review queue, the case view with
its history, timer and decide form, and credit-committee sessions with voting. Thin: the services decide."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ...db import CurrentTenant, shared_session, tenant_session
from ...errors import DomainError
from ...identity.errors import AccessDenied
from ...identity.models import Membership, User
from ...identity.permissions import Permission as P
from ...identity.principal import CurrentPrincipal
from ...identity.roles import STANDARD_ROLES
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from ...tenancy.models import Tenant
from ..customers.models import Customer
from ..products.models import Product
from . import services
from .models import CHANNELS, CommitteeSession
from .states import PRE_CONTRACT, Event, State

blueprint = Blueprint("application_pages", __name__, template_folder="templates", url_prefix="/applications")

CHANNEL_LABELS = {"branch": N_("Branch counter"), "field_app": N_("Field app"), "wechat_mini": N_("WeChat mini-program"),
                  "mobile_banking": N_("Mobile banking"), "online_banking": N_("Online banking"),
                  "phone": N_("Phone"), "partner": N_("Partner")}
STATE_LABELS = {"LEAD": N_("Lead"), "APPLIED": N_("Applied"), "PRE_SCREENED": N_("Pre-screened"),
                "INVESTIGATING": N_("Investigating"), "ANALYSED": N_("Analysed"), "IN_REVIEW": N_("In review"),
                "IN_COMMITTEE": N_("In committee"), "APPROVED": N_("Approved"),
                "APPROVED_WITH_CONDITIONS": N_("Approved with conditions"), "REJECTED": N_("Rejected"),
                "CONTRACTED": N_("Contracted"), "DISBURSED": N_("Disbursed"), "CANCELLED": N_("Cancelled"),
                "EXPIRED": N_("Expired")}
DECISION_LABELS = {"approve": N_("Approve"), "approve_with_conditions": N_("Approve with conditions"),
                   "reject": N_("Reject"), "return": N_("Return for more information")}


STAGE_LABELS = {"admission": N_("Admission"), "pre_approval": N_("Pre-approval"), "approval": N_("Approval")}
OUTCOME_LABELS = {"pass": N_("Pass"), "approve": N_("Approve"), "refer": N_("Refer to a person"),
                  "decline": N_("Decline")}


def _labels() -> dict[str, Any]:
    return {"channel_labels": CHANNEL_LABELS, "state_labels": STATE_LABELS, "decision_labels": DECISION_LABELS,
            "stage_labels": STAGE_LABELS, "outcome_labels": OUTCOME_LABELS}


def _alert(exc: Exception) -> list[tuple[str, str]]:
    # A refusal is shown on the page it came from, with what was typed; nothing was changed.
    return [("alert", str(exc))]


def _names(user_ids) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    with shared_session() as shared:
        return {u.id: f"{u.display_name} ({u.username})" for u in shared.scalars(select(User).where(User.id.in_(ids)))}


def _committee_members() -> list[tuple[int, str]]:
    """Users holding a role with committee.vote in this bank, for the session form."""
    voting = [code for code, role in STANDARD_ROLES.items() if P.COMMITTEE_VOTE in role.permissions]
    with shared_session() as shared:
        rows = shared.execute(select(User.id, User.display_name, User.username)
                              .join(Membership, Membership.user_id == User.id)
                              .join(Tenant, Tenant.id == Membership.tenant_id)
                              .where(Tenant.slug == CurrentTenant.get().slug, Membership.role.in_(voting),
                                     User.active.is_(True)).distinct().order_by(User.username)).all()
    return [(r.id, f"{r.display_name} ({r.username})") for r in rows]


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def new_application():
    """The officer registers an application taken in any channel (for the customer of ``?customer_id=`` if given).

    The form carries an idempotency key made when it is shown: a form sent twice (a double tap, a retry on a weak
    signal in the field) registers one application and shows it."""
    form: dict[str, Any] = {"channel": "field_app", "term_months": "12",
                            "customer_id": request.args.get("customer_id", ""), "idempotency_key": uuid.uuid4().hex}
    messages: list[tuple[str, str]] = []
    if request.method == "POST":
        form = request.form.to_dict()
        data = {"customer_id": _int(form.get("customer_id")), "product_id": _int(form.get("product_id")),
                "amount": form.get("amount", ""), "term_months": _int(form.get("term_months")),
                "channel": form.get("channel"), "purpose": form.get("purpose", ""),
                "repayment_method": form.get("repayment_method") or None, "sector": form.get("sector") or None,
                "bureau_query": bool(form.get("bureau_query"))}
        try:
            key = form.get("idempotency_key") or None
            with tenant_session() as session, session.begin():
                application, replay = services.create_application(session, data, idempotency_key=key)
                if replay is not None:
                    application_id = replay["id"]
                else:
                    application_id = application.id
                    if key is not None:  # stored as the API stores it: either channel's retry replays it
                        from .schemas import ApplicationSchema
                        services.remember_response(session, key, application, ApplicationSchema().dump(application))
            return redirect(url_for("application_pages.case", application_id=application_id))
        except services.IdempotencyKeyReused:
            # Sent before and changed since (back button): say so, and let a deliberate resend register another.
            messages = [("alert", gettext("This form already registered an application (see My applications). "
                                          "Send it again to register another application with these values."))]
            form["idempotency_key"] = uuid.uuid4().hex
        except (DomainError, AccessDenied) as exc:
            messages = _alert(exc)
    with tenant_session() as session:
        services.authorize(P.APPLICATION_READ)
        customers = list(session.scalars(select(Customer).order_by(Customer.name).limit(500)))
        chosen = _int(form.get("customer_id"))
        if chosen is not None and all(c.id != chosen for c in customers):
            # Opened from a customer's page: that customer is offered even beyond the first 500 by name.
            customers += list(session.scalars(select(Customer).where(Customer.id == chosen)))
        products = list(session.scalars(select(Product).order_by(Product.code, Product.version)))
    from ..products.terms import REPAYMENT_METHODS
    sectors = sorted({sector for p in products for sector in ((p.terms or {}).get("eligible_sectors") or [])})
    return render_template("applications/new.html", form=form, customers=customers, products=products,
                           channels=CHANNELS, methods=REPAYMENT_METHODS, sectors=sectors, messages=messages,
                           **_labels())


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@blueprint.get("/mine")
@login_required
def mine():
    """The officer's cases, newest first."""
    with tenant_session() as session:
        applications = services.list_applications(session, queue="mine")
    return render_template("applications/list.html", title=gettext("My applications"), applications=applications,
                           **_labels())


@blueprint.get("/queue")
@login_required
def queue():
    """The middle office's queue: cases in review, then cases on a committee's agenda."""
    with tenant_session() as session:
        applications = services.list_applications(session, queue="review") \
            + services.list_applications(session, queue="committee")
    return render_template("applications/list.html", title=gettext("Review queue"), applications=applications,
                           **_labels())


@blueprint.get("/<int:application_id>")
@login_required
def case(application_id: int):
    """One case: facts, SLA timer, history, decisions, and the actions the user may take in its state."""
    done = [("notice", gettext("Done."))] if request.args.get("done") else []
    return _case(application_id, done)


def _case(application_id: int, messages: list[tuple[str, str]], status: int = 200):
    principal = CurrentPrincipal.get()
    with tenant_session() as session:
        application = services.get_application(session, application_id)
        history = services.history(session, application)
        decisions = services.decisions(session, application)
        sla = services.sla_status(session, application)
        sessions = list(session.scalars(select(CommitteeSession).where(CommitteeSession.status == "open")
                                        .order_by(CommitteeSession.meeting_date)))
        customer = session.get(Customer, application.customer_id)
        product = session.get(Product, application.product_id)
        engine = _engine_explanations(session, application.id)
        consent_missing = None
        if application.state == State.APPLIED.value:
            # The state machine's own check (it only reads), asked ahead so the officer sees what to capture.
            from .states import PrescreenConsentMissing, prescreen_consent

            try:
                prescreen_consent(session, application)
            except PrescreenConsentMissing:
                consent_missing = True
    state = State(application.state)
    can = {
        "submit": state is State.ANALYSED and (principal.has(P.APPLICATION_INVESTIGATE)
                                               or principal.has(P.APPLICATION_CREATE)),
        "decide": state is State.IN_REVIEW and principal.has(P.APPLICATION_APPROVE),
        "return": state is State.IN_REVIEW and (principal.has(P.APPLICATION_REVIEW)
                                                or principal.has(P.APPLICATION_APPROVE)),
        "refer": state is State.IN_REVIEW and (principal.has(P.APPLICATION_REVIEW)
                                               or principal.has(P.APPLICATION_APPROVE)),
        "cancel": state in PRE_CONTRACT and principal.has(P.APPLICATION_CREATE),
        "prescreen": state is State.APPLIED and principal.has(P.APPLICATION_CREATE),
        "visit": state is State.PRE_SCREENED and principal.has(P.APPLICATION_INVESTIGATE),
        "contract": state in (State.APPROVED, State.APPROVED_WITH_CONDITIONS, State.CONTRACTED, State.DISBURSED)
        and principal.has(P.LOAN_DISBURSE),
        "worksheet": state in (State.INVESTIGATING, State.ANALYSED, State.IN_REVIEW, State.IN_COMMITTEE,
                               State.APPROVED, State.APPROVED_WITH_CONDITIONS, State.REJECTED),
    }
    names = _names([application.officer_id, application.assignee_id] + [h.actor_id for h in history]
                   + [d.decided_by for d in decisions])
    return render_template("applications/case.html", application=application, history=history, decisions=decisions,
                           sla=sla, can=can, sessions=sessions, names=names, customer=customer, product=product,
                           engine=engine, messages=messages, consent_missing=consent_missing, **_labels()), status


def _engine_explanations(session, application_id: int) -> list[dict[str, Any]]:
    """The decision engine's latest decision per stage, explained for staff (reasons and the rules that fired)."""
    from ...decisions.services import explain_decision
    from ...portal.i18n import current_language
    from ..origination.services import stage_records

    if not CurrentPrincipal.get().has(P.RULESET_READ):
        return []
    locale = "en" if current_language() == "en" else "zh"
    return [explain_decision(session, record.id, locale, "staff") | {"outputs": record.outputs}
            for record in stage_records(session, application_id).values()]


@blueprint.post("/<int:application_id>/act")
@login_required
def act(application_id: int):
    """The case page's forms: submit, return, cancel, decide, refer to a committee session."""
    action = request.form.get("action", "")
    reason = request.form.get("reason", "")
    try:
        with tenant_session() as session, session.begin():
            if action in ("submit", "return", "cancel"):
                services.fire(session, application_id, Event(action), reason)
            elif action == "prescreen":
                passed = request.form.get("passed") == "1"
                services.fire(session, application_id, Event.PRESCREEN_PASS if passed else Event.PRESCREEN_FAIL,
                              reason)
            elif action == "visit":
                services.fire(session, application_id, Event.SCHEDULE_VISIT, reason)
            elif action == "decide":
                services.decide(session, application_id, request.form.get("decision", ""), reason)
            elif action == "refer":
                services.add_case(session, _int(request.form.get("session_id")) or 0, application_id, reason)
            else:
                raise services.ApplicationError(f"unknown action {action!r}")
    except (DomainError, AccessDenied) as exc:
        return _case(application_id, _alert(exc), getattr(exc, "status", 422))
    return redirect(url_for("application_pages.case", application_id=application_id, done=1))


@blueprint.route("/committee", methods=["GET", "POST"])
@login_required
def committee_sessions():
    """Committee sessions: the open and recent ones, and a form to open one."""
    messages: list[tuple[str, str]] = []
    if request.method == "POST":
        try:
            meeting = dt.date.fromisoformat(request.form.get("meeting_date", ""))
        except ValueError:
            messages = _alert(services.ApplicationError(gettext("Give the meeting date.")))
        else:
            try:
                with tenant_session() as session, session.begin():
                    created = services.create_session(session, meeting,
                                                      [int(m) for m in request.form.getlist("member_ids") if m.isdigit()])
                    created_id = created.id
                return redirect(url_for("application_pages.committee_session", session_id=created_id))
            except (DomainError, AccessDenied) as exc:
                messages = _alert(exc)
    with tenant_session() as session:
        services.authorize(P.APPLICATION_READ)
        rows = list(session.scalars(select(CommitteeSession).order_by(CommitteeSession.id.desc()).limit(50)))
    return render_template("applications/sessions.html", sessions=rows, members=_committee_members(),
                           today=dt.date.today().isoformat(), messages=messages, **_labels())


@blueprint.get("/committee/<int:session_id>")
@login_required
def committee_session(session_id: int):
    """A session: its cases with every vote, a vote form for members, and closing."""
    return _session(session_id, [("notice", gettext("Done."))] if request.args.get("done") else [])


def _session(session_id: int, messages: list[tuple[str, str]], status: int = 200):
    principal = CurrentPrincipal.get()
    with tenant_session() as session:
        committee = services.get_session(session, session_id)
        members = services.session_members(session, committee)
        cases = []
        for case_row in services.session_cases(session, committee):
            application = session.get(services.LoanApplication, case_row.application_id)
            votes = services.case_votes(session, committee.id, case_row.application_id)
            cases.append({"case": case_row, "application": application, "votes": votes,
                          "voted": any(v.member_id == principal.user_id for v in votes)})
    names = _names(members)
    member = principal.user_id in members and principal.has(P.COMMITTEE_VOTE)
    return render_template("applications/session.html", committee=committee, members=members, cases=cases,
                           names=names, member=member, messages=messages, **_labels()), status


@blueprint.post("/committee/<int:session_id>/act")
@login_required
def committee_act(session_id: int):
    action = request.form.get("action", "")
    try:
        with tenant_session() as session, session.begin():
            if action == "vote":
                conditions = [c.strip() for c in request.form.get("conditions", "").splitlines() if c.strip()]
                services.vote(session, session_id, _int(request.form.get("application_id")) or 0,
                              request.form.get("vote", ""), request.form.get("comment", ""), conditions)
            elif action == "close":
                services.close_session(session, session_id, request.form.get("minutes", ""))
            else:
                raise services.ApplicationError(f"unknown action {action!r}")
    except (DomainError, AccessDenied) as exc:
        return _session(session_id, _alert(exc), getattr(exc, "status", 422))
    return redirect(url_for("application_pages.committee_session", session_id=session_id, done=1))


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.add_template_filter(_money, "yuan")
    register_nav(NavLink("application_pages.new_application", N_("New application"), P.APPLICATION_CREATE, order=20))
    register_nav(NavLink("application_pages.mine", N_("My applications"), P.APPLICATION_CREATE, order=21))
    register_nav(NavLink("application_pages.queue", N_("Review queue"), P.APPLICATION_READ, order=22))
    register_nav(NavLink("application_pages.committee_sessions", N_("Credit committee"), P.APPLICATION_READ, order=23))
