"""OAuth2: client credentials, tokens bound to one tenant or context, revocation, introspection, the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from creditfactory.cli import cli
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity.errors import IdentityError
from creditfactory.identity.oauth import services
from creditfactory.identity.oauth.models import OAuthClient, OAuthToken
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.scopes import Scope


def make_client(scope: str, *, tenant=None, context=Context.TENANT):
    with SystemContext("test: oauth client"), shared_session() as session, session.begin():
        issued = services.create_client(session, "核心系统", scope, context=context,
                                        tenant_slug=tenant.slug if tenant else None)
    return issued.client.client_id, issued.client_secret


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def get_token(http, creds, **form):
    return http.post("/oauth/token", data={"grant_type": "client_credentials", **form}, headers=basic(*creds))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_every_scope_has_labels_and_grants_permissions_of_its_own_context():
    for scope in Scope:
        assert scope.label_zh and scope.label_en and scope.permissions
        assert all(p.context is scope.context for p in scope.permissions)
    human_only = {Permission.PII_READ, Permission.APPLICATION_APPROVE, Permission.COMMITTEE_VOTE,
                  Permission.CONFIG_APPROVE}
    assert all(s.user_only for s in Scope if s.permissions & human_only)


@pytest.mark.parametrize("scope", [s.code for s in Scope if s.user_only])
def test_a_machine_client_never_gets_a_scope_meant_for_people(tenant_a, scope):
    with pytest.raises(IdentityError, match="only for apps staff log in to"):
        make_client(f"applications:read {scope}", tenant=tenant_a)


def test_client_credentials_token_acts_for_its_tenant_only(client, tenant_a, tenant_b):
    creds = make_client("applications:read loans:read", tenant=tenant_a)
    issued = get_token(client, creds)
    assert issued.status_code == 200, issued.json
    body = issued.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "applications:read loans:read" and "refresh_token" not in body
    token = body["access_token"]

    # Positive control first: the token works at its own bank's address, by path and by host.
    me = client.get(f"/t/{tenant_a.slug}/api/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.json
    assert me.json == {"client_id": creds[0], "client_name": "核心系统", "context": "tenant",
                       "tenant": tenant_a.slug, "scopes": ["applications:read", "loans:read"], "user": None}
    assert client.get("/api/v1/me", headers={**bearer(token), "Host": f"{tenant_a.slug}.localhost"}).status_code == 200

    other = client.get(f"/t/{tenant_b.slug}/api/v1/me", headers=bearer(token))
    assert other.status_code == 403 and other.mimetype == "application/problem+json"
    assert tenant_a.slug in other.json["detail"] and tenant_b.slug in other.json["detail"]
    untenanted = client.get("/api/v1/me", headers=bearer(token))
    assert untenanted.status_code == 403 and untenanted.mimetype == "application/problem+json"


def test_head_office_and_regulator_tokens_act_outside_any_tenant(client, tenant_a):
    creds = make_client("reports:regulatory", context=Context.REGULATOR)
    token = get_token(client, creds).json["access_token"]
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["context"] == "regulator" and me.json["tenant"] is None
    assert client.get(f"/t/{tenant_a.slug}/api/v1/me", headers=bearer(token)).status_code == 403


def test_bad_credentials_and_scopes_are_refused(client, tenant_a, tenant_b):
    creds = make_client("loans:read", tenant=tenant_a)
    wrong = get_token(client, (creds[0], "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json["error"] == "invalid_client"
    assert get_token(client, ("cf_nobody", creds[1])).status_code == 401
    refused = get_token(client, creds, scope="loans:read applications:write")
    assert refused.status_code == 400 and refused.json["error"] == "invalid_scope"
    assert get_token(client, creds, scope="no:such").json["error"] == "invalid_scope"
    elsewhere = client.post(f"/t/{tenant_b.slug}/oauth/token", data={"grant_type": "client_credentials"},
                            headers=basic(*creds))
    assert elsewhere.status_code == 400 and elsewhere.json["error"] == "unauthorized_client"
    assert get_token(client, creds, scope="loans:read").status_code == 200
    # A machine client acts as itself only: the grants for apps acting for users are not its to use.
    for grant in ("authorization_code", "refresh_token"):
        unauthorized = client.post("/oauth/token", data={"grant_type": grant}, headers=basic(*creds))
        assert unauthorized.status_code == 400 and unauthorized.json["error"] == "unauthorized_client"


def test_missing_unknown_expired_and_revoked_tokens_get_401_problems(client, tenant_a):
    url = f"/t/{tenant_a.slug}/api/v1/me"
    missing = client.get(url)
    assert missing.status_code == 401 and missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(url, headers=bearer("forged")).status_code == 401

    creds = make_client("loans:read", tenant=tenant_a)
    expiring, revoked = (get_token(client, creds).json["access_token"] for _ in range(2))
    assert client.get(url, headers=bearer(expiring)).status_code == 200
    with shared_session() as session, session.begin():
        session.execute(update(OAuthToken).where(OAuthToken.access_token_hash == _digest(expiring))
                        .values(issued_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    expired = client.get(url, headers=bearer(expiring))
    assert expired.status_code == 401 and "WWW-Authenticate" in expired.headers

    assert client.post("/oauth/revoke", data={"token": revoked}, headers=basic(*creds)).status_code == 200
    assert client.get(url, headers=bearer(revoked)).status_code == 401


def test_revoking_a_client_kills_its_tokens_and_its_credentials(client, tenant_a):
    creds = make_client("loans:read", tenant=tenant_a)
    token = get_token(client, creds).json["access_token"]
    with SystemContext("test"), shared_session() as session, session.begin():
        services.revoke_client(session, creds[0])
    assert client.get(f"/t/{tenant_a.slug}/api/v1/me", headers=bearer(token)).status_code == 401
    assert get_token(client, creds).status_code == 401


def test_introspection_and_revocation_follow_the_rfcs(client, tenant_a):
    creds = make_client("loans:read portfolio:read", tenant=tenant_a)
    other = make_client("loans:read", tenant=tenant_a)
    token = get_token(client, creds, scope="portfolio:read").json["access_token"]

    assert client.post("/oauth/introspect", data={"token": token}).status_code == 401
    info = client.post("/oauth/introspect", data={"token": token}, headers=basic(*creds)).json
    assert info["active"] is True and info["scope"] == "portfolio:read" and info["client_id"] == creds[0]
    assert info["tenant"] == tenant_a.slug and info["context"] == "tenant" and info["exp"] - info["iat"] == 3600
    # Another client learns nothing about it; an unknown token is simply inactive.
    assert client.post("/oauth/introspect", data={"token": token}, headers=basic(*other)).json == {"active": False}
    assert client.post("/oauth/introspect", data={"token": "x"}, headers=basic(*creds)).json == {"active": False}

    # RFC 7009: 200 for an unknown token too; only the token's own client may revoke it.
    assert client.post("/oauth/revoke", data={"token": "unknown"}, headers=basic(*creds)).status_code == 200
    assert client.post("/oauth/revoke", data={"token": token}, headers=basic(*other)).status_code == 400
    assert client.post("/oauth/revoke", data={"token": token}, headers=basic(*creds)).status_code == 200
    assert client.post("/oauth/introspect", data={"token": token}, headers=basic(*creds)).json == {"active": False}


def test_secrets_and_tokens_are_stored_only_as_hashes(client, tenant_a):
    creds = make_client("loans:read", tenant=tenant_a)
    token = get_token(client, creds).json["access_token"]
    with shared_session() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == creds[0]))
        assert row.secret_hash == _digest(creds[1])
        dump = session.execute(text("SELECT t.*, c.* FROM cf_shared.oauth_token t JOIN cf_shared.oauth_client c "
                                    "ON c.id = t.client_pk WHERE c.client_id = :id"), {"id": creds[0]}).all()
    assert len(dump) == 1
    stored = " ".join(map(str, dump[0]))
    assert creds[1] not in stored and token not in stored and _digest(token) in stored


def test_client_services_refuse_bad_input(shared_db, tenant_a):
    with SystemContext("test"):
        for scope, kwargs in (("loans:read", {}), ("tenants:read", {"tenant_slug": tenant_a.slug}),
                              ("loans:read", {"tenant_slug": "nobank"}), ("", {"tenant_slug": tenant_a.slug}),
                              ("loans:read", {"context": Context.HEAD_OFFICE, "tenant_slug": tenant_a.slug})):
            with pytest.raises(IdentityError):
                services.create_client(shared_db, "x", scope, **kwargs)


def test_clients_cli(cf_settings, tenant_a):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    created = run("clients", "create", "--tenant", tenant_a.slug, "--name", "信贷核心", "--scope", "loans:read",
                  "--json")
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert data["tenant"] == tenant_a.slug and data["scope"] == "loans:read" and len(data["client_secret"]) >= 43
    plain = run("clients", "create", "--context", "regulator", "--name", "人行", "--scope", "reports:regulatory")
    assert plain.exit_code == 0 and "shown once" in plain.output

    with shared_session() as session:
        before = session.scalar(text("SELECT count(*) FROM cf_shared.oauth_client"))
    for bad in (["--tenant", tenant_a.slug, "--scope", "no:such"], ["--tenant", "nobank", "--scope", "loans:read"],
                ["--scope", "loans:read"], ["--tenant", tenant_a.slug, "--scope", "reports:regulatory"]):
        result = run("clients", "create", "--name", "bad", *bad)
        assert result.exit_code == 2, (bad, result.output)
    with shared_session() as session:
        assert session.scalar(text("SELECT count(*) FROM cf_shared.oauth_client")) == before
        actions = session.scalars(text("SELECT action FROM cf_shared.audit_entry WHERE object_id = :id"),
                                  {"id": data["client_id"]}).all()
    assert actions == ["oauth.client.create"]

    assert run("clients", "revoke", data["client_id"]).exit_code == 0
    assert run("clients", "revoke", data["client_id"]).exit_code == 2
    assert run("clients", "revoke", "cf_nobody").exit_code == 2


def _digest(value: str) -> str:
    from creditfactory.identity.oauth.hashing import digest

    return digest(value)
