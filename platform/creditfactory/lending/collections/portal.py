"""Collections and post-loan inspection pages (phone-first, DOMAIN §2.7–2.8): the collections work list (by stage,
mine / unassigned / all), a case page (log an action, record a promise to pay, assign, issue a written notice and
record its signed receipt) and the inspection work list (record an outcome). Every action calls the services the
API calls, so permissions (`collection.manage`, `loan.service`) and audit are the same."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ...db import tenant_session
from ...errors import DomainError
from ...identity.models import Membership, User
from ...identity.permissions import Permission
from ...identity.portal import permission_required
from ...identity.principal import CurrentPrincipal
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from ...tenancy.models import Tenant
from . import services
from .models import ACTION_KINDS, INSPECTION_METHODS, OUTCOMES, STAGES

blueprint = Blueprint("collection_pages", __name__, template_folder="templates", url_prefix="/back-office")

STAGE_LABELS = {"early": N_("Early (M1)"), "mid": N_("Mid (M2–M3)"), "late": N_("Late (NPL)")}
ACTION_LABELS = {"call": N_("Phone call"), "sms": N_("SMS"), "visit": N_("Visit"),
                 "guarantor_contact": N_("Guarantor contact"), "notice": N_("Written notice"),
                 "legal": N_("Legal action"), "note": N_("Note")}
PROMISE_LABELS = {"open": N_("Open"), "kept": N_("Kept"), "broken": N_("Broken")}
METHOD_LABELS = {"on_site": N_("On site"), "phone": N_("Phone"), "off_site_data": N_("Off-site data")}
OUTCOME_LABELS = {"normal": N_("Normal"), "concern": N_("Concern (at least special mention)"),
                  "risk": N_("Risk (at least substandard)")}
TYPE_LABELS = {"first_check": N_("First check"), "routine": N_("Routine"), "triggered": N_("Triggered"),
               "pre_maturity": N_("Pre-maturity")}
SCOPES = ("mine", "unassigned", "all")

assert set(ACTION_LABELS) == set(ACTION_KINDS) and set(STAGE_LABELS) == set(STAGES)
assert set(METHOD_LABELS) == set(INSPECTION_METHODS) and set(OUTCOME_LABELS) == set(OUTCOMES)


def _labels() -> dict[str, Any]:
    return {"stages": STAGE_LABELS, "action_labels": ACTION_LABELS, "promise_labels": PROMISE_LABELS,
            "method_labels": METHOD_LABELS, "outcome_labels": OUTCOME_LABELS, "type_labels": TYPE_LABELS}


@blueprint.get("/collections")
@permission_required(Permission.COLLECTION_MANAGE)
def work_list() -> str:
    """Open cases worst first; by default the caller's own, then the pool or everyone's."""
    stage = request.args.get("stage") if request.args.get("stage") in STAGES else None
    scope = request.args.get("scope") if request.args.get("scope") in SCOPES else "mine"
    with tenant_session() as session, session.begin():
        cases = services.work_list(session, stage=stage, unassigned=scope == "unassigned",
                                   collector_id=CurrentPrincipal.get().user_id if scope == "mine" else None)
    return render_template("collections/work_list.html", cases=cases, stage=stage, scope=scope, **_labels())


def _collectors(session) -> list[tuple[int, str]]:
    """People of this bank holding the collections role, the ones a case is usually given to."""
    return session.execute(
        select(User.id, User.display_name).join(Membership, Membership.user_id == User.id)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Tenant.slug == session.tenant.slug, Membership.context == "tenant", Membership.role == "collections",
               User.active).distinct().order_by(User.display_name)).all()


def _case(case_id: int, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        detail = services.case_detail(session, case_id)
        owed = detail["arrears"]
        collectors = _collectors(session)
        today = services.current_business_date(session)
    return render_template("collections/case.html", **detail, owed=owed, collectors=collectors, today=today,
                           me=CurrentPrincipal.get().user_id, error=error, form=request.form,
                           kinds=ACTION_KINDS, **_labels()), status


@blueprint.get("/collections/<int:case_id>")
@login_required  # collection.manage is checked by services.case_detail
def case_page(case_id: int) -> tuple[str, int]:
    return _case(case_id)


def _date(value: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(gettext("%(field)s must be a date.", field=what)) from None


def _act(case_id: int, action: Callable[[Any], Any], anchor: str = "") -> Response | tuple[str, int]:
    try:
        with tenant_session() as session, session.begin():
            action(session)
    except DomainError as error:
        if error.status == 404:
            raise
        return _case(case_id, error=str(error), status=error.status)
    return redirect(url_for("collection_pages.case_page", case_id=case_id) + anchor)


@blueprint.post("/collections/<int:case_id>/actions")
@permission_required(Permission.COLLECTION_MANAGE)
def log_action(case_id: int) -> Response | tuple[str, int]:
    form = request.form

    def action(session):
        day = _date(form["action_date"], gettext("Date")) if form.get("action_date", "").strip() else None
        services.log_action(session, case_id, kind=form.get("kind", ""), arrear_reason=form.get("arrear_reason", ""),
                            result_note=form.get("result_note", ""), action_date=day)
    return _act(case_id, action, "#actions")


@blueprint.post("/collections/<int:case_id>/promises")
@permission_required(Permission.COLLECTION_MANAGE)
def record_promise(case_id: int) -> Response | tuple[str, int]:
    form = request.form
    return _act(case_id, lambda session: services.promise(
        session, case_id, amount=form.get("amount", "").replace(",", "").strip(),
        promised_date=_date(form.get("promised_date", ""), gettext("Promised date"))), "#promises")


@blueprint.post("/collections/<int:case_id>/assignment")
@permission_required(Permission.COLLECTION_MANAGE)
def assign(case_id: int) -> Response | tuple[str, int]:
    chosen = request.form.get("collector_id", "").strip()
    if chosen == "me":
        collector: int | None = CurrentPrincipal.get().user_id
    elif chosen.isdigit():
        collector = int(chosen)
    else:
        collector = None
    return _act(case_id, lambda session: services.assign(session, case_id, collector))


@blueprint.post("/collections/<int:case_id>/notices")
@permission_required(Permission.COLLECTION_MANAGE)
def issue_notice(case_id: int) -> Response | tuple[str, int]:
    return _act(case_id, lambda session: services.issue_notice(
        session, case_id, language=request.form.get("language", "zh")), "#notices")


@blueprint.post("/collections/<int:case_id>/notices/<int:notice_id>/receipt")
@permission_required(Permission.COLLECTION_MANAGE)
def record_receipt(case_id: int, notice_id: int) -> Response | tuple[str, int]:
    form = request.form
    return _act(case_id, lambda session: services.record_receipt(
        session, notice_id, signed_on=_date(form.get("signed_on", ""), gettext("Signed on")),
        note=form.get("note", "")), "#notices")


def _inspections(*, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        rows = services.inspection_list(session, due_by=None, pending=True)
        today = services.current_business_date(session)
    return render_template("collections/inspections.html", rows=rows, today=today, error=error,
                           may_record=CurrentPrincipal.get().has(Permission.LOAN_SERVICE),
                           methods=INSPECTION_METHODS, outcomes=OUTCOMES, **_labels()), status


@blueprint.get("/inspections")
@permission_required(Permission.LOAN_READ)
def inspection_list() -> tuple[str, int]:
    """Pending post-loan inspections, earliest due first."""
    return _inspections()


@blueprint.post("/inspections/<int:inspection_id>")
@permission_required(Permission.LOAN_SERVICE)
def record_inspection(inspection_id: int) -> Response | tuple[str, int]:
    form = request.form
    verified = {"yes": True, "no": False}.get(form.get("funds_use_verified", ""))
    try:
        with tenant_session() as session, session.begin():
            services.record_inspection(
                session, inspection_id, method=form.get("method", ""), outcome=form.get("outcome", ""),
                funds_use_verified=verified, business_status=form.get("business_status", ""),
                new_debts=form.get("new_debts", ""),
                early_warning_hits=[x.strip() for x in form.get("early_warning_hits", "").splitlines() if x.strip()])
    except DomainError as error:
        if error.status == 404:
            raise
        return _inspections(error=str(error), status=error.status)
    return redirect(url_for("collection_pages.inspection_list"))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("collection_pages.work_list", N_("Collections"), Permission.COLLECTION_MANAGE, order=43))
    register_nav(NavLink("collection_pages.inspection_list", N_("Inspections"), Permission.LOAN_READ, order=44))
