"""Talent pages (phone-first): the org chart, ladders and grades with competencies and pay bands, "my career",
evaluation cycles (open, score, propose a decision; a second person approves on the approvals page) and the
loan-officer scorecards with productivity and pay. Every action goes through the services the API uses, so
permissions, maker-checker, the NPL quality gate and audit are the same whichever way a person works."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ..db import CurrentTenant, tenant_session
from ..errors import DomainError, NotFound
from ..identity import administration
from ..identity.authorization import authorize
from ..identity.errors import AccessDenied
from ..identity.models import ChangeRequest
from ..identity.principal import CurrentPrincipal
from ..identity.permissions import Permission
from ..identity.portal import permission_required
from ..lending.cob.dates import business_date
from ..portal.account import login_required
from ..portal.nav import N_, NavLink, register_nav
from . import competencies, pay, scorecards, services
from .models import DECISIONS, Employee, JobGrade

blueprint = Blueprint("talent_pages", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/talent", url_prefix="/talent")

KIND_LABELS = {"head_office": N_("Head office"), "branch": N_("Branch"), "sub_branch": N_("Sub-branch"),
               "department": N_("Department"), "functional": N_("Functional team"), "agile": N_("Agile team"),
               "business": N_("Business"), "technology": N_("Technology")}
TRACK_LABELS = {"management": N_("Management track"), "professional": N_("Professional track")}
DECISION_LABELS = {"promote": N_("Promote"), "keep": N_("Keep"), "demote": N_("Demote"),
                   "exit_track": N_("Transfer to another track")}
STATUS_LABELS = {"pending": N_("Waiting for approval"), "applied": N_("Applied"), "rejected": N_("Rejected"),
                 "draft": N_("Draft"), "open": N_("Open"), "closed": N_("Closed")}
MOVE_LABELS = {"hire": N_("Hired"), "transfer": N_("Transfer"), "position": N_("Position change"),
               "manager": N_("Reporting line"), "grade": N_("Grade change"), "track_transfer": N_("Track transfer"),
               "exit": N_("Left")}
KPI_LABELS = {"loans_disbursed": N_("Loans disbursed"), "amount_disbursed": N_("Amount disbursed"),
              "managed_balance": N_("Managed balance"), "customers": N_("Customers"),
              "interest_contribution": N_("Interest contribution"), "overdue_ratio": N_("Overdue ratio"),
              "npl_ratio": N_("NPL ratio"), "first_payment_defaults": N_("First-payment defaults"),
              "rework_rate": N_("Investigation rework rate"), "turnaround_days": N_("Turnaround (days)")}
LABELS = {**KIND_LABELS, **TRACK_LABELS, **DECISION_LABELS, **STATUS_LABELS, **MOVE_LABELS}


def _render(template: str, **context: Any) -> str:
    return render_template(template, labels=LABELS, kpi_labels=KPI_LABELS,
                           zh=_language() == "zh", **context)


def _language() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return "zh" if locale is not None and locale.language == "zh" else "en"


@blueprint.get("/org")
@permission_required(Permission.TALENT_READ)
def org() -> str:
    """The org chart: units as a tree with their people and teams."""
    with tenant_session() as session, session.begin():
        tree, teams = services.org_chart(session), services.teams(session)
    return _render("talent/org.html", tree=tree, teams=teams)


@blueprint.get("/ladder")
@permission_required(Permission.TALENT_READ)
def ladder() -> str:
    """The dual-track ladder with job standards, the competency model and the pay bands."""
    with tenant_session() as session, session.begin():
        families, model, bands = services.ladder(session), competencies.competency_model(session), pay.bands(session)
    return _render("talent/ladder.html", families=families, model=model, bands={b["grade"]: b for b in bands})


def _career_page(loader) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        try:
            career = loader(session, business_date(session))
        except NotFound:
            return _render("talent/career.html", career=None), 200
    return _render("talent/career.html", career=career), 200


@blueprint.get("/my-career")
@login_required
def my_career() -> tuple[str, int]:
    """The acting person's own career: grade, the next grade's requirements and their progress."""
    if CurrentTenant.get_or_none() is None:
        # The menu shows the link to every logged-in person; outside a village bank nobody is its employee.
        return _render("talent/career.html", career=None), 200
    return _career_page(services.my_career)


@blueprint.get("/employees/<string:employee_no>")
@login_required  # the service checks talent.read
def employee_career(employee_no: str) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        career = services.employee_career(session, employee_no, business_date(session))
    return _render("talent/career.html", career=career), 200


@blueprint.get("/cycles")
@permission_required(Permission.TALENT_READ)
def cycles(error: str | None = None, status: int = 200, form: dict[str, str] | None = None) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        rows = services.cycles(session)
    return _render("talent/cycles.html", cycles=rows, error=error, form=form or {}), status


@blueprint.post("/cycles")
@login_required
def open_cycle() -> Response | tuple[str, int]:
    form = request.form
    try:
        with tenant_session() as session, session.begin():
            try:
                effective = dt.date.fromisoformat(form.get("effective_date", ""))
            except ValueError:
                raise DomainError(gettext("Enter the effective date.")) from None
            cycle = services.open_cycle(session, code=form.get("code", "").strip(),
                                        period=form.get("period", "").strip(), effective_date=effective)
            code = cycle.code
    except DomainError as error:
        return cycles(error=str(error), status=error.status, form=form.to_dict())
    return redirect(url_for("talent_pages.cycle", code=code))


def _cycle_page(code: str, *, error: str | None = None, status: int = 200,
                form: dict[str, Any] | None = None) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        authorize(Permission.TALENT_READ)
        cycle = next((c for c in services.cycles(session) if c.code == code), None)
        if cycle is None:
            raise NotFound(f"no evaluation cycle {code}")
        evaluations = services.evaluations(session, code)
        people = session.scalars(select(Employee).where(Employee.status == "active")
                                 .order_by(Employee.employee_no)).all()
        grades = dict(session.execute(select(JobGrade.id, JobGrade.code)).all())
        employees = [{"employee_no": e.employee_no, "name": e.name, "grade": grades.get(e.grade_id)}
                     for e in people]
        model = competencies.competency_model(session)
        grade_codes = sorted(grades.values())
        # Who may check which pending decision here: a holder of config.approve who did not propose it.
        principal = CurrentPrincipal.get()
        pending = [ev["change_request_id"] for ev in evaluations if ev["status"] == "pending"]
        makers = dict(session.execute(select(ChangeRequest.id, ChangeRequest.maker_id)
                                      .where(ChangeRequest.id.in_(pending))).all()) if pending else {}
        checkable = {change_id for change_id, maker in makers.items()
                     if principal.has(Permission.CONFIG_APPROVE) and maker != principal.user_id}
    return _render("talent/cycle.html", cycle=cycle, evaluations=evaluations, employees=employees, model=model,
                   decisions=DECISIONS, grade_codes=grade_codes, error=error, form=form or {}, checkable=checkable,
                   dimension_names={d["code"]: d["name_zh"] if _language() == "zh" else d["name_en"]
                                    for d in model}), status


@blueprint.get("/cycles/<string:code>")
@login_required  # talent.read, checked in _cycle_page
def cycle(code: str) -> tuple[str, int]:
    """A cycle's evaluations and the form to score an employee and propose the committee's decision."""
    return _cycle_page(code)


@blueprint.post("/cycles/<string:code>/evaluations")
@login_required
def evaluate(code: str) -> Response | tuple[str, int]:
    form = request.form
    levels = {}
    for key, value in form.items():
        if key.startswith("level_") and value.strip():
            if not value.strip().isdigit():
                return _cycle_page(code, error=gettext("A competency level is a whole number from 1 to 5."),
                                   status=422, form=form.to_dict())
            levels[key.removeprefix("level_")] = int(value)
    try:
        with tenant_session() as session, session.begin():
            services.propose_evaluation(
                session, code, form.get("employee_no", ""), exam_score=form.get("exam_score", "").strip(),
                kpi_score=form.get("kpi_score", "").strip(),
                competency_score=form.get("competency_score", "").strip() or None,
                competency_levels=levels or None, decision=form.get("decision", ""),
                target_grade=form.get("target_grade", "").strip() or None, reason=form.get("reason", "")[:500])
    except DomainError as error:
        if error.status == 404 and "cycle" in str(error):
            raise
        return _cycle_page(code, error=str(error), status=error.status, form=form.to_dict())
    return redirect(url_for("talent_pages.cycle", code=code))


@blueprint.post("/cycles/<string:code>/evaluations/<int:change_id>")
@permission_required(Permission.CONFIG_APPROVE)
def check_evaluation(code: str, change_id: int) -> Response | tuple[str, int]:
    """The second person approves (``decision=approve``) or rejects with a reason a proposed decision; the same
    maker-checker change as on the approvals page (the maker is refused, the gates are re-checked)."""
    decision = request.form.get("decision")
    try:
        with tenant_session() as session, session.begin():
            if decision == "approve":
                administration.approve_change(session, change_id)
            else:
                administration.reject_change(session, change_id, request.form.get("reason", "")[:2000])
    except DomainError as error:
        if error.status == 404:
            raise
        return _cycle_page(code, error=str(error), status=error.status)
    except AccessDenied as refused:
        return _cycle_page(code, error=str(refused), status=403)
    return redirect(url_for("talent_pages.cycle", code=code))


@blueprint.post("/cycles/<string:code>/close")
@login_required
def close_cycle(code: str) -> Response | tuple[str, int]:
    try:
        with tenant_session() as session, session.begin():
            services.close_cycle(session, code)
    except DomainError as error:
        if error.status == 404:
            raise
        return _cycle_page(code, error=str(error), status=error.status)
    return redirect(url_for("talent_pages.cycle", code=code))


def _period(value: str | None, today: dt.date) -> str:
    if value:
        scorecards.period_bounds(value)
        return value
    return f"{today.year:04d}-{today.month:02d}"


@blueprint.get("/scorecards")
@permission_required(Permission.TALENT_READ)
def scorecard_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    """The month's officer scorecards, productivity by reporting's definitions and the officers' pay."""
    with tenant_session() as session, session.begin():
        try:
            period = _period(request.args.get("period"), business_date(session))
        except DomainError as exc:
            error, status = str(exc), exc.status
            period = _period(None, business_date(session))
        cards = scorecards.scorecards(session, period)
        productivity = scorecards.productivity(session, period)
        pay_rows = pay.officer_pay(session, period)
        definition = scorecards.current_definition(session)
    return _render("talent/scorecards.html", period=period, cards=cards, productivity=productivity,
                   ratios=("overdue_ratio", "npl_ratio", "rework_rate"),
                   amounts=("amount_disbursed", "managed_balance", "interest_contribution"),
                   pay_rows=pay_rows, definition=definition, error=error), status


@blueprint.post("/scorecards")
@login_required
def recompute() -> Response | tuple[str, int]:
    """Recompute the month's scorecards (``what=scorecards``) or the officers' pay (``what=pay``) now."""
    period = request.form.get("period", "")
    try:
        with tenant_session() as session, session.begin():
            scorecards.period_bounds(period)
            if request.form.get("what") == "pay":
                pay.recompute(session, period)
            else:
                scorecards.recompute(session, period)
    except DomainError as error:
        return scorecard_page(error=str(error), status=error.status)
    return redirect(url_for("talent_pages.scorecard_page", period=period))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("talent_pages.my_career", N_("My career"), None, order=90))
    register_nav(NavLink("talent_pages.org", N_("Organisation"), Permission.TALENT_READ, order=700))
    register_nav(NavLink("talent_pages.ladder", N_("Career ladders"), Permission.TALENT_READ, order=701))
    register_nav(NavLink("talent_pages.cycles", N_("Evaluations"), Permission.TALENT_READ, order=702))
    register_nav(NavLink("talent_pages.scorecard_page", N_("Officer scorecards"), Permission.TALENT_READ, order=703))
