"""Calculator and investigation API against real PostgreSQL: schedules, live analysis, versioned worksheets,
visits and photos, the investigator recorded, refusals."""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.permissions import Permission
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.investigation import services
from creditfactory.lending.investigation.models import InvestigationAnalysis, InvestigationWorksheet
from creditfactory.lending.products.models import Product
from creditfactory.errors import Conflict

from test_investigation_analysis import ALL_GOOD, VISIT, WORKSHEET


def bearer(app, tenant, scopes: str) -> dict[str, str]:
    with SystemContext("test: investigation api"), shared_session() as session, session.begin():
        issued = oauth_services.create_client(session, "调查测试", scopes, context=Context.TENANT,
                                              tenant_slug=tenant.slug)
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                      headers={"Authorization": f"Basic {basic}"})
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def make_application(tenant, state: str = "INVESTIGATING") -> int:
    """A committed product, customer and application in ``tenant`` (the applications helper owns the real intake)."""
    with CurrentActor.bind(Actor(id="test:investigation", kind=ActorKind.SYSTEM)), \
            tenant_session(tenant) as session, session.begin():
        product = Product(code=f"P{uuid.uuid4().hex[:8]}", version=1, name_zh="经营贷", name_en="Business loan")
        customer = Customer(kind="individual", name="王芳")
        session.add_all([product, customer])
        session.flush()
        application = LoanApplication(reference=f"A{uuid.uuid4().hex[:12]}", customer_id=customer.id,
                                      product_id=product.id, amount=Decimal("20000"), term_months=12,
                                      channel="branch", state=state)
        session.add(application)
        session.flush()
        return application.id


@pytest.fixture(scope="module")
def officer(app, tenant_a):
    return bearer(app, tenant_a, "applications:investigate applications:read")


def test_calculator_schedule(app, tenant_a):
    headers = bearer(app, tenant_a, "products:read")
    body = {"method": "equal_installment", "principal": "100000", "annual_rate": "0.0612", "months": 12,
            "start": "2026-01-15"}
    response = app.test_client().post(f"/t/{tenant_a.slug}/api/v1/calculator/schedule", json=body, headers=headers)
    assert response.status_code == 200, response.json
    data = response.json
    assert data["periods"][0] == {"number": 1, "due_date": "2026-02-15", "days": 31, "principal": "8102.16",
                                  "interest": "510.00", "total": "8612.16", "balance": "91897.84"}
    assert data["totals"] == {"principal": "100000.00", "interest": "3345.92", "total": "103345.92"}
    revolving = {**body, "method": "revolving", "months": 3,
                 "events": [{"on": "2026-01-20", "amount": "50000"}, {"on": "2026-03-01", "amount": "-20000"}]}
    response = app.test_client().post(f"/t/{tenant_a.slug}/api/v1/calculator/schedule", json=revolving,
                                      headers=headers)
    assert response.json["totals"]["interest"] == "569.50"
    bad = app.test_client().post(f"/t/{tenant_a.slug}/api/v1/calculator/schedule",
                                 json={**body, "annual_rate": "6.12"}, headers=headers)
    assert bad.status_code == 422 and "annual rate must be a fraction" in bad.json["detail"]


def test_live_analysis_saves_nothing(app, tenant_a, officer):
    application_id = make_application(tenant_a)
    url = f"/t/{tenant_a.slug}/api/v1/investigations/{application_id}"
    response = app.test_client().post(f"{url}/analysis", json={"worksheet": WORKSHEET, "visit_date": "2026-01-10"},
                                      headers=officer)
    assert response.status_code == 200, response.json
    assert response.json["max_loan"] == "26706.42"
    checks = {c["type"]: c for c in response.json["cross_checks"]}
    assert checks["EQUITY_CHECK"] == {
        "type": "EQUITY_CHECK", "stated": "100000.00", "derived": "90000.00", "deviation": "0.1111", "tolerance": "0.10",
        "passed": False, "explanation": checks["EQUITY_CHECK"]["explanation"]}
    assert app.test_client().get(f"{url}/worksheet", headers=officer).status_code == 404
    bad = app.test_client().post(f"{url}/analysis", headers=officer,
                                 json={"worksheet": {"business_balance_sheet": {"cash_on_hand": "x"}}})
    assert bad.status_code == 422 and "cash_on_hand must be a number" in bad.json["detail"]
    missing = app.test_client().post(f"/t/{tenant_a.slug}/api/v1/investigations/99999999/analysis", headers=officer,
                                     json={"worksheet": WORKSHEET})
    assert missing.status_code == 404


def test_save_worksheet_versions_and_snapshot(app, tenant_a, officer):
    application_id = make_application(tenant_a)
    url = f"/t/{tenant_a.slug}/api/v1/investigations/{application_id}/worksheet"
    partial = {**WORKSHEET, "soft_answers": {"health": "good"}}
    first = app.test_client().put(url, json={"worksheet": partial, "visit_date": "2026-01-10"}, headers=officer)
    assert first.status_code == 200, first.json
    assert (first.json["version"], first.json["complete"], first.json["advanced"]) == (1, False, False)
    second = app.test_client().put(url, json={"worksheet": WORKSHEET, "base_version": 1}, headers=officer)
    assert (second.json["version"], second.json["complete"], second.json["advanced"]) == (2, True, True)
    assert second.json["parameters"]["repayment_capacity_max"] == "0.70"
    # The complete worksheet moved the case on to ANALYSED (origination), so no later save is accepted.
    stale = app.test_client().put(url, json={"worksheet": WORKSHEET, "base_version": 1}, headers=officer)
    assert stale.status_code == 409 and "ANALYSED" in stale.json["detail"]
    got = app.test_client().get(url, headers=officer).json
    assert got["version"] == 2 and got["analysis"]["max_loan"] == "26706.42" and got["data"] == WORKSHEET
    with tenant_session(tenant_a) as session:
        rows = session.scalars(select(InvestigationWorksheet).where(
            InvestigationWorksheet.application_id == application_id)).all()
        assert [r.version for r in rows] == [1, 2]
        assert rows[0].investigator.startswith("cf_") or rows[0].investigator  # the machine client acting
        snapshot = session.scalar(select(InvestigationAnalysis).where(InvestigationAnalysis.worksheet_id == rows[1].id))
        assert snapshot.max_loan == Decimal("26706.42") and snapshot.escalate


def test_save_refused_outside_investigating(app, tenant_a, officer):
    application_id = make_application(tenant_a, state="IN_REVIEW")
    response = app.test_client().put(f"/t/{tenant_a.slug}/api/v1/investigations/{application_id}/worksheet",
                                     json={"worksheet": WORKSHEET}, headers=officer)
    assert response.status_code == 409 and "IN_REVIEW" in response.json["detail"]


def test_save_worksheet_advances_a_complete_case(tenant_a, make_user, tenant_db):
    """save_worksheet calls the applications capability's transition when (and only when) the sheet is complete."""
    session = tenant_db(tenant_a)
    product = Product(code="PX", version=1, name_zh="经营贷", name_en="Business loan")
    customer = Customer(kind="individual", name="王芳")
    session.add_all([product, customer])
    session.flush()
    application = LoanApplication(reference="AX1", customer_id=customer.id, product_id=product.id,
                                  amount=Decimal("20000"), term_months=12, channel="branch", state="INVESTIGATING")
    session.add(application)
    session.flush()
    moved = []

    def advance(s, app_row):
        app_row.state = "ANALYSED"
        moved.append(app_row.id)

    principal = Principal(user_id=42, username="li.na", context=Context.TENANT, tenant_slug=tenant_a.slug,
                          permissions=frozenset({Permission.APPLICATION_INVESTIGATE, Permission.APPLICATION_READ}),
                          roles=frozenset({"loan_officer"}))
    from creditfactory.db import CurrentTenant
    with CurrentTenant.bind(tenant_a), CurrentPrincipal.bind(principal), \
            CurrentActor.bind(Actor(id="42", kind=ActorKind.USER, display="li.na")):
        saved = services.save_worksheet(session, application.id, {**WORKSHEET, "soft_answers": {"health": "good"}},
                                        visit_date=VISIT, advance=advance)
        assert not saved.advanced and moved == []
        saved = services.save_worksheet(session, application.id, WORKSHEET, visit_date=VISIT, advance=advance)
        assert saved.advanced and moved == [application.id] and application.state == "ANALYSED"
        assert (saved.worksheet.investigator_id, saved.worksheet.investigator) == (42, "li.na")
        with pytest.raises(Conflict, match="ANALYSED"):
            services.save_worksheet(session, application.id, WORKSHEET, visit_date=VISIT)


def test_visits_and_photos(app, tenant_a, officer):
    application_id = make_application(tenant_a)
    url = f"/t/{tenant_a.slug}/api/v1/investigations/{application_id}/visits"
    visit = app.test_client().post(url, headers=officer, json={
        "visited_at": "2026-01-10T09:30:00+08:00", "latitude": "22.777321", "longitude": "100.977812",
        "location_accuracy_m": 12, "notes": "店面在农贸市场东门，库存充足", "second_officer": "zhang.wei"})
    assert visit.status_code == 200, visit.json
    assert visit.json["latitude"] == "22.777321" and visit.json["second_officer"] == "zhang.wei"
    assert [v["id"] for v in app.test_client().get(url, headers=officer).json] == [visit.json["id"]]
    photo = {"sha256": hashlib.sha256(b"shop front").hexdigest(), "content_type": "image/jpeg",
             "size_bytes": 123456, "subject": "premises", "caption": "门面"}
    photos_url = f"/t/{tenant_a.slug}/api/v1/investigations/visits/{visit.json['id']}/photos"
    first = app.test_client().post(photos_url, headers=officer, json=photo)
    again = app.test_client().post(photos_url, headers=officer, json=photo)
    assert first.status_code == again.status_code == 200 and first.json["id"] == again.json["id"]
    assert len(app.test_client().get(photos_url, headers=officer).json) == 1
    for change, message in [({"sha256": "abc"}, "64 lowercase"), ({"content_type": "application/pdf"}, "image")]:
        bad = app.test_client().post(photos_url, headers=officer, json={**photo, **change})
        assert bad.status_code == 422 and message in bad.json["detail"]
    bad = app.test_client().post(url, headers=officer, json={"visited_at": "2026-01-10T09:30:00+08:00",
                                                             "latitude": "95", "longitude": "100"})
    assert bad.status_code == 422 and "latitude" in bad.json["detail"]


def test_scopes_enforced(app, tenant_a, tenant_b):
    application_id = make_application(tenant_a)
    reader = bearer(app, tenant_a, "applications:read")
    url = f"/t/{tenant_a.slug}/api/v1/investigations/{application_id}"
    assert app.test_client().put(f"{url}/worksheet", json={"worksheet": WORKSHEET}, headers=reader).status_code == 403
    assert app.test_client().post(f"{url}/analysis", json={"worksheet": WORKSHEET}, headers=reader).status_code == 403
    other = bearer(app, tenant_b, "applications:investigate")
    # Tenant B's token at tenant A's address is refused; at its own address the application does not exist.
    assert app.test_client().post(f"{url}/analysis", json={"worksheet": WORKSHEET}, headers=other).status_code == 403
    response = app.test_client().post(f"/t/{tenant_b.slug}/api/v1/investigations/{application_id}/analysis",
                                      json={"worksheet": WORKSHEET}, headers=other)
    assert response.status_code == 404
