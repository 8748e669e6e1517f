"""Isolation and authorization: every API operation and portal page, every kind of caller, refused or served.

Rows come from the app itself (the OpenAPI document for the API, the URL map for pages), so a new route joins the
tables on its own, and a route that declares no access fails ``test_every_operation_declares_its_access`` or
``test_every_page_declares_its_access``. Each table has positive controls: the allowed caller must succeed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import flask_smorest
import marshmallow as ma
import pytest
from flask import Blueprint as FlaskBlueprint
from flask.views import MethodView
from sqlalchemy import delete, select

from creditfactory.app import create_app
from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services as identity_services, sessions, totp
from creditfactory.identity.authorization import authorize
from creditfactory.identity.models import User
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import CurrentPrincipal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.identity.scopes import Scope
from creditfactory.portal.account import login_required
from creditfactory.web.access import access_of
from creditfactory.web.smorest import PUBLIC_EXTENSION, SECURITY_SCHEME, Blueprint, api_of

import customer_samples

PASSWORD = "a long enough passphrase"
#: What the page matrix's logged-in staff (loan officers) may do.
OFFICER_PERMISSIONS = STANDARD_ROLES["loan_officer"].permissions
HTML = {"Accept": "text/html"}
HTTP_METHODS = ("get", "put", "post", "patch", "delete")

#: Sample arguments of operations that need them, by (method, OpenAPI path): "path" parameters, "query", "json"
#: (or "data" for a form / multipart body). A sample may be a function of the allowed caller's tenant, called for
#: each call, that makes the rows the operation acts on (a fresh customer to read, a consent to withdraw...).
#: An operation with a path parameter and no sample here fails the matrix with a message saying so.
MATRIX_LOAN = {"path": {"reference": "MATRIX-LOAN"}}
#: "allowed": the status the allowed caller gets with the sample when it is not 200 (the sample names no row, so the
#: service answers it: proof the token passed).
SAMPLES: dict[tuple[str, str], dict[str, Any] | Callable[[Any], dict[str, Any]]] = {
    ("get", "/api/v1/probe/loans/{loan_id}"): {"path": {"loan_id": 7}, "query": {"currency": "CNY"}},
    # Built-in plugins are always enabled: enabling one again is the harmless write every caller can be tried on.
    ("put", "/api/v1/plugins/{name}"): {"path": {"name": "builtin"}, "json": {"enabled": True}},
    **customer_samples.SAMPLES,
    # Contracts and disbursements: ids no row has (404 once authorized); the recording upload needs its file (422).
    **{(method, f"/api/v1/contracts{tail}"): {"path": path, "json": body, "allowed": 404}
       for method, tail, path, body in (
           ("get", "/applications/{application_id}", {"application_id": 999999999}, None),
           ("post", "/applications/{application_id}", {"application_id": 999999999},
            {"annual_rate": "0.12", "repayment_method": "bullet"}),
           ("get", "/{contract_id}", {"contract_id": 999999999}, None),
           ("get", "/{contract_id}/pdf", {"contract_id": 999999999}, None),
           ("post", "/{contract_id}/signatures", {"contract_id": 999999999}, {"party_id": 1}),
           ("post", "/recordings/{recording_id}/qc", {"recording_id": 999999999}, {"passed": True}))},
    ("post", "/api/v1/contracts/{contract_id}/recording"): {"path": {"contract_id": 999999999}, "allowed": 422},
    ("post", "/api/v1/disbursements"): {"json": {"contract_id": 999999999, "idempotency_key": "matrix-disbursement",
                                                 "payee_name": "x", "payee_account": "1"}, "allowed": 404},
    **{(method, f"/api/v1/disbursements/{{disbursement_id}}{tail}"): {
        "path": {"disbursement_id": 999999999}, "json": body, "allowed": 404}
       for method, tail, body in (("get", "", None), ("post", "/send", None),
                                  ("post", "/settled", {"core_banking_ref": "CB1"}),
                                  ("post", "/failed", {"reason": "r"}), ("post", "/reversed", {"reason": "r"}))},
    # Products: tenant A adopts biz_operating (fixture _lending_samples); publishing the same version again is a no-op.
    ("get", "/api/v1/products/{code}"): {"path": {"code": "biz_operating"}},
    ("get", "/api/v1/products/{code}/versions"): {"path": {"code": "biz_operating"}},
    ("get", "/api/v1/products/{code}/versions/{version}"): {"path": {"code": "biz_operating", "version": 1}},
    ("get", "/api/v1/products/{code}/diff"): {"path": {"code": "biz_operating"}},
    ("post", "/api/v1/products/{code}/adoption"): {
        "path": {"code": "biz_operating"}, "json": {"template_code": "biz_operating", "template_version": 1}},
    ("post", "/api/v1/products/{code}/changes"): {"path": {"code": "biz_operating"}, "json": {"overrides": {}}},
    ("post", "/api/v1/products/{code}/regional"): {
        "path": {"code": "matrix_regional"}, "json": {"name_zh": "区域", "name_en": "Regional", "terms": {}}},
    ("post", "/api/v1/products/{code}/from-plugin"): {"path": {"code": "matrix_plugin"},
                                                       "json": {"plugin_template": "yn_grass_loan"}},
    ("get", "/api/v1/product-templates/{code}/versions/{version}"): {"path": {"code": "biz_operating", "version": 1}},
    ("post", "/api/v1/product-templates/{code}/versions"): {
        "path": {"code": "matrix_template"},
        "json": {"version": 1, "name_zh": "矩阵模板", "name_en": "Matrix template",
                 "terms": {"amount": {"min": "1000", "max": "2000"}, "term_months": {"min": 1, "max": 12},
                           "annual_rate": {"min": "0.05", "max": "0.10"}, "repayment_methods": ["bullet"],
                           "eligible_sectors": ["retail"]}}},
    ("post", "/api/v1/changes/{change_id}/approve"): {"path": {"change_id": 2147483647}, "allowed": 404},
    ("post", "/api/v1/changes/{change_id}/reject"): {"path": {"change_id": 2147483647}, "json": {"reason": "no"},
                                                     "allowed": 404},
    **{(method, f"/api/v1/applications/{{application_id}}{tail}"): {"path": {"application_id": 999999999},
                                                                  "json": body, "allowed": 404}
       for method, tail, body in (("get", "", None), ("post", "/prescreen", {"passed": True}), ("post", "/visit", {}),
                                  ("post", "/submit", {}), ("post", "/cancel", {"reason": "r"}),
                                  ("post", "/return", {"reason": "r"}),
                                  ("post", "/decision", {"decision": "approve", "reasons": "r"}))},
    ("post", "/api/v1/applications"): {"json": {"customer_id": 999999999, "product_id": 999999999, "amount": "1000",
                                                "term_months": 12, "channel": "branch"}, "allowed": 422},
    **{(method, f"/api/v1/committee-sessions/{{session_id}}{tail}"): {"path": {"session_id": 999999999},
                                                                    "json": body, "allowed": 404}
       for method, tail, body in (("get", "", None), ("post", "/cases", {"application_id": 1}),
                                  ("post", "/votes", {"application_id": 1, "vote": "approve"}),
                                  ("post", "/close", {"minutes": "m"}))},
    ("post", "/api/v1/committee-sessions"): {"json": {"meeting_date": "2026-12-01", "member_ids": [999999999]},
                                             "allowed": 422},
    ("post", "/api/v1/approval-authority"): {"json": {"role": "approver", "max_amount": "1000", "max_term_months": 12},
                                             "allowed": 422},
    # Large-report tasks: an id no task has (404 once authorized: the caller's own tasks only).
    ("get", "/api/v1/reports/tasks/{task_id}"): {"path": {"task_id": 999999999}, "allowed": 404},
    ("get", "/api/v1/reports/tasks/{task_id}/file"): {"path": {"task_id": 999999999}, "allowed": 404},
    ("post", "/api/v1/calculator/schedule"): {"json": {"method": "equal_installment", "principal": "100000",
                                                       "annual_rate": "0.0612", "months": 12, "start": "2026-01-15"}},
    **{("get", f"/api/v1/loans/{{reference}}{tail}"): MATRIX_LOAN
       for tail in ("", "/schedule", "/transactions", "/postings", "/classification", "/payoff-quote")},
    ("post", "/api/v1/loans/{reference}/repayments"): {
        **MATRIX_LOAN, "json": {"amount": "10.00", "idempotency_key": "matrix-repayment"}},
    ("post", "/api/v1/loans/{reference}/reversals"): {
        **MATRIX_LOAN, "json": {"idempotency_key": "matrix-repayment-0", "reason": "authorization matrix"}},
    # Opened today: a prepayment inside the first period's first day is refused (409) after the token passed.
    ("post", "/api/v1/loans/{reference}/prepayments"): {
        **MATRIX_LOAN, "json": {"amount": "10.00", "mode": "reamortise", "idempotency_key": "matrix-prepay"},
        "allowed": 409},
    ("get", "/api/v1/loans/{reference}/changes"): MATRIX_LOAN,
    # Life-cycle writes on the matrix loan are refused after the token passed, leaving the loan as other samples
    # expect it: a schedule that does not repay the principal (422), litigation of a loan in good standing (409),
    # an "upgrade" of a normal loan (422); classification events no row has (404).
    ("post", "/api/v1/loans/{reference}/restructuring"): {
        **MATRIX_LOAN, "json": {"reason": "matrix", "installments": [
            {"due_date": "2099-01-01", "principal": "1.00", "interest": "0.00"}]}, "allowed": 422},
    ("post", "/api/v1/loans/{reference}/litigation"): {**MATRIX_LOAN, "json": {"reason": "matrix"}, "allowed": 409},
    ("post", "/api/v1/loans/{reference}/upgrade-requests"): {
        **MATRIX_LOAN, "json": {"to_class": "normal", "reason": "matrix"}, "allowed": 422},
    ("post", "/api/v1/loans/{reference}/waivers"): {**MATRIX_LOAN, "json": {"penalty": "1.00", "reason": "matrix"}},
    ("post", "/api/v1/loans/{reference}/write-off"): {**MATRIX_LOAN, "json": {"reason": "matrix"}},
    **{("post", f"/api/v1/loans/classification-reviews/{{event_id}}/{tail}"): {
        "path": {"event_id": 2147483647}, "json": body, "allowed": 404}
       for tail, body in (("confirmation", None), ("approval", None), ("rejection", {"reason": "matrix"}),
                          ("refusal", {"reason": "matrix"}))},
    ("get", "/api/v1/collections/cases/{case_id}"): {"path": {"case_id": 2147483647}, "allowed": 404},
    ("put", "/api/v1/collections/cases/{case_id}/assignment"): {
        "path": {"case_id": 2147483647}, "json": {"collector_id": None}, "allowed": 404},
    ("post", "/api/v1/collections/cases/{case_id}/actions"): {
        "path": {"case_id": 2147483647}, "json": {"kind": "call", "result_note": "matrix"}, "allowed": 404},
    ("post", "/api/v1/collections/cases/{case_id}/promises"): {
        "path": {"case_id": 2147483647}, "json": {"amount": "1.00", "promised_date": "2099-01-01"}, "allowed": 404},
    ("post", "/api/v1/collections/cases/{case_id}/notices"): {
        "path": {"case_id": 2147483647}, "json": {"language": "zh"}, "allowed": 404},
    ("get", "/api/v1/collections/notices/{notice_id}"): {"path": {"notice_id": 2147483647}, "allowed": 404},
    ("put", "/api/v1/collections/notices/{notice_id}/receipt"): {
        "path": {"notice_id": 2147483647}, "json": {"signed_on": "2026-01-01"}, "allowed": 404},
    ("post", "/api/v1/inspections/{inspection_id}"): {
        "path": {"inspection_id": 2147483647}, "json": {"method": "phone", "outcome": "normal"}, "allowed": 404},
    # Talent: invalid bodies (422) and an employee no tenant has (404) change nothing.
    **{("post", f"/api/v1/talent/{tail}"): {"json": {}, "allowed": 422}
       for tail in ("org-units", "employees", "teams", "cycles")},
    ("post", "/api/v1/talent/ladder/adoption"): {"json": {"overrides": {"NO-SUCH": {}}}},
    ("get", "/api/v1/talent/employees/{employee_no}/moves"): {"path": {"employee_no": "NOBODY"}, "allowed": 404},
    ("post", "/api/v1/talent/employees/{employee_no}/moves"): {"path": {"employee_no": "NOBODY"}, "json": {},
                                                               "allowed": 422},
    ("get", "/api/v1/talent/employees/{employee_no}/career"): {"path": {"employee_no": "NOBODY"}, "allowed": 404},
    ("get", "/api/v1/talent/scorecards"): {"query": {"period": "2026-11"}},
    ("post", "/api/v1/talent/scorecards"): {"query": {"period": "2026-11"}},
    ("post", "/api/v1/talent/scorecard-definition"): {"json": {}, "allowed": 422},
    ("get", "/api/v1/talent/cycles/{code}/evaluations"): {"path": {"code": "NONE"}, "allowed": 404},
    ("post", "/api/v1/talent/cycles/{code}/evaluations"): {
        "path": {"code": "NONE"}, "json": {"employee_no": "NOBODY", "exam_score": "1", "kpi_score": "1",
                                           "competency_score": "1", "decision": "keep"}},
    # Employee 360: bad bodies (422) and rows no tenant has (404) change nothing; reads are audited views.
    ("get", "/api/v1/employee-risk/scores"): {"query": {"period": "2026-11"}},
    ("post", "/api/v1/employee-risk/model"): {"json": {"bands": {"yellow": "90", "orange": "50", "red": "80"}},
                                              "allowed": 422},
    ("post", "/api/v1/employee-risk/computations"): {"json": {"period": "2026-13"}, "allowed": 422},
    ("get", "/api/v1/employee-risk/employees/{employee_no}"): {
        "path": {"employee_no": "NOBODY"}, "query": {"period": "2026-11"}, "allowed": 404},
    ("post", "/api/v1/employee-risk/consents"): {"json": {}, "allowed": 422},
    ("post", "/api/v1/employee-risk/consents/{consent_id}/revocation"): {"path": {"consent_id": 2147483647},
                                                                         "allowed": 404},
    ("post", "/api/v1/employee-risk/findings"): {"json": {}, "allowed": 422},
    ("post", "/api/v1/employee-risk/imports"): {"allowed": 422},
    ("post", "/api/v1/talent/competencies/adoption"): {"json": {"overrides": {"NO-SUCH": {}}}},
    ("put", "/api/v1/talent/pay/bands/{grade}"): {
        "path": {"grade": "NO-SUCH"}, "json": {"minimum": "1", "midpoint": "2", "maximum": "3", "steps": ["1"]},
        "allowed": 404},
    ("post", "/api/v1/talent/pay/policy"): {"json": {}, "allowed": 422},
    ("put", "/api/v1/talent/employees/{employee_no}/pay-step"): {"path": {"employee_no": "NOBODY"},
                                                                 "json": {"pay_step": 2}, "allowed": 404},
    ("get", "/api/v1/talent/pay"): {"query": {"period": "2026-11"}},
    ("post", "/api/v1/talent/pay"): {"query": {"period": "2026-11"}},
    ("get", "/api/v1/talent/productivity"): {"query": {"period": "2026-11"}},
}
MATRIX_STANDARD = {"code": "matrix-standard", "stage": "approval", "tables": [], "rules": [
    {"id": "MATRIX-R", "when": "application.amount > 1", "action": "refer", "reason_code": "MX"}],
    "reasons": {"MX": {"code": "MX", "customer_zh": "人工审核", "customer_en": "Manual review", "staff_zh": "矩阵",
                       "staff_en": "Matrix"}}}


def _matrix_standard_draft() -> int:
    """A fresh head-office draft authored by the system (so any token may publish it: not its author)."""
    from creditfactory.decisions import services as decision_services
    import datetime as dt

    with SystemContext("test: matrix standard draft"), shared_session() as s, s.begin():
        return decision_services.save_standard_draft(s, MATRIX_STANDARD, dt.date(2999, 1, 1)).id


# Decisions: the samples name a standard rule set, overlay version and decision that do not exist, so the
# services answer 404 (proof the token passed); tests/test_decisions_api.py has the positive paths.
SAMPLES.update({
    ("post", "/api/v1/decisions/overlays"): {"json": {"code": "matrix-none", "overlay": {},
                                                      "effective_from": "2026-12-01"}, "allowed": 404},
    ("post", "/api/v1/decisions/overlays/validation"): {"json": {"code": "matrix-none", "overlay": {}},
                                                        "allowed": 404},
    ("get", "/api/v1/decisions/overlays/{version_id}"): {"path": {"version_id": 999999999}, "allowed": 404},
    ("put", "/api/v1/decisions/overlays/{version_id}"): {"path": {"version_id": 999999999},
                                                         "json": {"overlay": {}}, "allowed": 404},
    ("get", "/api/v1/decisions/overlays/{version_id}/diff"): {"path": {"version_id": 999999999}, "allowed": 404},
    ("post", "/api/v1/decisions/overlays/{version_id}/publication"): {"path": {"version_id": 999999999},
                                                                      "allowed": 404},
    ("get", "/api/v1/decisions/records/{record_id}"): {"path": {"record_id": 999999999}, "allowed": 404},
    ("get", "/api/v1/decisions/records/{record_id}/explanation"): {"path": {"record_id": 999999999},
                                                                   "query": {"locale": "en"}, "allowed": 404},
    ("post", "/api/v1/decisions/records/{record_id}/override"): {
        "path": {"record_id": 999999999}, "json": {"outcome": "approve", "justification": "checked in person"},
        "allowed": 404},
    # Simulations and challengers (tests/test_decisions_simulation.py has the positive paths).
    ("post", "/api/v1/decisions/simulations"): {"json": {"draft_version_id": 999999999}, "allowed": 404},
    ("get", "/api/v1/decisions/simulations/{simulation_id}"): {"path": {"simulation_id": 999999999},
                                                               "allowed": 404},
    ("put", "/api/v1/decisions/challengers"): {"json": {"version_id": 999999999, "share_percent": "10"},
                                               "allowed": 404},
    ("delete", "/api/v1/decisions/challengers/{stage}"): {"path": {"stage": "approval"}, "allowed": 404},
    ("get", "/api/v1/decisions/challengers/{stage}/report"): {"path": {"stage": "approval"}},
    # Head-office drafts are never in force for other tests: effective in 2999.
    ("post", "/api/v1/ruleset-templates"): {"json": {"ruleset": MATRIX_STANDARD, "effective_from": "2999-01-01"}},
    ("post", "/api/v1/ruleset-templates/{version_id}/publication"): lambda tenant: {
        "path": {"version_id": _matrix_standard_draft()}},
})
#: Operations a machine client is refused although its scope names them: a maker-checker change records the
#: person who proposed it, so the allowed (machine) caller gets 403; tests/test_products_api.py shows a person
#: through an app succeeding.
PEOPLE_ONLY: set[tuple[str, str]] = {
    ("post", "/api/v1/products/{code}/adoption"), ("post", "/api/v1/products/{code}/changes"),
    ("post", "/api/v1/products/{code}/regional"), ("post", "/api/v1/products/{code}/from-plugin"),
    ("post", "/api/v1/talent/ladder/adoption"), ("post", "/api/v1/talent/cycles/{code}/evaluations"),
    ("post", "/api/v1/talent/competencies/adoption"),
    # Waivers and write-offs are change requests that name the person who asked (tests/test_servicing_lifecycle_api.py).
    ("post", "/api/v1/loans/{reference}/waivers"), ("post", "/api/v1/loans/{reference}/write-off"),
}
#: URL arguments of portal pages that take some, by endpoint (or a function of the tenant making them).
PAGE_SAMPLES: dict[str, dict[str, Any] | Callable[[Any], dict[str, Any]]] = {
    "portal.set_language": {"code": "en"},
    "product_pages.product_detail": {"code": "biz_operating"},
    "product_pages.propose_override": {"code": "biz_operating"},
    "application_pages.case": {"application_id": 999999999},
    "investigation.worksheet": {"application_id": 990001},
    "application_pages.committee_session": {"session_id": 999999999},
    "contract_pages.contract_page": {"application_id": 999999999},
    "talent_pages.employee_career": {"employee_no": "NOBODY"},
    "talent_pages.cycle": {"code": "NONE"},
    "loan_pages.loan_page": {"reference": "NO-SUCH-LOAN"},
    "collection_pages.case_page": {"case_id": 999999999},
    "decision_pages.editor": {"version_id": 999999999},
    "decision_pages.decision": {"record_id": 999999999},
    "decision_pages.standard": {"version_id": 999999999},
    "contract_pages.contract_pdf": {"application_id": 999999999},
    **customer_samples.PAGE_SAMPLES,
}
#: A loan application (and a visit to it) in tenant A that operations on one can be called with; made by the
#: module fixture ``lending_case`` with ids far above any other test's.
SAMPLE_CASE_ID = 990001
SAMPLES.update({
    ("post", "/api/v1/investigations/{application_id}/analysis"): {
        "path": {"application_id": SAMPLE_CASE_ID}, "json": {"worksheet": {}}},
    ("get", "/api/v1/investigations/{application_id}/worksheet"): {"path": {"application_id": SAMPLE_CASE_ID}},
    ("put", "/api/v1/investigations/{application_id}/worksheet"): {
        "path": {"application_id": SAMPLE_CASE_ID}, "json": {"worksheet": {}}},
    ("get", "/api/v1/investigations/{application_id}/visits"): {"path": {"application_id": SAMPLE_CASE_ID}},
    ("post", "/api/v1/investigations/{application_id}/visits"): {
        "path": {"application_id": SAMPLE_CASE_ID}, "json": {"visited_at": "2026-01-10T09:30:00+08:00"}},
    ("get", "/api/v1/investigations/visits/{visit_id}/photos"): {"path": {"visit_id": SAMPLE_CASE_ID}},
    ("post", "/api/v1/investigations/visits/{visit_id}/photos"): {
        "path": {"visit_id": SAMPLE_CASE_ID},
        "json": {"sha256": "0" * 64, "content_type": "image/jpeg", "size_bytes": 1, "subject": "premises"}},
    ("post", "/api/v1/investigations/visits/{visit_id}/photos/upload"): lambda tenant: {
        "path": {"visit_id": SAMPLE_CASE_ID},
        "data": {"subject": "premises", "file": (__import__("io").BytesIO(customer_samples.PNG), "shop.png")}},
})

#: What a logged-in user of the page's bank gets when it is not 200: the sample names no row (the page was reached).
PAGE_STATUS: dict[str, int] = {"application_pages.case": 404, "application_pages.committee_session": 404,
                               "contract_pages.contract_page": 404, "contract_pages.contract_pdf": 404,
                               "loan_pages.loan_page": 404,
                               # The loan officer of the matrix holds no talent.read: the page's service refuses.
                               "talent_pages.employee_career": 403, "talent_pages.cycle": 403,
                               # The officer may not work collections: the service refuses before looking.
                               "collection_pages.case_page": 403,
                               # Risk-rule pages with an id check their permission (ruleset.read, ruleset.template.
                               # manage) in the service, before looking the row up: a loan officer holds neither.
                               "decision_pages.editor": 403, "decision_pages.decision": 403,
                               "decision_pages.standard": 403}

# --- the walks ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    #: Scope codes the operation requires, or None for a public operation.
    scopes: tuple[str, ...] | None

    @property
    def context(self) -> Context:
        """Where the allowed caller acts: the context of the required scopes (a village bank if none)."""
        contexts = {Scope(code).context for code in self.scopes or ()}
        assert len(contexts) <= 1, f"{self}: scopes of several contexts can never be held by one token"
        return contexts.pop() if contexts else Context.TENANT

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def walk_openapi(spec: dict[str, Any]) -> tuple[list[Operation], list[str]]:
    """The operations of ``spec`` with their declared access, and the problems of those declaring none or badly."""
    known = set(spec.get("components", {}).get("securitySchemes", {}).get(SECURITY_SCHEME, {})
                .get("flows", {}).get("clientCredentials", {}).get("scopes", {}))
    operations, problems = [], []
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            doc = item[method]
            where = f"{method.upper()} {path}"
            security, reason = doc.get("security"), doc.get(PUBLIC_EXTENSION)
            if reason and not security:
                operations.append(Operation(method, path, None))
            elif security and not reason:
                if any(set(requirement) != {SECURITY_SCHEME} for requirement in security) or len(security) != 1:
                    problems.append(f"{where}: security must be one {SECURITY_SCHEME!r} requirement: {security}")
                    continue
                scopes = tuple(security[0][SECURITY_SCHEME])
                unknown = set(scopes) - known
                if unknown:
                    problems.append(f"{where}: unknown scopes {sorted(unknown)}")
                    continue
                operations.append(Operation(method, path, scopes))
            else:
                problems.append(f"{where}: declares {'both' if reason else 'neither'} @blp.auth(...) "
                                f"{'and' if reason else 'nor'} @blp.public(reason)")
    return operations, problems


def walk_pages(app) -> tuple[list[tuple[str, Any]], list[str]]:
    """GET endpoints outside the documented API (static files aside) with their declared access, and the
    endpoints declaring none."""
    pages, problems = [], []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
        if "GET" not in rule.methods or endpoint == "static" or endpoint.endswith(".static") \
                or isinstance(blueprint, flask_smorest.Blueprint):
            continue
        access = access_of(app.view_functions[endpoint])
        if access is None:
            problems.append(f"{endpoint} ({rule.rule}): declares neither @public(reason) nor @login_required")
        else:
            pages.append((endpoint, access))
    return sorted(pages, key=lambda page: page[0]), problems


# --- callers -----------------------------------------------------------------------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


#: Where the test app sends its authorization codes.
TOKEN_REDIRECT = "https://matrix.example/cb"


class Tokens:
    """Bearer tokens of real clients, one per (context, tenant, scopes), made on first use.

    Scopes a machine may hold get a client-credentials token. A people-only scope (``Scope.user_only``: deciding
    applications, approving configuration, personal data in clear) gets a *user's* token, through the real
    authorization-code flow with PKCE: a user holding every non-administrator standard role of the context that
    grants one of the scopes' permissions logs in to the portal, consents, and the app exchanges the code.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.http = app.test_client()
        self.made: dict[tuple[Context, str | None, tuple[str, ...]], str] = {}
        self.users: list[str] = []

    def __call__(self, context: Context, tenant_slug: str | None, scopes: tuple[str, ...]) -> dict[str, str]:
        key = (context, tenant_slug, tuple(sorted(scopes)))
        if key not in self.made and any(Scope(code).user_only for code in key[2]):
            self.made[key] = self._user_token(context, tenant_slug, key[2])
        if key not in self.made:
            with SystemContext("test: authorization matrix"), shared_session() as session, session.begin():
                issued = oauth_services.create_client(session, "授权测试", " ".join(key[2]), context=context,
                                                      tenant_slug=tenant_slug)
            response = self.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                      headers=_basic(issued.client.client_id, issued.client_secret))
            assert response.status_code == 200, response.json
            self.made[key] = response.json["access_token"]
        return {"Authorization": f"Bearer {self.made[key]}"}

    def _user_token(self, context: Context, tenant_slug: str | None, scopes: tuple[str, ...]) -> str:
        needed = {p for code in scopes for p in Scope(code).permissions}
        roles = [code for code, role in STANDARD_ROLES.items()
                 if role.context is context and code not in totp.ADMIN_ROLES and role.permissions & needed]
        assert roles, f"no standard role of the {context.label_en} grants any permission of {scopes}"
        username = f"u{uuid.uuid4().hex[:10]}"
        with SystemContext("test: authorization matrix"), shared_session() as session, session.begin():
            identity_services.create_user(session, username, "矩阵测试", password=PASSWORD)
            for role in roles:
                identity_services.grant(session, username, role, tenant_slug)
            app_client = oauth_services.create_client(session, "授权测试App", " ".join(scopes), context=context,
                                                      tenant_slug=tenant_slug, redirect_uris=(TOKEN_REDIRECT,),
                                                      public=True).client.client_id
        self.users.append(username)
        browser = self.app.test_client()
        prefix = f"/t/{tenant_slug}" if tenant_slug else ""
        form = browser.get(f"{prefix}/login", headers=HTML).get_data(as_text=True)
        done = browser.post(f"{prefix}/login", headers=HTML, data={
            "username": username, "password": PASSWORD,
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form)[1]})
        assert done.status_code == 302 and "/login" not in done.headers["Location"], done.headers
        verifier = secrets.token_urlsafe(48)
        params = {"response_type": "code", "client_id": app_client, "redirect_uri": TOKEN_REDIRECT,
                  "scope": " ".join(scopes), "state": "matrix", "code_challenge_method": "S256",
                  "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                  .rstrip(b"=").decode()}
        page = browser.get(f"{prefix}/oauth/authorize", query_string=params, headers=HTML)
        assert page.status_code == 200, page.get_data(as_text=True)
        answer = browser.post(f"{prefix}/oauth/authorize", query_string=params, headers=HTML, data={
            "decision": "allow",
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]})
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        token = self.app.test_client().post("/oauth/token", data={
            "grant_type": "authorization_code", "client_id": app_client, "code": code, "code_verifier": verifier,
            "redirect_uri": TOKEN_REDIRECT})
        assert token.status_code == 200, token.json
        return token.json["access_token"]

    def clean_up(self) -> None:
        with shared_session() as shared, shared.begin():
            shared.execute(delete(User).where(User.username.in_(self.users)))


def scopes_of(context: Context) -> tuple[str, ...]:
    """The scopes a machine client of ``context`` can hold (user-only scopes go to apps people log in to)."""
    return tuple(s.code for s in Scope if s.context is context and not s.user_only)


#: The callers of the API matrix.
CALLERS = ("anonymous", "allowed", "without_scope", "other_tenant", "head_office", "regulator")


def _allowed_status(operation: Operation) -> int:
    """What a caller holding every scope of the operation's context gets with its sample ("allowed", else 200)."""
    sample = SAMPLES.get((operation.method, operation.path), {})
    return sample.get("allowed", 200) if isinstance(sample, dict) else 200


def call(http, tokens: Tokens, operation: Operation, caller: str, tenant_a, tenant_b) -> tuple[int | None, int]:
    """Call ``operation`` as ``caller``: (expected status, actual status); expected None when the caller
    cannot exist for this operation (a context with a single scope has no token lacking it)."""
    context = operation.context
    required = operation.scopes or ()
    # The allowed caller's own tenant, when it acts for one; the address the operation is called at.
    own = tenant_a.slug if context is Context.TENANT else None
    prefix = f"/t/{own}" if own else ""
    any_scope = required or scopes_of(context)[:1]
    headers: dict[str, str] = {}
    expected = 403
    if caller == "anonymous":
        expected = 401
    elif caller == "allowed":
        headers = tokens(context, own, any_scope)
        sample = SAMPLES.get((operation.method, operation.path), {})
        expected = sample.get("allowed", 200) if isinstance(sample, dict) else 200
        if (operation.method, operation.path) in PEOPLE_ONLY:
            expected = 403
    elif caller == "without_scope":
        lacking = tuple(code for code in scopes_of(context) if code != (required or ("",))[0])
        if not lacking:
            return None, 0
        headers = tokens(context, own, lacking)
        expected = 403 if required else 200
    elif caller == "other_tenant":
        # Another bank's token holding every scope: at a village bank's address, tenant B; at the head office's
        # or a regulator's, any village bank (tenant A) — a village bank's token never acts outside it.
        other = tenant_b.slug if own else tenant_a.slug
        headers = tokens(Context.TENANT, other, scopes_of(Context.TENANT))
    elif caller == "head_office":
        headers = tokens(Context.HEAD_OFFICE, None, scopes_of(Context.HEAD_OFFICE))
        expected = _allowed_status(operation) if context is Context.HEAD_OFFICE else 403
    elif caller == "regulator":
        headers = tokens(Context.REGULATOR, None, scopes_of(Context.REGULATOR))
        expected = _allowed_status(operation) if context is Context.REGULATOR else 403
    if operation.scopes is None:
        expected = 200
    sample = SAMPLES.get((operation.method, operation.path), {})
    if callable(sample):
        sample = sample(tenant_a)
    path = operation.path
    for name in re.findall(r"{(\w+)}", path):
        assert name in sample.get("path", {}), f"{operation}: declare a sample {name!r} in SAMPLES"
        path = path.replace(f"{{{name}}}", str(sample["path"][name]))
    body = {"data": sample["data"]} if "data" in sample else {"json": sample.get("json")}
    response = http.open(prefix + path, method=operation.method.upper(), headers=headers,
                         query_string=sample.get("query"), **body)
    # Success is any 2xx: 201 for a created resource, 204 for a deletion.
    actual = 200 if expected == 200 and 200 <= response.status_code < 300 else response.status_code
    return expected, actual


def run_matrix(app, tokens: Tokens, caller: str, tenant_a, tenant_b) -> list[str]:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    operations, _ = walk_openapi(spec)
    assert operations, "the OpenAPI walk found no operation: the matrix would pass vacuously"
    http = app.test_client()
    failures = []
    for operation in operations:
        expected, actual = call(http, tokens, operation, caller, tenant_a, tenant_b)
        if expected is not None and actual != expected:
            failures.append(f"{operation} as {caller}: expected {expected}, got {actual}")
    return failures


# --- a probe app: the real routes plus declared and undeclared ones of its own ----------------------------------


class LoanQueryArgsSchema(ma.Schema):
    currency = ma.fields.String(required=True)


probe = Blueprint("probe", __name__, url_prefix="/probe", description="Routes that exist only in this test.")
probe_head_office = Blueprint("probe_head_office", __name__, url_prefix="/probe/banks", tenant_required=False)
undeclared = Blueprint("undeclared", __name__, url_prefix="/probe/undeclared")
undeclared_pages = FlaskBlueprint("undeclared_pages", __name__)


@probe.route("/loans/<int:loan_id>")
class ProbeLoanByIdViews(MethodView):
    @probe.auth(Scope.LOANS_READ)
    @probe.arguments(LoanQueryArgsSchema, location="query")
    @probe.response(200)
    def get(self, args: dict[str, Any], loan_id: int) -> dict[str, Any]:
        """A tenant operation with a required argument: without a token it must be 401, never 422"""
        return {"loan_id": loan_id, **args}


@probe.route("/decisions")
class ProbeDecisionViews(MethodView):
    @probe.auth(Scope.APPLICATIONS_DECIDE)
    @probe.response(200)
    def post(self) -> dict[str, Any]:
        """A people-only operation: only a user's token may hold the scope, and the user must hold the permission"""
        authorize(Permission.APPLICATION_APPROVE)
        principal = CurrentPrincipal.get()
        return {"user": principal.username, "machine": principal.user_id is None}


@probe_head_office.route("")
class ProbeBankViews(MethodView):
    @probe_head_office.auth(Scope.TENANTS_READ)
    @probe_head_office.response(200)
    def get(self) -> dict[str, Any]:
        """A head-office operation"""
        return {"banks": []}


@undeclared.route("")
class UndeclaredViews(MethodView):
    @undeclared.response(200)
    def get(self) -> dict[str, Any]:
        """Declares no access: the walk must report it"""
        return {}


@undeclared_pages.get("/probe/undeclared-page")
def undeclared_page() -> str:
    return "nobody said who may see this"


@undeclared_pages.get("/probe/staff-page")
@login_required
def staff_page() -> str:
    return "staff only"


@pytest.fixture(scope="module", autouse=True)
def matrix_loan(tenant_a):
    """The loan the SAMPLES name, in tenant A (committed; made once per database), with one repayment to reverse."""
    import datetime as dt

    from creditfactory.db import tenant_session
    from creditfactory.lending.customers.models import Customer
    from creditfactory.lending.loans import services as loans
    from creditfactory.lending.loans.models import LoanAccount

    with SystemContext("test: matrix loan"), tenant_session(tenant_a) as session, session.begin():
        if session.query(LoanAccount).filter_by(reference="MATRIX-LOAN").first() is None:
            customer = Customer(kind="individual", name="矩阵")
            session.add(customer)
            session.flush()
            start = loans.current_business_date(session)
            loan = loans.open_loan(session, reference="MATRIX-LOAN", customer_id=customer.id, principal="1000.00",
                                   annual_rate="0.12", installments=[
                                       {"due_date": start + dt.timedelta(days=30), "principal": "1000.00",
                                        "interest": "10.00"}])
            loans.post_repayment(session, loan.id, "1.00", idempotency_key="matrix-repayment-0")


@pytest.fixture(scope="module")
def probe_app(cf_settings):
    app = create_app(cf_settings, testing=True)
    for blp in (probe, probe_head_office, undeclared):
        api_of(app).register_blueprint(blp)
    app.register_blueprint(undeclared_pages)
    return app


@pytest.fixture(scope="module")
def tokens(app):
    made = Tokens(app)
    yield made
    made.clean_up()


@pytest.fixture(scope="module", autouse=True)
def _lending_samples(cf_settings, tenant_a):
    """The rows SAMPLES name: the standard product templates, and tenant A's biz_operating product."""
    from pathlib import Path

    from creditfactory.lending.products import declared

    tenants_dir = Path(__file__).resolve().parents[1] / "tenants"
    with CurrentActor.bind(Actor(id="test:authorization", kind=ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(tenants_dir), tenants_dir)
        declared.apply_tenant_products(tenant_a.slug, [
            {"code": "biz_operating", "template": "biz_operating", "template_version": 1}])


@pytest.fixture(scope="module", autouse=True)
def lending_case(tenant_a, _lending_samples):
    """The application (INVESTIGATING, so a worksheet can be saved) and visit SAMPLES name, in tenant A, for its
    biz_operating product."""
    import datetime as dt
    from decimal import Decimal

    from creditfactory.db import tenant_session
    from creditfactory.lending.applications.models import LoanApplication
    from creditfactory.lending.customers.models import Customer
    from creditfactory.lending.investigation.models import (
        InvestigationAnalysis, InvestigationPhoto, InvestigationVisit, InvestigationWorksheet,
    )
    from creditfactory.lending.products.models import Product

    key = SAMPLE_CASE_ID
    with tenant_session(tenant_a) as session, session.begin():
        product_id = session.scalar(select(Product.id).where(Product.code == "biz_operating"))
        session.add(Customer(id=key, kind="individual", name="授权测试"))
        session.flush()
        session.add(LoanApplication(id=key, reference="AUTHZ-CASE", customer_id=key, product_id=product_id,
                                    amount=Decimal("10000"), term_months=12, channel="branch", state="INVESTIGATING"))
        session.flush()
        session.add(InvestigationVisit(id=key, application_id=key, officer="authz", recorded_by="authz", notes="",
                                       visited_at=dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)))
        session.add(InvestigationWorksheet(id=key, application_id=key, version=1, data={}, complete=False,
                                           investigator="authz"))
        session.flush()
        session.add(InvestigationAnalysis(worksheet_id=key, parameters={}, result={}, max_loan=Decimal(0),
                                          escalate=False))
    yield
    with tenant_session(tenant_a) as session, session.begin():
        worksheets = select(InvestigationWorksheet.id).where(InvestigationWorksheet.application_id == key)
        session.execute(delete(InvestigationAnalysis).where(InvestigationAnalysis.worksheet_id.in_(worksheets)))
        session.execute(delete(InvestigationWorksheet).where(InvestigationWorksheet.application_id == key))
        visits = select(InvestigationVisit.id).where(InvestigationVisit.application_id == key)
        session.execute(delete(InvestigationPhoto).where(InvestigationPhoto.visit_id.in_(visits)))
        session.execute(delete(InvestigationVisit).where(InvestigationVisit.application_id == key))
        session.execute(delete(LoanApplication).where(LoanApplication.id == key))
        session.execute(delete(Customer).where(Customer.id == key))


@pytest.fixture(autouse=True)
def _tokens_actor(tokens):
    # Tokens made during a test are audited; the module's actor names this suite rather than the first test.
    with CurrentActor.bind(Actor(id="test:authorization", kind=ActorKind.SYSTEM)):
        yield


# --- API ---------------------------------------------------------------------------------------------------------


def test_every_operation_declares_its_access(client):
    operations, problems = walk_openapi(client.get("/api/v1/openapi.json").get_json())
    assert not problems, "\n".join(problems)
    assert {str(op) for op in operations} >= {"GET /api/v1/me", "GET /api/v1/tenant"}


def test_the_walk_reports_an_undeclared_operation(probe_app):
    # Positive control of the check itself: a route with no declaration must not slip through.
    _, problems = walk_openapi(probe_app.test_client().get("/api/v1/openapi.json").get_json())
    assert problems == ["GET /api/v1/probe/undeclared: declares neither @blp.auth(...) nor @blp.public(reason)"]


def test_the_security_scheme_lists_every_scope_with_its_labels(client):
    scheme = client.get("/api/v1/openapi.json").get_json()["components"]["securitySchemes"][SECURITY_SCHEME]
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert flow["scopes"] == {s.code: f"{s.label_en} ({s.label_zh})" for s in Scope}


@pytest.mark.parametrize("caller", CALLERS)
def test_api_matrix(app, tokens, caller, tenant_a, tenant_b):
    failures = run_matrix(app, tokens, caller, tenant_a, tenant_b)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("caller", CALLERS)
def test_api_matrix_takes_in_new_routes(probe_app, tokens, caller, tenant_a, tenant_b):
    # The probe routes join the matrix with no line of this test naming them, head-office one included.
    operations, _ = walk_openapi(probe_app.test_client().get("/api/v1/openapi.json").get_json())
    assert {str(op) for op in operations} >= {"GET /api/v1/probe/loans/{loan_id}", "GET /api/v1/probe/banks",
                                              "POST /api/v1/probe/decisions"}
    failures = run_matrix(probe_app, tokens, caller, tenant_a, tenant_b)
    assert not failures, "\n".join(failures)


def test_people_only_scopes_get_a_user_token(probe_app, tokens, tenant_a):
    url = f"/t/{tenant_a.slug}/api/v1/probe/decisions"
    answer = probe_app.test_client().post(url, headers=tokens(Context.TENANT, tenant_a.slug, ("applications:decide",)))
    assert answer.status_code == 200, answer.json
    assert answer.json["machine"] is False and answer.json["user"].startswith("u")
    # A machine client can never be registered with a people-only scope.
    with SystemContext("test"), shared_session() as session, pytest.raises(Exception):
        oauth_services.create_client(session, "机器", "applications:decide", tenant_slug=tenant_a.slug)


def test_auth_is_checked_before_arguments(probe_app, tokens, tenant_a):
    http = probe_app.test_client()
    url = f"/t/{tenant_a.slug}/api/v1/probe/loans/7"
    assert http.get(url).status_code == 401
    allowed = tokens(Context.TENANT, tenant_a.slug, ("loans:read",))
    assert http.get(url, headers=allowed).status_code == 422
    assert http.get(url, headers=allowed, query_string={"currency": "CNY"}).json == {"loan_id": 7, "currency": "CNY"}


def test_auth_below_argument_parsing_is_refused_at_import():
    blp = Blueprint("misordered", __name__)
    with pytest.raises(TypeError, match="401 before"):
        @blp.arguments(LoanQueryArgsSchema, location="query")
        @blp.auth(Scope.LOANS_READ)
        def get(args):
            return args
    with pytest.raises(TypeError, match="twice"):
        @blp.public("reason")
        @blp.auth(Scope.LOANS_READ)
        def twice():
            return {}
    with pytest.raises(ValueError):
        blp.public(" ")
    with pytest.raises(TypeError):
        blp.auth("loans:read")


# --- portal pages ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staff(app, tenant_a, tenant_b):
    """Logged-in test clients: a loan officer of tenant A and one of tenant B."""
    made = []
    clients = {}
    with CurrentActor.bind(Actor(id="test:authorization", kind=ActorKind.SYSTEM)):
        for tenant in (tenant_a, tenant_b):
            username = f"u{uuid.uuid4().hex[:10]}"
            with SystemContext("test: staff users"), shared_session() as shared, shared.begin():
                identity_services.create_user(shared, username, "李娜", password=PASSWORD)
                identity_services.grant(shared, username, "loan_officer", tenant.slug)
            made.append(username)
            http = app.test_client()
            page = http.get(f"/t/{tenant.slug}/login", headers=HTML).get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
            done = http.post(f"/t/{tenant.slug}/login", headers=HTML,
                             data={"username": username, "password": PASSWORD, "csrf_token": token})
            assert done.status_code == 302, done.get_data(as_text=True)
            clients[tenant.slug] = http
    yield clients
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_(made)))


def page_url(app, endpoint: str, prefix: str, tenant=None) -> str:
    rule = next(app.url_map.iter_rules(endpoint))
    url = rule.rule
    sample = PAGE_SAMPLES.get(endpoint, {})
    if callable(sample):
        sample = sample(tenant)
    for name in rule.arguments:
        assert name in sample, f"{endpoint}: declare a sample {name!r} in PAGE_SAMPLES"
        url = re.sub(rf"<(?:\w+:)?{name}>", str(sample[name]), url)
    return prefix + url


def served(response, prefix: str) -> bool:
    """A page was served: 200, or a redirect that is not to the login page (a language switch, a logged-in
    user sent from the login form to their profile)."""
    if response.status_code == 200:
        return True
    return response.status_code == 302 and not response.headers["Location"].startswith(f"{prefix}/login")


def test_every_page_declares_its_access(app):
    pages, problems = walk_pages(app)
    assert not problems, "\n".join(problems)
    assert {"portal.home", "account.login", "account.profile", "api-docs.openapi_json"} <= {e for e, _ in pages}


def test_the_page_walk_reports_an_undeclared_page(probe_app):
    pages, problems = walk_pages(probe_app)
    assert problems == ["undeclared_pages.undeclared_page (/probe/undeclared-page): declares neither "
                        "@public(reason) nor @login_required"]
    assert ("undeclared_pages.staff_page", access_of(staff_page)) in pages


@pytest.fixture(scope="module")
def page_queries(tenant_a):
    """Query strings without which a page answers 400 rather than serving: the authorization endpoint needs a
    valid request of an app registered for tenant A."""
    with SystemContext("test: app client"), shared_session() as shared, shared.begin():
        field_app = oauth_services.create_client(shared, "外勤App", "loans:read", tenant_slug=tenant_a.slug,
                                                 redirect_uris=("https://field.example/cb",), public=True).client
    return {"oauth.authorize": {"response_type": "code", "client_id": field_app.client_id,
                                "redirect_uri": "https://field.example/cb", "code_challenge_method": "S256",
                                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}


@pytest.mark.parametrize("caller", ["anonymous", "same_tenant", "other_tenant"])
def test_page_matrix(app, staff, page_queries, caller, tenant_a, tenant_b):
    prefix = f"/t/{tenant_a.slug}"
    pages, _ = walk_pages(app)
    failures = []
    for endpoint, access in pages:
        url = page_url(app, endpoint, prefix, tenant_a)
        if endpoint in page_queries:
            url += "?" + urlencode(page_queries[endpoint])
        if caller == "anonymous":
            response = app.test_client().get(url, headers=HTML)
            ok = served(response, prefix) if access.public else (
                response.status_code == 302 and response.headers["Location"].startswith(f"{prefix}/login?next="))
        elif caller == "same_tenant":
            response = staff[tenant_a.slug].get(url, headers=HTML)
            # A page that needs a permission the loan officer lacks refuses them; its positive control (a holder of
            # the permission is served) is tests/test_identity_admin.py::test_every_permission_page_serves_a_holder.
            refused = access.permission is not None and access.permission not in OFFICER_PERMISSIONS
            expected = 403 if refused else PAGE_STATUS.get(endpoint, 200)
            ok = served(response, prefix) if access.public else response.status_code == expected
        else:
            response = staff[tenant_b.slug].get(url, headers=HTML)
            # A session never acts at another bank's address; the orchestrator's probes carry no data.
            ok = served(response, prefix) if endpoint in sessions.UNSCOPED_ENDPOINTS else response.status_code == 403
        if not ok:
            failures.append(f"{endpoint} {url} as {caller} ({'public' if access.public else 'login'}): "
                            f"{response.status_code} {response.headers.get('Location', '')}")
    assert not failures, "\n".join(failures)
