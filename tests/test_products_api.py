"""Products API: reads by machine clients, proposals by a person through an app, head-office publishing."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import CurrentTenant, SystemContext, shared_session, tenant_session
from creditfactory.identity import changes
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.lending.products import declared
from creditfactory.testing.staff import STAFF_PASSWORD

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"
HTML = {"Accept": "text/html"}
REDIRECT = "cn.creditfactory.admin:/oauth"


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(name_en="Products API Bank")
    with CurrentActor.bind(Actor("test:products-api", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)
        declared.apply_tenant_products(tenant.slug, [
            {"code": "biz_operating", "template": "biz_operating", "template_version": 1,
             "overrides": {"amount": {"max": "300000"}}}])
    return tenant


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def machine_token(app, scopes: str, context=Context.TENANT, tenant_slug=None) -> str:
    with SystemContext("test: client"), shared_session() as shared, shared.begin():
        issued = oauth_services.create_client(shared, "产品测试", scopes, context=context, tenant_slug=tenant_slug)
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    answer = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                    headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.json
    return answer.json["access_token"]


def log_in_person(http, tenant, username: str) -> None:
    """Log in with the password and, for an administrator, enrol the second factor the login asks for."""
    prefix = f"/t/{tenant.slug}"
    page = http.get(f"{prefix}/login", headers=HTML).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    done = http.post(f"{prefix}/login", headers=HTML, data={
        "username": username, "password": STAFF_PASSWORD, "csrf_token": csrf})
    assert done.status_code == 302
    if done.headers["Location"].endswith("/login/totp/enrol"):
        page = http.get(f"{prefix}/login/totp/enrol", headers=HTML).get_data(as_text=True)
        uri = re.search(r"otpauth://[^<\"]+", page)[0].replace("&amp;", "&")
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        enrolled = http.post(f"{prefix}/login/totp/enrol", headers=HTML,
                             data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf})
        assert enrolled.status_code == 302, enrolled.get_data(as_text=True)


def person_token(app, tenant, username: str, scope: str) -> str:
    """A token acting for ``username`` through a registered app (authorization code + PKCE)."""
    with SystemContext("test: app"), shared_session() as shared, shared.begin():
        app_id = oauth_services.create_client(shared, "管理App", scope, tenant_slug=tenant.slug,
                                              redirect_uris=(REDIRECT,), public=True).client.client_id
    http = app.test_client()
    log_in_person(http, tenant, username)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": app_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    url = f"/t/{tenant.slug}/oauth/authorize"
    page = http.get(url, query_string=params, headers=HTML)
    assert page.status_code == 200, page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    answer = http.post(url, query_string=params, headers=HTML, data={"csrf_token": csrf, "decision": "allow"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = app.test_client().post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app_id, "code": code, "code_verifier": verifier,
        "redirect_uri": REDIRECT})
    assert token.status_code == 200, token.json
    return token.json["access_token"]


def test_reading_products_versions_and_the_diff(app, bank):
    http = app.test_client()
    headers = bearer(machine_token(app, "products:read", tenant_slug=bank.slug))
    prefix = f"/t/{bank.slug}/api/v1/products"
    listed = http.get(prefix, headers=headers)
    assert listed.status_code == 200 and [p["code"] for p in listed.json] == ["biz_operating"]
    product = http.get(f"{prefix}/biz_operating", headers=headers).json
    assert product["terms"]["amount"] == {"min": "10000", "max": "300000"}
    assert product["overrides"] == {"amount": {"max": "300000"}} and product["template_version"] == 1
    diff = http.get(f"{prefix}/biz_operating/diff", headers=headers).json
    assert diff == {"code": "biz_operating", "version": 1, "template": {"code": "biz_operating", "version": 1},
                    "differences": [{"field": "amount.max", "template": "500000", "tenant": "300000"}]}
    assert http.get(f"{prefix}/nothing", headers=headers).status_code == 404
    templates = http.get(f"{prefix}/templates", headers=headers).json
    assert {"biz_operating", "farm_household", "revolving_line"} <= {t["code"] for t in templates}
    # A machine client with config:write reads but may not propose: the maker must be a person.
    writer = bearer(machine_token(app, "config:write", tenant_slug=bank.slug))
    refused = http.post(f"{prefix}/farm/adoption", headers=writer,
                        json={"template_code": "farm_household", "template_version": 1})
    assert refused.status_code == 403 and "person" in refused.json["detail"]


def test_a_person_proposes_and_a_second_person_approves(app, bank, make_user):
    maker = make_user("tenant_admin", bank)
    token = person_token(app, bank, maker, "products:read config:write")
    http = app.test_client()
    prefix = f"/t/{bank.slug}/api/v1/products"
    loose = http.post(f"{prefix}/farm/adoption", headers=bearer(token), json={
        "template_code": "farm_household", "template_version": 1,
        "overrides": {"regulatory": {"entrusted_payment.personal_business_threshold": "900000"}}})
    assert loose.status_code == 422
    assert "regulatory.entrusted_payment.personal_business_threshold" in loose.json["detail"]
    proposed = http.post(f"{prefix}/farm/adoption", headers=bearer(token), json={
        "template_code": "farm_household", "template_version": 1, "overrides": {"term_months": {"max": 24}}})
    assert proposed.status_code == 200, proposed.json
    assert proposed.json["status"] == "pending" and proposed.json["kind"] == "product.adopt"
    assert http.get(f"{prefix}/farm", headers=bearer(token)).status_code == 404
    pending = http.get(f"{prefix}/changes", headers=bearer(token)).json
    assert [c["id"] for c in pending] == [proposed.json["id"]]
    # Changes of the terms are proposed the same way; a second pending change of one product is refused.
    again = http.post(f"{prefix}/farm/adoption", headers=bearer(token), json={
        "template_code": "farm_household", "template_version": 1})
    assert again.status_code == 422 and "already waiting" in again.json["detail"]

    checker = Principal(987654, "checker", Context.TENANT, bank.slug, STANDARD_ROLES["risk_manager"].permissions,
                        frozenset({"risk_manager"}))
    with CurrentPrincipal.bind(checker), CurrentActor.bind(Actor("987654", ActorKind.USER)), \
            CurrentTenant.bind(bank), tenant_session(bank) as session, session.begin():
        changes.approve(session, proposed.json["id"])
    product = http.get(f"{prefix}/farm", headers=bearer(token)).json
    assert product["terms"]["term_months"] == {"min": 6, "max": 24} and product["change_request_id"] == \
        proposed.json["id"]

    update = http.post(f"{prefix}/farm/changes", headers=bearer(token), json={"overrides": {"amount": {"max": "1"}}})
    assert update.status_code == 422 and "amount.max" in update.json["detail"]


def test_head_office_publishes_templates(app, bank):
    http = app.test_client()
    owner = bearer(machine_token(app, "product-templates:write", context=Context.HEAD_OFFICE))
    current = http.get("/api/v1/product-templates/revolving_line/versions/1", headers=owner)
    assert current.status_code == 200
    body = {k: current.json[k] for k in ("version", "name_zh", "name_en", "terms")}
    same = http.post("/api/v1/product-templates/revolving_line/versions", headers=owner, json=body)
    assert same.status_code == 200 and same.json["published_at"] == current.json["published_at"]
    changed = http.post("/api/v1/product-templates/revolving_line/versions", headers=owner,
                        json={**body, "terms": {**body["terms"], "grace_days": 1}})
    assert changed.status_code == 409 and "immutable" in changed.json["detail"]
    bad = http.post("/api/v1/product-templates/api_made/versions", headers=owner,
                    json={**body, "terms": {**body["terms"], "amount": {"min": "10", "max": "1"}}})
    assert bad.status_code == 422 and "amount.min" in bad.json["detail"]
    tenant = bearer(machine_token(app, "products:read config:write", tenant_slug=bank.slug))
    assert http.post(f"/t/{bank.slug}/api/v1/product-templates/revolving_line/versions", headers=tenant,
                     json=body).status_code in (403, 404)
    assert http.post("/api/v1/product-templates/revolving_line/versions", headers=tenant, json=body).status_code == 403
