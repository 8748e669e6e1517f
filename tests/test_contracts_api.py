"""The contracts and disbursement API with real user tokens: prepare → sign every party → upload the recording →
QC by a second person → disbursement with Idempotency-Key (replayed) → send → settled twice → loan active."""

from __future__ import annotations

import secrets

import pytest

from applications_support import principal
from contracts_support import MP4, approved_application
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.lending.customers import services as customers
from creditfactory.testing.staff import log_in
from applications_support import acting
from contracts_support import PDF_EVIDENCE
from test_oauth_authcode import REDIRECT, auth_params, code_of, consent, exchange

SCOPES = "applications:read loans:read loans:write customers:read"


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory()


@pytest.fixture(scope="module")
def client_id(bank):
    with SystemContext("test: contracts app"), shared_session() as shared, shared.begin():
        return oauth_services.create_client(shared, "放款App", SCOPES, tenant_slug=bank.slug,
                                            redirect_uris=(REDIRECT,), public=True).client.client_id


@pytest.fixture
def token_of(app, bank, client_id, make_user):
    def make(role):
        username = make_user(role, bank)
        http = app.test_client()
        assert log_in(http, f"/t/{bank.slug}", username).status_code == 302
        verifier = secrets.token_urlsafe(48)
        _, answer = consent(http, bank, auth_params(client_id, verifier, scope=SCOPES))
        response = exchange(app, client_id, code_of(answer), verifier)
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}, principal(username, bank, role)
    return make


def test_approved_to_disbursed_through_the_api(client, bank, token_of, make_user):
    clerk, _ = token_of("operations")
    reviewer, _ = token_of("operations")
    with tenant_session(bank) as db, db.begin():
        application = approved_application(db)
        application_id, customer_id = application.id, application.customer_id
        with acting(principal(make_user("loan_officer", bank), bank, "loan_officer"), bank):
            evidence_id = customers.upload_document(db, customer_id, doc_type="contract", filename="采购合同.pdf",
                                                    data=PDF_EVIDENCE).id
    api = f"/t/{bank.slug}/api/v1"
    prepared = client.post(f"{api}/contracts/applications/{application_id}", headers=clerk,
                           json={"annual_rate": "0.12", "repayment_method": "equal_principal"})
    assert prepared.status_code == 201, prepared.json
    contract = prepared.json
    assert [p["role"] for p in contract["parties"]] == ["borrower", "guarantor", "lender"]
    pdf = client.get(f"{api}/contracts/{contract['id']}/pdf", headers=clerk)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    for party in contract["parties"]:
        signed = client.post(f"{api}/contracts/{contract['id']}/signatures", headers=clerk,
                             json={"party_id": party["id"]})
        assert signed.status_code == 201, signed.json
    assert signed.json["status"] == "SIGNED" and all(s["verified"] for s in signed.json["signatures"])
    import io
    recorded = client.post(f"{api}/contracts/{contract['id']}/recording", headers=clerk,
                           content_type="multipart/form-data",
                           data={"media": (io.BytesIO(MP4), "signing.mp4"), "started_at": "2026-03-01T09:00:00+08:00",
                                 "ended_at": "2026-03-01T09:10:00+08:00", "script_version": "loan-v1",
                                 "risk_disclosures_read": "rate,penalty", "customer_confirmations": "我已知晓"})
    assert recorded.status_code == 201, recorded.json
    assert client.post(f"{api}/contracts/recordings/{recorded.json['id']}/qc", headers=clerk,
                       json={"passed": True}).status_code == 409  # the recorder cannot review it
    passed = client.post(f"{api}/contracts/recordings/{recorded.json['id']}/qc", headers=reviewer,
                         json={"passed": True})
    assert passed.status_code == 200 and passed.json["qc_status"] == "PASSED"
    assert client.get(f"{api}/contracts/{contract['id']}", headers=clerk).json["disbursement_problems"] == []

    body = {"contract_id": contract["id"], "payee_name": "县农资公司", "payee_account": "6222020200112233",
            "evidence_document_ids": [evidence_id]}
    created = client.post(f"{api}/disbursements", headers={**clerk, "Idempotency-Key": "api-d-1"}, json=body)
    assert created.status_code == 201, created.json
    again = client.post(f"{api}/disbursements", headers={**clerk, "Idempotency-Key": "api-d-1"}, json=body)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == created.json["id"]
    d = created.json["id"]
    assert client.post(f"{api}/disbursements/{d}/send", headers=clerk).json["status"] == "SENT"
    for _ in range(2):
        settled = client.post(f"{api}/disbursements/{d}/settled", headers=clerk, json={"core_banking_ref": "CB-1"})
        assert settled.status_code == 200 and settled.json["status"] == "SETTLED"
    loan = client.get(f"{api}/loans/{contract['reference'].removeprefix('HT-')}", headers=clerk)
    assert loan.status_code == 200 and loan.json["state"] == "active" and loan.json["principal_amount"] == "12000.00"


def test_the_contract_page_shows_the_conditions_of_the_approval(app, bank, make_user):
    """An application approved with conditions: the back office sees them where it prepares the contract."""
    from sqlalchemy import update

    from creditfactory.lending.applications.models import ApplicationDecision, LoanApplication
    from applications_support import user_id_of
    from creditfactory.testing.staff import HTML

    approver = user_id_of(make_user("approver", bank))
    with tenant_session(bank) as db, db.begin():
        application = approved_application(db)
        db.add(ApplicationDecision(application_id=application.id, decision="approve_with_conditions",
                                   decided_by=approver, reasons="approved", conditions=["配偶共同签字", "每月报送进货单据"]))
        db.execute(update(LoanApplication).where(LoanApplication.id == application.id)
                   .values(state="APPROVED_WITH_CONDITIONS"))
        application_id = application.id
    http = app.test_client()
    assert log_in(http, f"/t/{bank.slug}", make_user("operations", bank)).status_code == 302
    page = http.get(f"/t/{bank.slug}/back-office/contracts/{application_id}", headers=HTML).get_data(as_text=True)
    assert 'id="conditions"' in page and "<li>配偶共同签字</li>" in page and "<li>每月报送进货单据</li>" in page
