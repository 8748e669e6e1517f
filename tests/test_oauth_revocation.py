"""RFC 7009 revocation and RFC 7662 introspection of refresh tokens, for public and confidential clients."""

from __future__ import annotations

import base64
import secrets

import pytest

from creditfactory.db import SystemContext, shared_session
from creditfactory.identity.oauth import services

from test_oauth_authcode import (REDIRECT, auth_params, bearer, code_of, consent, exchange, field_app,  # noqa: F401
                                 issued, log_in, officer, refresh)


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def me(app, tenant, access_token):
    return app.test_client().get(f"/t/{tenant.slug}/api/v1/me", headers=bearer(access_token)).status_code


def test_a_public_client_revokes_its_refresh_token_with_its_client_id_alone(app, tenant_a, field_app, issued):
    http = app.test_client()
    # Another public client cannot revoke it (the token is bound to its client) ...
    with SystemContext("test: other app"), shared_session() as shared, shared.begin():
        other = services.create_client(shared, "别的App", "loans:read", tenant_slug=tenant_a.slug,
                                       redirect_uris=(REDIRECT,), public=True).client.client_id
    refused = http.post("/oauth/revoke", data={"token": issued["refresh_token"], "client_id": other,
                                              "token_type_hint": "refresh_token"})
    assert refused.status_code == 400
    assert me(app, tenant_a, issued["access_token"]) == 200
    # ... its own client can, naming only its client_id; the access token of the same grant stops too.
    done = http.post("/oauth/revoke", data={"token": issued["refresh_token"], "client_id": field_app,
                                           "token_type_hint": "refresh_token"})
    assert done.status_code == 200
    assert me(app, tenant_a, issued["access_token"]) == 401
    assert refresh(app, field_app, issued["refresh_token"]).json["error"] == "invalid_grant"
    # Unknown tokens answer 200 (RFC 7009 section 2.2); an unknown client is refused.
    assert http.post("/oauth/revoke", data={"token": "nothing", "client_id": field_app}).status_code == 200
    assert http.post("/oauth/revoke", data={"token": "nothing", "client_id": "cf_nobody"}).status_code == 401


def test_revoking_a_refresh_token_ends_its_whole_family(app, tenant_a, field_app, issued):
    rotated = refresh(app, field_app, issued["refresh_token"]).json
    # A wrong hint still finds the token (the hint only orders the search).
    assert app.test_client().post("/oauth/revoke", data={"token": rotated["refresh_token"], "client_id": field_app,
                                                         "token_type_hint": "access_token"}).status_code == 200
    assert me(app, tenant_a, rotated["access_token"]) == 401
    assert refresh(app, field_app, rotated["refresh_token"]).json["error"] == "invalid_grant"


@pytest.fixture
def confidential(tenant_a):
    with SystemContext("test: confidential app"), shared_session() as shared, shared.begin():
        issued_client = services.create_client(shared, "网银后台", "loans:read", tenant_slug=tenant_a.slug,
                                               redirect_uris=("https://bank.example/cb",))
    return issued_client.client.client_id, issued_client.client_secret


def confidential_pair(app, tenant, officer, client_id, secret):
    http = app.test_client()
    log_in(http, tenant, officer)
    verifier = secrets.token_urlsafe(48)
    params = auth_params(client_id, verifier, redirect_uri="https://bank.example/cb")
    answer = consent(http, tenant, params)[1]
    code = answer.headers["Location"].split("code=")[1].split("&")[0]
    token = app.test_client().post("/oauth/token", headers=basic(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": "https://bank.example/cb"})
    assert token.status_code == 200, token.json
    return token.json


def test_a_confidential_client_revokes_a_refresh_token_and_its_access_tokens(app, tenant_a, officer, confidential):
    pair = confidential_pair(app, tenant_a, officer, *confidential)
    http = app.test_client()
    # Without its secret a confidential client is refused, even naming its client_id.
    assert http.post("/oauth/revoke", data={"token": pair["refresh_token"],
                                            "client_id": confidential[0]}).status_code == 401
    assert me(app, tenant_a, pair["access_token"]) == 200
    assert http.post("/oauth/revoke", data={"token": pair["refresh_token"], "token_type_hint": "refresh_token"},
                     headers=basic(*confidential)).status_code == 200
    assert me(app, tenant_a, pair["access_token"]) == 401


def test_introspection_answers_for_refresh_tokens_of_the_asking_client_only(app, tenant_a, officer, confidential):
    pair = confidential_pair(app, tenant_a, officer, *confidential)
    http = app.test_client()
    for hint in ("refresh_token", "access_token", None):
        data = {"token": pair["refresh_token"], **({"token_type_hint": hint} if hint else {})}
        info = http.post("/oauth/introspect", data=data, headers=basic(*confidential)).json
        assert info["active"] is True and info["token_type"] == "refresh_token", info
        assert info["username"] == officer and info["tenant"] == tenant_a.slug and info["scope"] == "loans:read"
    access = http.post("/oauth/introspect", data={"token": pair["access_token"]}, headers=basic(*confidential)).json
    assert access["token_type"] == "Bearer" and access["exp"] < info["exp"]
    # Another client learns nothing, exactly as for an unknown token.
    with SystemContext("test: other"), shared_session() as shared, shared.begin():
        other = services.create_client(shared, "别的", "loans:read", tenant_slug=tenant_a.slug)
    assert http.post("/oauth/introspect", data={"token": pair["refresh_token"]},
                     headers=basic(other.client.client_id, other.client_secret)).json == {"active": False}
    bogus = http.post("/oauth/introspect", data={"token": pair["refresh_token"], "token_type_hint": "bogus"},
                      headers=basic(*confidential))
    assert bogus.json["error"] == "unsupported_token_type"
    # Revoked: inactive.
    http.post("/oauth/revoke", data={"token": pair["access_token"]}, headers=basic(*confidential))
    assert http.post("/oauth/introspect", data={"token": pair["refresh_token"]},
                     headers=basic(*confidential)).json == {"active": False}
