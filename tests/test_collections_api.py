"""Working a collection case and a prepayment through the API with real client-credentials tokens."""

from __future__ import annotations

import base64

import pytest

from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context

from servicing_helpers import close_days, open_standard


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(business_date="2026-01-01")
    with SystemContext("test"), tenant_session(tenant) as s, s.begin():
        open_standard(s, "COL-1")
        close_days(s, 31)  # business date 02-01: the first instalment (4,000.00 + 120.00) is 1 day past due
    return tenant


def token(client, tenant, scopes):
    with SystemContext("test: api"), shared_session() as session, session.begin():
        issued = oauth_services.create_client(session, "催收测试", scopes, context=Context.TENANT,
                                              tenant_slug=tenant.slug)
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {basic}"})
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_work_a_collection_case(client, bank):
    auth = token(client, bank, "collections:write loans:read")
    base = f"/t/{bank.slug}/api/v1/collections"
    review = client.post(f"{base}/review", headers=auth)
    assert review.status_code == 200 and review.get_json()["cases_opened"] == 1
    [row] = client.get(f"{base}/cases", headers=auth).get_json()
    assert (row["reference"], row["stage"], row["dpd"], row["arrear_principal"]) == ("COL-1", "early", 1, "4000.00")
    case = f"{base}/cases/{row['id']}"
    action = client.post(f"{case}/actions", json={"kind": "visit", "arrear_reason": "illness in the family"},
                         headers=auth)
    assert action.status_code == 201 and action.get_json()["arrear_interest"] == "120.00"
    bad = client.post(f"{case}/actions", json={"kind": "shout", "result_note": "x"}, headers=auth)
    assert bad.status_code == 422
    promise = client.post(f"{case}/promises", json={"amount": "4120.00", "promised_date": "2026-02-10"},
                          headers=auth)
    assert promise.status_code == 201 and promise.get_json()["status"] == "open"
    notice = client.post(f"{case}/notices", json={"language": "en"}, headers=auth)
    assert notice.status_code == 201
    body = notice.get_json()
    assert body["valid"] and "Overdue principal: 4000.00 yuan" in body["body"]
    receipt = client.put(f"{base}/notices/{body['id']}/receipt", json={"signed_on": "2026-02-01"}, headers=auth)
    assert receipt.status_code == 200 and receipt.get_json()["receipt_signed_on"] == "2026-02-01"
    detail = client.get(case, headers=auth).get_json()
    assert [a["kind"] for a in detail["actions"]] == ["notice", "visit"]
    assert detail["next_actions"] == ["call", "visit"] and detail["reference"] == "COL-1"
    inspections = client.get(f"/t/{bank.slug}/api/v1/inspections", headers=auth).get_json()
    assert [(i["reference"], i["type"]) for i in inspections] == [("COL-1", "triggered")]


def test_loans_scope_cannot_work_collections(client, bank):
    auth = token(client, bank, "loans:read loans:write")
    assert client.get(f"/t/{bank.slug}/api/v1/collections/cases", headers=auth).status_code == 403
