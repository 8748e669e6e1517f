"""Back-office pages (phone-first): contract preparation and signing (parties sign, the 双录 media is uploaded and
quality-checked), and the disbursement queue (create, send, mark settled or failed). Every action goes through the
same services as the API, so permissions, checks and audit are the same whichever way a person works."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ...db import tenant_session
from ...errors import DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.portal import permission_required
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from ..applications.models import LoanApplication
from ..customers.models import Customer
from ..disbursement import services as disbursements
from ..disbursement.models import Disbursement
from . import services
from .models import RecordingSession

blueprint = Blueprint("contract_pages", __name__, template_folder="templates", url_prefix="/back-office")

ROLE_LABELS = {"borrower": N_("Borrower"), "co_borrower": N_("Co-borrower"), "guarantor": N_("Guarantor"),
               "spouse": N_("Borrower's spouse"), "lender": N_("Lender")}
STATUS_LABELS = {"DRAFT": N_("Draft"), "SENT": N_("Sent"), "PARTIALLY_SIGNED": N_("Partially signed"),
                 "SIGNED": N_("Signed"), "VOIDED": N_("Voided"), "PENDING": N_("Pending"), "PASSED": N_("Passed"),
                 "FAILED": N_("Failed"), "SETTLED": N_("Settled"), "REVERSED": N_("Reversed"),
                 "APPROVED": N_("Approved"), "APPROVED_WITH_CONDITIONS": N_("Approved with conditions"),
                 "CONTRACTED": N_("Contracted"), "DISBURSED": N_("Disbursed")}


@blueprint.get("/contracts")
@permission_required(Permission.LOAN_DISBURSE)
def contract_queue() -> str:
    """Approved applications waiting for a contract or its signing, and contracted ones waiting for payment."""
    with tenant_session() as session, session.begin():
        rows = session.execute(
            select(LoanApplication, Customer.name).join(Customer, Customer.id == LoanApplication.customer_id)
            .where(LoanApplication.state.in_(("APPROVED", "APPROVED_WITH_CONDITIONS", "CONTRACTED")))
            .order_by(LoanApplication.id)).all()
        items = [{"application": a, "customer": name, "contract": services.contract_for_application(session, a.id)}
                 for a, name in rows]
    return render_template("contracts/queue.html", items=items, labels=STATUS_LABELS)


def _page(application_id: int, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        authorize(Permission.APPLICATION_READ)  # reading; every action below checks loan.disburse in its service
        application = session.get(LoanApplication, application_id)
        if application is None:
            raise NotFound(f"no application {application_id}")
        customer = session.get(Customer, application.customer_id)
        contract = services.contract_for_application(session, application_id)
        view: dict[str, Any] = {"methods": _methods(session, application),
                                "conditions": _conditions(session, application)}
        if contract is not None:
            signed = {s.party_id: s for s in services.signatures_of(session, contract.id)}
            view |= {"contract": contract, "parties": [(p, signed.get(p.id)) for p in services.parties_of(
                         session, contract.id)],
                     "recording": session.get(RecordingSession, contract.recording_session_id)
                     if contract.recording_session_id else None,
                     "problems": services.disbursement_problems(session, contract),
                     "disbursements": session.scalars(select(Disbursement).where(
                         Disbursement.contract_id == contract.id).order_by(Disbursement.id)).all()}
    return render_template("contracts/contract.html", application=application, customer=customer, error=error,
                           labels=STATUS_LABELS, roles=ROLE_LABELS, **view), status


METHOD_LABELS = {"equal_installment": N_("Equal instalment"), "equal_principal": N_("Equal principal"),
                 "monthly_interest": N_("Monthly interest, principal at maturity"), "bullet": N_("Bullet"),
                 "balloon": N_("Balloon")}


def _conditions(session, application: LoanApplication) -> list[str]:
    """The conditions of the approval the contract is prepared on (the latest decision), for the back office to
    see met before signing and paying out."""
    from ..applications.services import decisions

    approvals = [d for d in decisions(session, application)
                 if d.decision in ("approve", "approve_with_conditions")]
    return list(approvals[-1].conditions or []) if approvals else []


def _methods(session, application: LoanApplication) -> list[tuple[str, str, bool]]:
    """The product's term-loan methods as (code, label, chosen): the application's own method comes chosen."""
    from ..products.services import terms_of

    try:
        offered = services.contract_methods(terms_of(session, application.product_id).repayment_methods)
    except DomainError:  # a product without terms: prepare_contract refuses it with the reason
        offered = list(METHOD_LABELS)
    chosen = services.PRODUCT_METHODS.get(application.repayment_method or "", application.repayment_method)
    return [(code, METHOD_LABELS.get(code, code), code == chosen) for code in offered]


@blueprint.get("/contracts/<int:application_id>")
@login_required
def contract_page(application_id: int) -> tuple[str, int]:
    return _page(application_id)


@blueprint.get("/contracts/<int:application_id>/pdf")
@login_required
def contract_pdf(application_id: int) -> Response:
    """The rendered contract the parties sign, checked against its SHA-256 on the way out (as the API serves it)."""
    with tenant_session() as session, session.begin():
        authorize(Permission.APPLICATION_READ)
        contract = services.contract_for_application(session, application_id)
        if contract is None:
            raise NotFound(f"application {application_id} has no contract")
        contract, data = services.contract_pdf(session, contract.id)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{contract.reference}.pdf"'})


def _act(application_id: int, action) -> Response | tuple[str, int]:
    try:
        with tenant_session() as session, session.begin():
            action(session)
    except DomainError as error:
        if error.status == 404:
            raise
        return _page(application_id, error=str(error), status=error.status)
    return redirect(url_for("contract_pages.contract_page", application_id=application_id))


@blueprint.post("/contracts/<int:application_id>/prepare")
@login_required
def prepare(application_id: int) -> Response | tuple[str, int]:
    form = request.form

    def action(session):
        try:
            rate = Decimal(form.get("annual_rate_percent", "").strip()) / 100
        except InvalidOperation:
            raise DomainError(gettext("The annual rate must be a number.")) from None
        services.prepare_contract(session, application_id, annual_rate=rate,
                                  repayment_method=form.get("repayment_method", ""),
                                  language=form.get("language", "zh"))
    return _act(application_id, action)


@blueprint.post("/contracts/<int:application_id>/sign/<int:party_id>")
@login_required
def sign(application_id: int, party_id: int) -> Response | tuple[str, int]:
    def action(session):
        contract = services.contract_for_application(session, application_id)
        if contract is None:
            raise NotFound(f"application {application_id} has no contract")
        services.sign(session, contract.id, party_id, method=request.form.get("method", "face_signing"))
    return _act(application_id, action)


def _local(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DomainError(gettext("Enter the start and end of the recording.")) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


@blueprint.post("/contracts/<int:application_id>/recording")
@login_required
def upload_recording(application_id: int) -> Response | tuple[str, int]:
    upload, form = request.files.get("media"), request.form

    def action(session):
        contract = services.contract_for_application(session, application_id)
        if contract is None:
            raise NotFound(f"application {application_id} has no contract")
        services.record_recording(
            session, contract.id, media=upload.read() if upload else b"", started_at=_local(form.get("started_at", "")),
            ended_at=_local(form.get("ended_at", "")), script_version=form.get("script_version", ""),
            risk_disclosures_read=[x.strip() for x in form.getlist("disclosures") if x.strip()],
            customer_confirmations=[x.strip() for x in form.get("confirmations", "").splitlines() if x.strip()],
            location=form.get("location", ""))
    return _act(application_id, action)


@blueprint.post("/contracts/<int:application_id>/qc/<int:recording_id>")
@login_required
def review(application_id: int, recording_id: int) -> Response | tuple[str, int]:
    return _act(application_id, lambda session: services.review_recording(
        session, recording_id, passed=request.form.get("outcome") == "passed", note=request.form.get("note", "")))


@blueprint.post("/contracts/<int:application_id>/disbursement")
@login_required
def create_disbursement(application_id: int) -> Response | tuple[str, int]:
    form = request.form
    evidence = [(f.filename or "evidence", f.read()) for f in request.files.getlist("evidence") if f and f.filename]

    def action(session):
        contract = services.contract_for_application(session, application_id)
        if contract is None:
            raise NotFound(f"application {application_id} has no contract")
        mode = form.get("mode", "ENTRUSTED")
        disbursements.create_disbursement(
            session, contract.id, idempotency_key=form.get("idempotency_key", ""), mode=mode,
            self_payment_ground=(form.get("self_payment_ground") or None) if mode == "SELF" else None,
            payee_name=form.get("payee_name", ""), payee_account=form.get("payee_account", ""),
            payee_bank=form.get("payee_bank", ""), purpose=form.get("purpose", ""), evidence=evidence)
    return _act(application_id, action)


@blueprint.get("/disbursements")
@permission_required(Permission.LOAN_DISBURSE)
def disbursement_queue(error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        rows = session.execute(
            select(Disbursement, LoanApplication.reference, LoanApplication.id)
            .join(LoanApplication, LoanApplication.id == Disbursement.application_id)
            .where(Disbursement.status.in_(("PENDING", "SENT"))).order_by(Disbursement.id)).all()
    return render_template("contracts/disbursements.html", rows=rows, labels=STATUS_LABELS, error=error), status


@blueprint.post("/disbursements/<int:disbursement_id>/<string:action>")
@login_required
def disbursement_action(disbursement_id: int, action: str) -> Response | tuple[str, int]:
    form = request.form
    operations = {
        "send": lambda s: disbursements.send(s, disbursement_id),
        "settled": lambda s: disbursements.mark_settled(s, disbursement_id,
                                                        core_banking_ref=form.get("core_banking_ref", "")),
        "failed": lambda s: disbursements.mark_failed(s, disbursement_id, reason=form.get("reason", "")),
    }
    if action not in operations:
        raise NotFound(f"no action {action}")
    try:
        with tenant_session() as session, session.begin():
            operations[action](session)
    except DomainError as error:
        if error.status == 404:
            raise
        return disbursement_queue(error=str(error), status=error.status)
    return redirect(url_for("contract_pages.disbursement_queue"))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("contract_pages.contract_queue", N_("Contracts"), Permission.LOAN_DISBURSE, order=40))
    register_nav(NavLink("contract_pages.disbursement_queue", N_("Disbursements"), Permission.LOAN_DISBURSE,
                         order=41))
