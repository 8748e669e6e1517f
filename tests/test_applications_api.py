"""Applications API with users' tokens from the real authorization-code flow (people-only scope applications:decide):
intake with Idempotency-Key (also concurrent), queues, transitions, a single approver, a committee session."""

from __future__ import annotations

import secrets
import threading
import uuid

import pytest
from sqlalchemy import delete

from applications_support import acting, bureau_consent, customer_and_product, principal
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.decisions.models import DecisionRecord
from creditfactory.identity import changes
from creditfactory.identity.models import ChangeRequest
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.lending.applications import authority, services
from creditfactory.lending.applications.models import (ApplicationDecision, ApplicationIdempotencyKey,
                                                       ApplicationStateHistory, ApprovalAuthority, CommitteeCase,
                                                       CommitteeMember, CommitteeSession, CommitteeVote,
                                                       LoanApplication)
from creditfactory.lending.applications.states import Event, transition
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.products.models import Product
from creditfactory.testing.staff import log_in
from test_oauth_authcode import REDIRECT, auth_params, code_of, consent, exchange

SCOPES = "applications:read applications:write applications:investigate applications:decide config:write"


@pytest.fixture(scope="module")
def staff_app(tenant_a):
    with SystemContext("test: applications app"), shared_session() as shared, shared.begin():
        issued = oauth_services.create_client(shared, "信贷工厂App", SCOPES, tenant_slug=tenant_a.slug,
                                              redirect_uris=(REDIRECT,), public=True)
    return issued.client.client_id


@pytest.fixture
def token_of(app, tenant_a, staff_app, make_user):
    """``token_of(role)``: (headers with a user's bearer token from the authorization-code flow, principal)."""
    def make(role):
        username = make_user(role, tenant_a)
        http = app.test_client()
        assert log_in(http, f"/t/{tenant_a.slug}", username).status_code == 302
        verifier = secrets.token_urlsafe(48)
        _, answer = consent(http, tenant_a, auth_params(staff_app, verifier, scope=SCOPES))
        response = exchange(app, staff_app, code_of(answer), verifier)
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}, principal(username, tenant_a, role)
    return make


@pytest.fixture
def world(tenant_a):
    """A committed customer and product; every application, decision and session made on them removed after."""
    code = f"biz_{uuid.uuid4().hex[:8]}"
    with tenant_session(tenant_a) as db, db.begin():
        customer_id, product_id = customer_and_product(db, code)
        bureau_consent(db, customer_id)
    yield {"customer_id": customer_id, "product_id": product_id, "code": code}
    with tenant_session(tenant_a) as db, db.begin():
        ids = [a for (a,) in db.query(LoanApplication.id).filter(LoanApplication.customer_id == customer_id)]
        sessions = [s for (s,) in db.query(CommitteeCase.session_id).filter(CommitteeCase.application_id.in_(ids))]
        for model, column in ((CommitteeVote, CommitteeVote.application_id), (CommitteeCase, CommitteeCase.application_id),
                              (ApplicationDecision, ApplicationDecision.application_id),
                              (ApplicationIdempotencyKey, ApplicationIdempotencyKey.application_id),
                              (ApplicationStateHistory, ApplicationStateHistory.application_id),
                              (DecisionRecord, DecisionRecord.application_id)):
            db.execute(delete(model).where(column.in_(ids)))
        db.execute(delete(CommitteeMember).where(CommitteeMember.session_id.in_(sessions)))
        db.execute(delete(CommitteeSession).where(CommitteeSession.id.in_(sessions)))
        db.execute(delete(LoanApplication).where(LoanApplication.id.in_(ids)))
        db.execute(delete(ApprovalAuthority).where(ApprovalAuthority.product_code == code))
        db.execute(delete(ChangeRequest).where(ChangeRequest.kind == authority.SET, ChangeRequest.target.endswith(f":{code}")))
        db.execute(delete(Customer).where(Customer.id == customer_id))
        db.execute(delete(Product).where(Product.id == product_id))


def url(tenant, path):
    return f"/t/{tenant.slug}/api/v1{path}"


def body_of(world, **overrides):
    return {"customer_id": world["customer_id"], "product_id": world["product_id"], "amount": "30000.00",
            "term_months": 12, "channel": "field_app", **overrides}


def test_create_is_idempotent_and_needs_the_key(client, tenant_a, token_of, world):
    headers, officer = token_of("loan_officer")
    path = url(tenant_a, "/applications")
    missing = client.post(path, json=body_of(world), headers=headers)
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json["detail"]
    first = client.post(path, json=body_of(world), headers={**headers, "Idempotency-Key": "a-1"})
    assert first.status_code == 201, first.json
    assert first.json["officer_id"] == officer.user_id and first.json["reference"].startswith("LA")
    again = client.post(path, json=body_of(world), headers={**headers, "Idempotency-Key": "a-1"})
    assert (again.status_code, again.json) == (201, first.json)
    other = client.post(path, json=body_of(world, amount="31000"), headers={**headers, "Idempotency-Key": "a-1"})
    assert other.status_code == 422 and "another request body" in other.json["detail"]
    listed = client.get(path, headers=headers, query_string={"queue": "mine"}).json
    assert [a["id"] for a in listed if a["customer_id"] == world["customer_id"]] == [first.json["id"]]


def test_concurrent_http_retries_create_once(app, tenant_a, token_of, world):
    headers, _ = token_of("loan_officer")
    headers = {**headers, "Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    barrier, answers = threading.Barrier(5), []

    def retry():
        http = app.test_client()
        barrier.wait()
        response = http.post(url(tenant_a, "/applications"), json=body_of(world), headers=headers)
        answers.append((response.status_code, response.json))

    threads = [threading.Thread(target=retry) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1


def analyse(tenant, officer, application_id):
    # The IPC worksheet (another capability) fires ANALYSE when it is saved; here the officer's session does.
    with tenant_session(tenant) as db, db.begin(), acting(officer, tenant):
        transition(db, db.get(LoanApplication, application_id), Event.ANALYSE, reason="worksheet saved")


def to_review(client, tenant, headers, officer, world, **overrides):
    created = client.post(url(tenant, "/applications"), json=body_of(world, **overrides),
                          headers={**headers, "Idempotency-Key": uuid.uuid4().hex}).json
    app_id = created["id"]
    assert client.post(url(tenant, f"/applications/{app_id}/prescreen"), json={"passed": True},
                       headers=headers).status_code == 200
    assert client.post(url(tenant, f"/applications/{app_id}/visit"), json={}, headers=headers).status_code == 200
    analyse(tenant, officer, app_id)
    submitted = client.post(url(tenant, f"/applications/{app_id}/submit"), json={}, headers=headers)
    assert submitted.status_code == 200 and submitted.json["state"] == "IN_REVIEW"
    return app_id


def test_prescreen_without_the_bureau_consent_is_refused_naming_it(client, tenant_a, token_of):
    headers, _ = token_of("loan_officer")
    with tenant_session(tenant_a) as db, db.begin():
        customer_id, product_id = customer_and_product(db)
    created = client.post(url(tenant_a, "/applications"), headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                          json={"customer_id": customer_id, "product_id": product_id, "amount": "10000",
                                "term_months": 12, "channel": "branch"}).json
    refused = client.post(url(tenant_a, f"/applications/{created['id']}/prescreen"),
                          json={"passed": True, "reason": "consents captured"}, headers=headers)
    assert refused.status_code == 422
    assert "bureau_query" in refused.json["detail"] and "has given no consent" in refused.json["detail"]
    case = client.get(url(tenant_a, f"/applications/{created['id']}"), headers=headers).json
    assert case["state"] == "APPLIED" and [h["to_state"] for h in case["history"]] == ["APPLIED"]


def set_authority(tenant, token_of, make_user, client, role, product, amount, term):
    maker_headers, _ = token_of("risk_manager")
    proposed = client.post(url(tenant, "/approval-authority"), headers=maker_headers,
                           json={"role": role, "product_code": product, "max_amount": amount, "max_term_months": term})
    assert proposed.status_code == 201, proposed.json
    with tenant_session(tenant) as db, db.begin(), acting(principal(make_user("tenant_admin", tenant), tenant, "tenant_admin"), tenant):
        changes.approve(db, proposed.json["id"])


def test_intake_to_single_approver(client, tenant_a, token_of, make_user, world):
    headers, officer = token_of("loan_officer")
    set_authority(tenant_a, token_of, make_user, client, "approver", world["code"], "50000", 12)
    app_id = to_review(client, tenant_a, headers, officer, world)
    queue = client.get(url(tenant_a, "/applications"), headers=headers, query_string={"queue": "review"}).json
    assert app_id in [a["id"] for a in queue]
    # The officer investigated: refused even with the decide scope (the role lacks approval anyway).
    assert client.post(url(tenant_a, f"/applications/{app_id}/decision"), headers=headers,
                       json={"decision": "approve", "reasons": "mine"}).status_code == 403
    approver_headers, approver = token_of("approver")
    decided = client.post(url(tenant_a, f"/applications/{app_id}/decision"), headers=approver_headers,
                          json={"decision": "approve", "reasons": "repayment capacity 45%"})
    assert decided.status_code == 200, decided.json
    case = client.get(url(tenant_a, f"/applications/{app_id}"), headers=headers).json
    assert case["state"] == "APPROVED"
    assert [h["to_state"] for h in case["history"]] == ["APPLIED", "PRE_SCREENED", "INVESTIGATING", "ANALYSED",
                                                        "IN_REVIEW", "APPROVED"]
    assert case["decisions"][0]["decided_by"] == approver.user_id
    assert case["decisions"][0]["reasons"] == "repayment capacity 45%"
    assert case["turnaround"]["intake_to_decision_seconds"] is not None
    again = client.post(url(tenant_a, f"/applications/{app_id}/decision"), headers=approver_headers,
                        json={"decision": "reject", "reasons": "x"})
    assert again.status_code == 409 and "APPROVED" in again.json["detail"]


def test_committee_session_through_the_api(client, tenant_a, token_of, world):
    headers, officer = token_of("loan_officer")
    app_id = to_review(client, tenant_a, headers, officer, world, amount="300000", term_months=36)
    reviewer_headers, _ = token_of("reviewer")
    members = [token_of("credit_committee_member") for _ in range(3)]
    created = client.post(url(tenant_a, "/committee-sessions"), headers=members[0][0],
                          json={"meeting_date": "2026-12-01", "member_ids": [m[1].user_id for m in members]})
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    added = client.post(url(tenant_a, f"/committee-sessions/{sid}/cases"), headers=reviewer_headers,
                        json={"application_id": app_id})
    assert added.status_code == 200, added.json
    for (member_headers, _), (choice, comment, conditions) in zip(members, (
            ("approve_with_conditions", "", ["collateral: truck"]), ("approve", "", []), ("reject", "too long", []))):
        voted = client.post(url(tenant_a, f"/committee-sessions/{sid}/votes"), headers=member_headers,
                            json={"application_id": app_id, "vote": choice, "comment": comment,
                                  "conditions": conditions})
        assert voted.status_code == 200, voted.json
    closed = client.post(url(tenant_a, f"/committee-sessions/{sid}/close"), headers=members[0][0],
                         json={"minutes": "heard 1 case"})
    assert closed.status_code == 200, closed.json
    [case] = closed.json["cases"]
    assert case["decision"] == "approve_with_conditions" and case["conditions"] == ["collateral: truck"]
    assert case["dissent"] == [members[2][1].user_id] and len(case["votes"]) == 3
    detail = client.get(url(tenant_a, f"/applications/{app_id}"), headers=headers).json
    assert detail["state"] == "APPROVED_WITH_CONDITIONS"
    assert detail["decisions"][-1]["by_committee"] == sid


def test_return_and_cancel(client, tenant_a, token_of, world):
    headers, officer = token_of("loan_officer")
    app_id = to_review(client, tenant_a, headers, officer, world)
    reviewer_headers, _ = token_of("reviewer")
    returned = client.post(url(tenant_a, f"/applications/{app_id}/return"), headers=reviewer_headers,
                           json={"reason": "verify stock"})
    assert returned.status_code == 200 and returned.json["state"] == "INVESTIGATING"
    cancelled = client.post(url(tenant_a, f"/applications/{app_id}/cancel"), headers=headers,
                            json={"reason": "customer withdrew"})
    assert cancelled.status_code == 200 and cancelled.json["state"] == "CANCELLED"
    refused = client.post(url(tenant_a, f"/applications/{app_id}/submit"), headers=headers, json={})
    assert refused.status_code == 409 and "submit" in refused.json["detail"] and "CANCELLED" in refused.json["detail"]
