"""Portal pages for loan officers: my customers, a customer's page (KYC, parties, documents, consents), new customer.

Phone-first: one column, large controls, photo upload straight from the camera. Every page goes through the same
services as the API, so permissions, masking and audit are the same whichever way a person works.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext

from ...db import tenant_session
from ...errors import DomainError
from ...identity import clock
from ...identity.errors import AccessDenied
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from . import routes, services
from .models import CONSENT_CHANNELS, CONSENT_PURPOSES, CONSENT_TYPES, DOCUMENT_TYPES, MARITAL_STATUSES, PARTY_ROLES

blueprint = Blueprint("customer_pages", __name__, template_folder="templates", url_prefix="/customers",
                      static_folder="static", static_url_path="/static")

#: Labels of coded values, for the templates (msgids extracted into this capability's catalogue).
LABELS = {
    "kind": {"individual": N_("Individual business owner"), "household": N_("Household"),
             "micro_enterprise": N_("Micro enterprise")},
    "marital_status": {"single": N_("Single"), "married": N_("Married"),
                       "divorced": N_("Divorced"), "widowed": N_("Widowed")},
    "gender": {"male": N_("Male"), "female": N_("Female")},
    "role": {"spouse": N_("Spouse"), "co_borrower": N_("Co-borrower"),
             "guarantor": N_("Guarantor"), "shareholder": N_("Shareholder"),
             "legal_representative": N_("Legal representative")},
    "doc_type": {"id_card": N_("ID card copy"), "business_licence": N_("Business licence"),
                 "site_photo": N_("Site photo"), "bank_statement": N_("Bank statement"),
                 "contract": N_("Contract"), "other": N_("Other")},
    "purpose": {"credit_assessment": N_("Credit assessment"),
                "bureau_query": N_("Credit-bureau query"),
                "bureau_reporting": N_("Credit-bureau reporting"),
                "bank_statement_analysis": N_("Bank-statement analysis"),
                "marketing": N_("Marketing"),
                "biometric_verification": N_("Biometric verification"),
                "recording": N_("Audio/video recording"),
                "guarantor_data_sharing": N_("Data sharing with guarantor")},
    "consent_type": {"general": N_("General"), "separate": N_("Separate"),
                     "written": N_("Written")},
    "channel": {"app": N_("App"), "paper_scan": N_("Paper form (scanned)"),
                "face_sign": N_("Face-signing"), "branch": N_("At the branch")},
    "status": {"active": N_("Active"), "withdrawn": N_("Withdrawn"),
               "expired": N_("Expired"), "pending": N_("Not yet valid")},
}

#: What the form says about a field that failed validation (the service's own reason is shown beside it).
FIELD_MESSAGES = {
    "name": N_("Enter the name as on the ID card or business licence."),
    "kind": N_("Choose the kind of customer."),
    "resident_id": N_("Enter a valid 18-character resident ID number (check the last character)."),
    "uscc": N_("Enter the 18-character unified social credit code from the business licence."),
    "mobile": N_("Enter an 11-digit mainland mobile number."),
    "sector_code": N_("Enter an industry code such as F5221 (a letter A–T and up to 4 digits)."),
    "years_in_business": N_("Enter a whole number of years from 0 to 100."),
    "household_members": N_("Enter a number of household members from 1 to 50."),
    "marital_status": N_("Marital status does not apply to this kind of customer."),
    "legal_representative_name": N_("Only a micro enterprise has a legal representative."),
    "address": N_("The address is too long."),
    "registered_address": N_("The address is too long."),
}

_FORM_FIELDS = ("kind", "name", "resident_id", "uscc", "mobile", "address", "registered_address", "sector_code",
                "years_in_business", "household_members", "marital_status", "legal_representative_name")


def _may(permission: Permission) -> bool:
    principal = CurrentPrincipal.get_or_none()
    return principal is not None and principal.has(permission)


@blueprint.get("")
@login_required
def my_customers() -> str:
    """The customers the logged-in officer registered or is assigned to; ``?all=1`` for the whole bank."""
    show_all = request.args.get("all") == "1"
    query = (request.args.get("q") or "").strip()[:100]
    with tenant_session() as session, session.begin():
        customers = services.list_customers(session, mine=not show_all, name=query or None, limit=100)
        # An overview: identifiers masked for everyone, so a list of a hundred customers reveals nobody.
        rows = [services.customer_view(session, c, masked=True) for c in customers]
    return render_template("customers/list.html", customers=rows, show_all=show_all, query=query, labels=LABELS,
                           may_manage=_may(Permission.CUSTOMER_MANAGE))


def _form_values() -> dict[str, Any]:
    values = {field: (request.form.get(field) or "").strip() for field in _FORM_FIELDS}
    return values


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def new_customer() -> str | Response | tuple[str, int]:
    """Register a customer; invalid fields are marked with what is wrong."""
    errors: dict[str, str] = {}
    problem = None
    values = _form_values() if request.method == "POST" else {"kind": request.args.get("kind", "individual")}
    if request.method == "POST":
        data: dict[str, Any] = {k: (v or None) for k, v in values.items() if k != "kind"}
        if data.get("name") is None:
            data["name"] = ""
        try:
            with tenant_session() as session, session.begin():
                customer = services.create_customer(session, kind=values.get("kind") or "", **data)
                customer_id = customer.id
            return redirect(url_for("customer_pages.customer_page", customer_id=customer_id))
        except services.CustomerInvalid as error:
            errors = error.errors
        except services.DuplicateCustomer as error:
            problem = gettext("A customer with this ID number or USCC already exists (%(detail)s).",
                              detail=str(error).rsplit(": ", 1)[-1])
    if not _may(Permission.CUSTOMER_MANAGE):
        raise AccessDenied("registering customers needs customer.manage")
    status = 422 if (errors or problem) else 200
    return render_template("customers/new.html", values=values, errors=errors, problem=problem, labels=LABELS,
                           field_messages=FIELD_MESSAGES, marital_statuses=MARITAL_STATUSES), status


def _customer_page(customer_id: int, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, session.begin():
        customer = services.get_customer(session, customer_id)
        view = services.customer_view(session, customer)
        parties = [services.party_view(session, p) for p in services.list_related_parties(session, customer_id)]
        documents = services.list_documents(session, customer_id)
        now = clock.now()
        consents = [{**c.as_dict(), "status": services.consent_status(c, now)}
                    for c in services.list_consents(session, customer_id)]
    return render_template("customers/customer.html", customer=view, parties=parties, documents=documents,
                           consents=consents, labels=LABELS, error=error,
                           may_manage=_may(Permission.CUSTOMER_MANAGE), may_read_pii=_may(Permission.PII_READ),
                           may_apply=_may(Permission.APPLICATION_CREATE),
                           sensitive_types=services.SENSITIVE_DOCUMENT_TYPES, document_types=DOCUMENT_TYPES,
                           party_roles=PARTY_ROLES, purposes=CONSENT_PURPOSES, consent_types=CONSENT_TYPES,
                           channels=CONSENT_CHANNELS), status


@blueprint.get("/<int:customer_id>")
@login_required
def customer_page(customer_id: int) -> tuple[str, int]:
    """A customer: KYC (masked unless the officer holds pii.read), related parties, documents and consents."""
    return _customer_page(customer_id)


def _act(customer_id: int, action) -> Response | tuple[str, int]:
    """Run a change from a form on the customer page: back to the page on success, the page with the refusal
    otherwise."""
    try:
        with tenant_session() as session, session.begin():
            action(session)
    except services.CustomerInvalid as error:
        message = "; ".join(f"{_field_label(field)}: {reason}" for field, reason in error.errors.items())
        return _customer_page(customer_id, error=message, status=422)
    except DomainError as error:
        if error.status == 404:
            raise
        return _customer_page(customer_id, error=str(error), status=error.status)
    return redirect(url_for("customer_pages.customer_page", customer_id=customer_id))


def _field_label(field: str) -> str:
    return gettext(FIELD_MESSAGES[field]) if field in FIELD_MESSAGES else field


@blueprint.post("/<int:customer_id>/parties")
@login_required
def add_party(customer_id: int) -> Response | tuple[str, int]:
    form = request.form
    related = (form.get("related_customer_id") or "").strip()

    def action(session):
        services.add_related_party(session, customer_id, role=form.get("role", ""),
                                   related_customer_id=int(related) if related.isdigit() else None,
                                   name=(form.get("name") or None) if not related else None,
                                   resident_id=form.get("resident_id") or None, mobile=form.get("mobile") or None,
                                   share_percent=form.get("share_percent") or None, note=form.get("note") or None)
    return _act(customer_id, action)


@blueprint.post("/<int:customer_id>/parties/<int:party_id>/remove")
@login_required
def remove_party(customer_id: int, party_id: int) -> Response | tuple[str, int]:
    return _act(customer_id, lambda session: services.remove_related_party(session, customer_id, party_id))


@blueprint.post("/<int:customer_id>/documents")
@login_required
def upload_document(customer_id: int) -> Response | tuple[str, int]:
    upload = request.files.get("file")

    def action(session):
        services.upload_document(session, customer_id, doc_type=request.form.get("doc_type", ""),
                                 filename=upload.filename if upload else None, data=upload.read() if upload else b"")
    return _act(customer_id, action)


@blueprint.get("/<int:customer_id>/documents/<int:document_id>")
@login_required
def download_document(customer_id: int, document_id: int) -> Response:
    """Download a document (audited); ID card copies and bank statements need pii.read."""
    with tenant_session() as session, session.begin():
        document, data = services.read_document(session, customer_id, document_id)
    return routes.document_response(document, data)


def _parse_local(value: str | None) -> dt.datetime | None:
    """A ``datetime-local`` form value, read in the bank's time zone."""
    if not value:
        return None
    from zoneinfo import ZoneInfo

    from ...db import CurrentTenant
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError:
        raise services.CustomerInvalid({"expires_at": "is not a date and time"}) from None
    zone = getattr(CurrentTenant.get(), "timezone", None) or "Asia/Shanghai"
    return naive.replace(tzinfo=ZoneInfo(zone)) if naive.tzinfo is None else naive


@blueprint.post("/<int:customer_id>/consents")
@login_required
def grant_consent(customer_id: int) -> Response | tuple[str, int]:
    form = request.form

    def action(session):
        document = (form.get("evidence_document_id") or "").strip()
        services.grant_consent(session, customer_id, purpose=form.get("purpose", ""), scope=form.get("scope", ""),
                               consent_type=form.get("consent_type", ""), channel=form.get("channel", ""),
                               expires_at=_parse_local(form.get("expires_at")),
                               evidence_document_id=int(document) if document.isdigit() else None,
                               evidence_signature=form.get("evidence_signature") or None,
                               recipients=[r for r in (form.get("recipients") or "").split(",") if r.strip()],
                               sensitive=form.get("sensitive") == "1")
    return _act(customer_id, action)


@blueprint.post("/<int:customer_id>/consents/<int:consent_id>/withdraw")
@login_required
def withdraw_consent(customer_id: int, consent_id: int) -> Response | tuple[str, int]:
    return _act(customer_id, lambda session: services.withdraw_consent(
        session, customer_id, consent_id, reason=request.form.get("reason", ""), channel=None))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("customer_pages.my_customers", N_("My customers"), Permission.CUSTOMER_READ, order=10))
    register_nav(NavLink("customer_pages.new_customer", N_("New customer"), Permission.CUSTOMER_MANAGE, order=11))
