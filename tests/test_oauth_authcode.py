"""OAuth2 for people: authorization code with PKCE (S256) through the staff session, refresh-token rotation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from creditfactory.cli import cli
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services as identity_services
from creditfactory.identity.errors import IdentityError
from creditfactory.identity.models import User
from creditfactory.identity.oauth import hashing, services
from creditfactory.identity.oauth.models import OAuthAuthorizationCode, OAuthToken
from creditfactory.identity.oauth.protector import principal_of
from creditfactory.identity.permissions import Permission

PASSWORD = "a long enough passphrase"
HTML = {"Accept": "text/html"}
REDIRECT = "cn.creditfactory.field:/oauth"


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def officer(tenant_a):
    """A loan officer of tenant A (credit file, no portfolio reports)."""
    username = f"u{uuid.uuid4().hex[:10]}"
    with SystemContext("test: staff user"), shared_session() as shared, shared.begin():
        identity_services.create_user(shared, username, "李娜", password=PASSWORD)
        identity_services.grant(shared, username, "loan_officer", tenant_a.slug)
    yield username
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username == username))


@pytest.fixture
def field_app(tenant_a):
    """The mobile field app registered for tenant A: public, no secret."""
    with SystemContext("test: app client"), shared_session() as shared, shared.begin():
        issued = services.create_client(shared, "外勤App", "applications:read loans:read portfolio:read",
                                        tenant_slug=tenant_a.slug, redirect_uris=(REDIRECT,), public=True)
    assert issued.client_secret is None
    return issued.client.client_id


def log_in(http, tenant, username):
    page = http.get(f"/t/{tenant.slug}/login", headers=HTML).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    done = http.post(f"/t/{tenant.slug}/login", headers=HTML,
                     data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 302, done.get_data(as_text=True)


def auth_params(client_id, verifier, **overrides):
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "loans:read",
            "state": "s-42", "code_challenge": challenge_of(verifier), "code_challenge_method": "S256", **overrides}


def consent(http, tenant, params, decision="allow"):
    """Open the consent page and answer it; returns the page and the answer."""
    url = f"/t/{tenant.slug}/oauth/authorize"
    page = http.get(url, query_string=params, headers=HTML)
    assert page.status_code == 200, page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    return page, http.post(url, query_string=params, headers=HTML, data={"csrf_token": token, "decision": decision})


def code_of(answer):
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-42"]
    return query["code"][0]


def exchange(app, client_id, code, verifier, redirect_uri=REDIRECT):
    # The app, not the browser, calls the token endpoint: no session cookie.
    return app.test_client().post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": code, "code_verifier": verifier,
        "redirect_uri": redirect_uri})


def refresh(app, client_id, refresh_token):
    return app.test_client().post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                                        "refresh_token": refresh_token})


@pytest.fixture
def issued(app, tenant_a, officer, field_app):
    """A browser logged in as the officer, and the token pair the app got through it."""
    http = app.test_client()
    log_in(http, tenant_a, officer)
    verifier = secrets.token_urlsafe(48)
    _, answer = consent(http, tenant_a, auth_params(field_app, verifier))
    response = exchange(app, field_app, code_of(answer), verifier)
    assert response.status_code == 200, response.json
    return response.json


def test_full_flow_issues_tokens_acting_for_the_user_in_the_session_tenant(app, tenant_a, tenant_b, officer,
                                                                           field_app):
    http = app.test_client()
    verifier = secrets.token_urlsafe(48)
    params = auth_params(field_app, verifier)
    url = f"/t/{tenant_a.slug}/oauth/authorize"

    anonymous = http.get(url, query_string=params, headers=HTML)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith(f"/t/{tenant_a.slug}/login?next=")
    log_in(http, tenant_a, officer)

    page = http.get(url, query_string=params, headers={**HTML, "Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "外勤App" in html and "loans:read" in html
    assert "applications:read" not in html, "only the requested scopes are listed"
    # The consent POST is a portal form: without the session's CSRF token it is refused.
    forged = http.post(url, query_string=params, headers=HTML, data={"decision": "allow"})
    assert forged.status_code == 400 and "Location" not in forged.headers

    _, answer = consent(http, tenant_a, params)
    code = code_of(answer)
    with shared_session() as shared:
        stored = shared.scalar(select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.client_pk.isnot(None))
                               .order_by(OAuthAuthorizationCode.id.desc()))
    assert stored.code_hash == hashing.digest(code) and code not in (stored.code_hash, stored.code_challenge)

    response = exchange(app, field_app, code, verifier)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["scope"] == "loans:read" and body["expires_in"] == 3600 and body["refresh_token"]

    me = app.test_client().get(f"/t/{tenant_a.slug}/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.json
    assert me.json["user"] == officer and me.json["tenant"] == tenant_a.slug and me.json["client_id"] == field_app
    assert app.test_client().get(f"/t/{tenant_b.slug}/api/v1/me",
                                 headers=bearer(body["access_token"])).status_code == 403
    assert app.test_client().get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 403

    with shared_session() as shared:
        token = shared.scalar(select(OAuthToken)
                              .where(OAuthToken.access_token_hash == hashing.digest(body["access_token"])))
    assert token.refresh_token_hash == hashing.digest(body["refresh_token"])
    principal = principal_of(token)
    assert principal.username == officer and principal.tenant_slug == tenant_a.slug
    # The scopes intersected with the user's own rights: loans:read grants loan.read, which the officer holds.
    assert principal.permissions == frozenset({Permission.LOAN_READ})


def test_the_users_rights_bound_what_the_scopes_grant(app, tenant_a, officer, field_app):
    http = app.test_client()
    log_in(http, tenant_a, officer)
    verifier = secrets.token_urlsafe(48)
    _, answer = consent(http, tenant_a, auth_params(field_app, verifier, scope="portfolio:read loans:read"))
    body = exchange(app, field_app, code_of(answer), verifier).json
    with shared_session() as shared:
        token = shared.scalar(select(OAuthToken)
                              .where(OAuthToken.access_token_hash == hashing.digest(body["access_token"])))
    # A loan officer does not read portfolio reports, so the token does not either, whatever its scope says.
    assert Permission.PORTFOLIO_READ not in principal_of(token).permissions
    assert Permission.LOAN_READ in principal_of(token).permissions


def test_wrong_verifier_and_reused_or_expired_codes_are_refused(app, tenant_a, officer, field_app):
    http = app.test_client()
    log_in(http, tenant_a, officer)
    verifier = secrets.token_urlsafe(48)

    code = code_of(consent(http, tenant_a, auth_params(field_app, verifier))[1])
    wrong = exchange(app, field_app, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant"
    # A failed exchange burns the code: the verifier cannot be guessed at leisure.
    assert exchange(app, field_app, code, verifier).json["error"] == "invalid_grant"

    code = code_of(consent(http, tenant_a, auth_params(field_app, verifier))[1])
    assert exchange(app, field_app, code, verifier).status_code == 200
    reused = exchange(app, field_app, code, verifier)
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"

    code = code_of(consent(http, tenant_a, auth_params(field_app, verifier))[1])
    with shared_session() as shared, shared.begin():
        shared.execute(update(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == hashing.digest(code))
                       .values(issued_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=61)))
    assert exchange(app, field_app, code, verifier).json["error"] == "invalid_grant"

    code = code_of(consent(http, tenant_a, auth_params(field_app, verifier))[1])
    missing = exchange(app, field_app, code, "")
    assert missing.status_code == 400 and "refresh_token" not in missing.json


def test_pkce_is_required_and_plain_is_refused(app, tenant_a, officer, field_app):
    http = app.test_client()
    log_in(http, tenant_a, officer)
    url = f"/t/{tenant_a.slug}/oauth/authorize"
    verifier = secrets.token_urlsafe(48)
    for params in (auth_params(field_app, verifier, code_challenge_method="plain", code_challenge=verifier),
                   auth_params(field_app, verifier, code_challenge_method=None),
                   auth_params(field_app, verifier, code_challenge=None, code_challenge_method=None)):
        answer = http.get(url, query_string={k: v for k, v in params.items() if v is not None}, headers=HTML)
        # The redirect URI is registered, so the error goes back to the app (RFC 6749 section 4.1.2.1).
        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert answer.headers["Location"].startswith(REDIRECT) and query["error"] == ["invalid_request"]
        assert "code" not in query


def test_unregistered_redirect_uri_or_client_is_never_redirected_to(app, tenant_a, officer, field_app):
    http = app.test_client()
    log_in(http, tenant_a, officer)
    url = f"/t/{tenant_a.slug}/oauth/authorize"
    verifier = secrets.token_urlsafe(48)
    for params in (auth_params(field_app, verifier, redirect_uri="https://evil.example/cb"),
                   auth_params(field_app, verifier, redirect_uri=REDIRECT + "/extra"),
                   auth_params(field_app, verifier, redirect_uri=None),
                   auth_params("cf_nobody", verifier)):
        answer = http.get(url, query_string={k: v for k, v in params.items() if v is not None}, headers=HTML)
        assert answer.status_code == 400 and "Location" not in answer.headers
    # Exchanging a code with another redirect URI than it was issued for fails too.
    code = code_of(consent(http, tenant_a, auth_params(field_app, verifier))[1])
    assert exchange(app, field_app, code, verifier, redirect_uri="https://evil.example/cb").status_code == 400


def test_denying_and_asking_for_more_than_registered(app, tenant_a, officer, field_app):
    http = app.test_client()
    log_in(http, tenant_a, officer)
    verifier = secrets.token_urlsafe(48)
    _, denied = consent(http, tenant_a, auth_params(field_app, verifier), decision="deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]
    greedy = http.get(f"/t/{tenant_a.slug}/oauth/authorize", headers=HTML,
                      query_string=auth_params(field_app, verifier, scope="loans:read applications:write"))
    assert parse_qs(urlsplit(greedy.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_a_session_elsewhere_cannot_authorize_the_app(app, tenant_b, field_app):
    username = f"u{uuid.uuid4().hex[:10]}"
    with SystemContext("test: staff user"), shared_session() as shared, shared.begin():
        identity_services.create_user(shared, username, "王芳", password=PASSWORD)
        identity_services.grant(shared, username, "loan_officer", tenant_b.slug)
    try:
        http = app.test_client()
        log_in(http, tenant_b, username)
        answer = http.get(f"/t/{tenant_b.slug}/oauth/authorize", headers=HTML,
                          query_string=auth_params(field_app, secrets.token_urlsafe(48)))
        assert answer.status_code == 403 and "Location" not in answer.headers
    finally:
        with shared_session() as shared, shared.begin():
            shared.execute(delete(User).where(User.username == username))


def test_refresh_rotates_the_pair(app, tenant_a, field_app, issued):
    rotated = refresh(app, field_app, issued["refresh_token"])
    assert rotated.status_code == 200, rotated.json
    new = rotated.json
    assert new["refresh_token"] != issued["refresh_token"] and new["access_token"] != issued["access_token"]
    assert new["scope"] == "loans:read"
    me = f"/t/{tenant_a.slug}/api/v1/me"
    assert app.test_client().get(me, headers=bearer(new["access_token"])).status_code == 200
    # Rotation revokes the old pair.
    assert app.test_client().get(me, headers=bearer(issued["access_token"])).status_code == 401
    with shared_session() as shared:
        old, current = (shared.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == hashing.digest(t)))
                        for t in (issued["access_token"], new["access_token"]))
    assert old.family == current.family and current.user_id == old.user_id and current.tenant_id == old.tenant_id


def test_a_rotated_refresh_token_presented_again_revokes_the_family(app, tenant_a, field_app, issued):
    new = refresh(app, field_app, issued["refresh_token"]).json
    replayed = refresh(app, field_app, issued["refresh_token"])
    assert replayed.status_code == 400 and replayed.json["error"] == "invalid_grant"
    # Whoever holds the newest pair, client or thief, loses it too.
    assert app.test_client().get(f"/t/{tenant_a.slug}/api/v1/me",
                                 headers=bearer(new["access_token"])).status_code == 401
    assert refresh(app, field_app, new["refresh_token"]).json["error"] == "invalid_grant"


def test_refresh_tokens_expire_and_belong_to_their_client(app, field_app, tenant_a, issued):
    with SystemContext("test: other app"), shared_session() as shared, shared.begin():
        other = services.create_client(shared, "别的App", "loans:read", tenant_slug=tenant_a.slug,
                                       redirect_uris=(REDIRECT,), public=True).client.client_id
    assert refresh(app, other, issued["refresh_token"]).json["error"] == "invalid_grant"
    with shared_session() as shared, shared.begin():
        shared.execute(update(OAuthToken)
                       .where(OAuthToken.refresh_token_hash == hashing.digest(issued["refresh_token"]))
                       .values(issued_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=15)))
    assert refresh(app, field_app, issued["refresh_token"]).json["error"] == "invalid_grant"


def test_deactivating_the_user_ends_what_they_delegated(app, tenant_a, officer, field_app, issued):
    with shared_session() as shared, shared.begin():
        shared.execute(update(User).where(User.username == officer).values(active=False))
    assert app.test_client().get(f"/t/{tenant_a.slug}/api/v1/me",
                                 headers=bearer(issued["access_token"])).status_code == 401
    assert refresh(app, field_app, issued["refresh_token"]).status_code == 400


def test_public_clients_and_redirect_uris_are_checked_at_registration(cf_settings, tenant_a):
    with SystemContext("test"), shared_session() as shared:
        for uri in ("http://evil.example/cb", "https://app.example/cb#frag", "javascript:alert(1)", "cb"):
            with pytest.raises(IdentityError):
                services.create_client(shared, "App", "loans:read", tenant_slug=tenant_a.slug, redirect_uris=(uri,))
        with pytest.raises(IdentityError):
            services.create_client(shared, "App", "loans:read", tenant_slug=tenant_a.slug, public=True)
    runner = CliRunner()
    created = runner.invoke(cli, ["clients", "create", "--tenant", tenant_a.slug, "--name", "外勤App", "--scope",
                                  "loans:read", "--public", "--redirect-uri", REDIRECT, "--redirect-uri",
                                  "http://127.0.0.1:8765/cb", "--json"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert data["client_secret"] is None and data["redirect_uris"] == [REDIRECT, "http://127.0.0.1:8765/cb"]
    assert data["grant_types"] == ["authorization_code", "refresh_token"]
    refused = runner.invoke(cli, ["clients", "create", "--tenant", tenant_a.slug, "--name", "x", "--scope",
                                  "loans:read", "--redirect-uri", "http://evil.example/cb"])
    assert refused.exit_code == 2
