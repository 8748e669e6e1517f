"""Customers through the REST API (machine clients: masked identifiers) and the portal (loan officers)."""

from __future__ import annotations

import base64
import io

import pytest
from sqlalchemy import select

from creditfactory.audit.models import AuditEntry
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.testing.staff import HTML, csrf_token, log_in

from customer_samples import PNG, resident_id

ID_1949 = "11010519491231002X"


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_en="API Village Bank")


@pytest.fixture(scope="module")
def token(app, bank):
    def make(scopes: str) -> dict[str, str]:
        with SystemContext("test: customers api"), shared_session() as shared, shared.begin():
            issued = oauth_services.create_client(shared, "客户接口测试", scopes, tenant_slug=bank.slug)
        basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
        response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                          headers={"Authorization": f"Basic {basic}"})
        return {"Authorization": f"Bearer {response.json['access_token']}"}
    return make


@pytest.fixture(scope="module")
def writer(token):
    return token("customers:read customers:write")


def url(bank, path=""):
    return f"/t/{bank.slug}/api/v1/customers{path}"


def test_create_get_search_masked_for_machine_clients(client, bank, writer):
    number = resident_id()
    created = client.post(url(bank), json={"kind": "individual", "name": "马小龙", "resident_id": number,
                                           "mobile": "13912345678", "sector_code": "A0111"}, headers=writer)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["resident_id"] == number[:3] + "*" * 11 + number[-4:] and body["mobile"] == "139****5678"
    assert body["pii_clear"] is False and body["birth_date"].endswith("-**-**")
    assert client.get(url(bank, f"/{body['id']}"), headers=writer).json["name"] == "马小龙"
    found = client.post(url(bank, "/search"), json={"resident_id": number}, headers=writer)
    assert [c["id"] for c in found.json] == [body["id"]]
    assert client.post(url(bank, "/search"), json={"mobile": "13900000000"}, headers=writer).json == []
    listed = client.get(url(bank), query_string={"name": "小龙"}, headers=writer).json
    assert [c["id"] for c in listed] == [body["id"]]
    # 'My customers' is a person's list: a machine client has none.
    assert client.get(url(bank), query_string={"mine": "true"}, headers=writer).status_code == 422


def test_duplicates_and_invalid_fields_are_problems(client, bank, writer):
    number = resident_id()
    assert client.post(url(bank), json={"kind": "individual", "name": "甲", "resident_id": number},
                       headers=writer).status_code == 201
    duplicate = client.post(url(bank), json={"kind": "household", "name": "甲家", "resident_id": number.lower()},
                            headers=writer)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json["detail"]
    wrong_check = number[:-1] + ("0" if number[-1] != "0" else "1")
    invalid = client.post(url(bank), json={"kind": "individual", "name": "乙", "resident_id": wrong_check,
                                           "mobile": "123"}, headers=writer)
    assert invalid.status_code == 422
    assert set(invalid.json["errors"]) == {"resident_id", "mobile"}
    assert "check character" in invalid.json["errors"]["resident_id"][0]


def test_reader_cannot_write(client, bank, token):
    reader = token("customers:read")
    response = client.post(url(bank), json={"kind": "individual", "name": "丙", "resident_id": resident_id()},
                           headers=reader)
    assert response.status_code == 403


def test_parties_documents_and_consents_through_the_api(client, bank, writer):
    from stdnum.cn import uscc
    code = "91530821MA6N12345" + uscc.calc_check_digit("91530821MA6N12345")
    owner = client.post(url(bank), json={"kind": "micro_enterprise", "name": "宁洱茶厂", "uscc": code},
                        headers=writer)
    assert owner.status_code == 201, owner.json
    cid = owner.json["id"]
    spouse = client.post(url(bank, f"/{cid}/parties"), json={"role": "spouse", "name": "某人"}, headers=writer)
    assert spouse.status_code == 409 and "enterprise" in spouse.json["detail"]
    rep = client.post(url(bank, f"/{cid}/parties"), json={"role": "legal_representative", "name": "刘厂长",
                                                          "resident_id": ID_1949}, headers=writer)
    assert rep.status_code == 201 and rep.json["resident_id"] == "110***********002X"
    assert [p["role"] for p in client.get(url(bank, f"/{cid}/parties"), headers=writer).json] == \
        ["legal_representative"]

    upload = client.post(url(bank, f"/{cid}/documents"), headers=writer,
                         data={"doc_type": "business_licence", "file": (io.BytesIO(PNG), "licence.jpg", "image/jpeg")})
    assert upload.status_code == 201, upload.json
    assert upload.json["content_type"] == "image/png"  # sniffed, not the claimed image/jpeg
    bad = client.post(url(bank, f"/{cid}/documents"), headers=writer,
                      data={"doc_type": "other", "file": (io.BytesIO(b"<script>"), "x.png", "image/png")})
    assert bad.status_code == 422 and "file" in bad.json["errors"]
    content = client.get(url(bank, f"/{cid}/documents/{upload.json['id']}/content"), headers=writer)
    assert content.status_code == 200 and content.data == PNG and content.mimetype == "image/png"
    assert content.headers["Content-Disposition"].startswith("attachment")

    refused = client.post(url(bank, f"/{cid}/consents"), headers=writer, json={
        "purpose": "bureau_query", "scope": "查询企业征信", "consent_type": "general", "channel": "app",
        "evidence_signature": "E-1"})
    assert refused.status_code == 422 and "written" in refused.json["errors"]["consent_type"][0]
    granted = client.post(url(bank, f"/{cid}/consents"), headers=writer, json={
        "purpose": "bureau_query", "scope": "查询企业征信", "consent_type": "written", "channel": "paper_scan",
        "evidence_document_id": upload.json["id"], "expires_at": "2099-01-01T00:00:00+08:00"})
    assert granted.status_code == 201 and granted.json["status"] == "active"
    withdrawn = client.post(url(bank, f"/{cid}/consents/{granted.json['id']}/withdraw"), headers=writer,
                            json={"reason": "客户撤回"})
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert client.post(url(bank, f"/{cid}/consents/{granted.json['id']}/withdraw"), headers=writer,
                       json={"reason": "again"}).status_code == 409
    with SystemContext("test: read audit"), tenant_session(bank) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(cid))).all()
    assert {"customer.create", "customer.party.add", "customer.document.upload", "customer.document.download",
            "customer.consent.grant", "customer.consent.withdraw"} <= set(actions)


# --- portal ------------------------------------------------------------------------------------------------------


def test_officer_registers_a_customer_and_sees_it_in_clear(app, bank, make_user):
    officer = app.test_client()
    prefix = f"/t/{bank.slug}"
    assert log_in(officer, prefix, make_user("loan_officer", bank)).status_code == 302
    token = csrf_token(officer, f"{prefix}/customers/new")
    invalid = officer.post(f"{prefix}/customers/new", headers=HTML, data={
        "csrf_token": token, "kind": "individual", "name": "", "resident_id": "110105194912310021"})
    page = invalid.get_data(as_text=True)
    assert invalid.status_code == 422
    assert "请输入有效的18位居民身份证号码" in page and "请按身份证或营业执照填写名称" in page
    number = resident_id()
    done = officer.post(f"{prefix}/customers/new", headers=HTML, data={
        "csrf_token": token, "kind": "individual", "name": "杨阿姨", "resident_id": number, "mobile": "13712345678"})
    assert done.status_code == 302
    page = officer.get(done.headers["Location"], headers=HTML).get_data(as_text=True)
    assert number in page and "13712345678" in page
    assert 'accept="image/*,application/pdf" capture' in page
    listing = officer.get(f"{prefix}/customers", headers=HTML).get_data(as_text=True)
    # The list is an overview: masked even for an officer who may read the number in clear.
    assert "杨阿姨" in listing and number not in listing and number[:3] + "*" * 11 + number[-4:] in listing
    again = officer.post(f"{prefix}/customers/new", headers=HTML, data={
        "csrf_token": token, "kind": "individual", "name": "杨阿姨", "resident_id": number})
    assert again.status_code == 422 and "已存在" in again.get_data(as_text=True)

    customer_path = done.headers["Location"]
    upload = officer.post(f"{customer_path}/documents", headers=HTML, content_type="multipart/form-data", data={
        "csrf_token": token, "doc_type": "site_photo", "file": (io.BytesIO(PNG), "shop.png")})
    assert upload.status_code == 302
    consent = officer.post(f"{customer_path}/consents", headers=HTML, data={
        "csrf_token": token, "purpose": "bureau_query", "scope": "查询征信", "consent_type": "general",
        "channel": "app", "evidence_signature": "E-9"})
    assert consent.status_code == 422 and "written" in consent.get_data(as_text=True)

    officer.get(f"{prefix}/lang/en")
    page = officer.get(customer_path, headers=HTML).get_data(as_text=True)
    assert "Related parties" in page and "Site photo" in page


def test_an_auditor_sees_identifiers_masked(app, bank, make_user, writer):
    number = resident_id()
    created = app.test_client().post(url(bank), headers=writer, json={"kind": "individual", "name": "何师傅",
                                                                        "resident_id": number})
    auditor = app.test_client()
    prefix = f"/t/{bank.slug}"
    log_in(auditor, prefix, make_user("auditor", bank))
    page = auditor.get(f"{prefix}/customers/{created.json['id']}", headers=HTML)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and number not in text and number[:3] + "*" * 11 + number[-4:] in text
    assert "已脱敏" in text
