"""Staff login: uniform failures, lockout, session expiry, one tenant per session, forced change, CSRF, logout."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from creditfactory import settings as settings_module
from creditfactory.app import create_app
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services
from creditfactory.identity.models import User
from creditfactory.testing.staff import CLOCK_START, STAFF_PASSWORD as PASSWORD, csrf_token as csrf, log_in


HTML = {"Accept": "text/html"}
START = CLOCK_START


@pytest.fixture(scope="module")
def app(cf_settings):
    app = create_app(dataclasses.replace(cf_settings, login_max_failures=3, login_lockout_minutes=15,
                                         session_idle_minutes=30, session_absolute_hours=12), testing=True)

    def whoami():
        from creditfactory.audit import CurrentActor
        from creditfactory.identity.principal import CurrentPrincipal

        principal, actor = CurrentPrincipal.get_or_none(), CurrentActor.get_or_none()
        return {"principal": principal and [principal.username, principal.context.value, principal.tenant_slug,
                                            sorted(principal.roles), principal.user_id],
                "actor": [actor.kind.value, actor.id]}

    app.add_url_rule("/whoami", view_func=whoami)
    yield app
    settings_module.configure(cf_settings)


def stored(username: str) -> User:
    with shared_session() as shared:
        return shared.scalar(select(User).where(User.username == username))


def test_login_binds_the_principal_for_the_tenant(app, client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    response = log_in(client, f"/t/{tenant_a.slug}", username)
    assert response.status_code == 302 and response.headers["Location"] == f"/t/{tenant_a.slug}/account"
    page = client.get(f"/t/{tenant_a.slug}/account", headers=HTML)
    assert page.status_code == 200 and "李娜" in page.get_data(as_text=True)
    who = client.get(f"/t/{tenant_a.slug}/whoami").json
    assert who["principal"][:4] == [username, "tenant", tenant_a.slug, ["loan_officer"]]
    assert who["actor"] == ["user", str(who["principal"][4])]
    assert stored(username).last_login_at == START


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    wrong = log_in(client, f"/t/{tenant_a.slug}", username, "not the passphrase at all")
    unknown = log_in(client, f"/t/{tenant_a.slug}", "nobody.here", "not the passphrase at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_data(as_text=True).replace(username, "X") == unknown.get_data(as_text=True).replace("nobody.here", "X")
    # A person with no role in this bank is refused the same way: memberships are not revealed either.
    assert log_in(client, f"/t/{tenant_a.slug}", make_user("platform_admin")).status_code == 401


def test_lockout_after_failures_and_unlock_after_the_lockout(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    for _ in range(3):
        assert log_in(client, f"/t/{tenant_a.slug}", username, "wrong wrong wrong").status_code == 401
    assert stored(username).locked_until == START + dt.timedelta(minutes=15)
    # Locked: even the right password is refused, with the same answer as any failure.
    assert log_in(client, f"/t/{tenant_a.slug}", username).status_code == 401
    now.advance(minutes=15, seconds=1)
    assert log_in(client, f"/t/{tenant_a.slug}", username).status_code == 302
    assert stored(username).failed_login_count == 0 and stored(username).locked_until is None


def test_idle_and_absolute_expiry(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    profile = f"/t/{tenant_a.slug}/account"
    log_in(client, f"/t/{tenant_a.slug}", username)
    now.advance(minutes=29)
    assert client.get(profile, headers=HTML).status_code == 200
    now.advance(minutes=31)
    expired = client.get(profile, headers=HTML)
    assert expired.status_code == 302 and "/login?" in expired.headers["Location"]
    assert "expired=1" in expired.headers["Location"]

    log_in(client, f"/t/{tenant_a.slug}", username)
    for _ in range(12 * 60 // 20):
        now.advance(minutes=20)
        if client.get(profile, headers=HTML).status_code != 200:
            break
    # Active every 20 minutes, the session still ends 12 hours after login.
    assert now.at - START > dt.timedelta(hours=12)
    assert now.at - START <= dt.timedelta(hours=12, minutes=20) + dt.timedelta(minutes=60)


def test_a_session_is_refused_on_another_tenant_never_switched(client, make_user, tenant_a, tenant_b, now):
    username = make_user("loan_officer", tenant_a)
    with SystemContext("test: grant"), shared_session() as shared, shared.begin():
        services.grant(shared, username, "approver", tenant_b.slug)
    log_in(client, f"/t/{tenant_a.slug}", username)
    assert client.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 200
    refused = client.get(f"/t/{tenant_b.slug}/account")
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert tenant_a.slug in refused.json["detail"]
    assert client.get(f"/t/{tenant_b.slug}/api/v1/tenant").status_code == 403
    assert client.get("/account").status_code == 403
    # Still acting for the first bank afterwards.
    assert client.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 200


def test_head_office_login_at_the_root(client, make_user, now):
    username = make_user("head_office_product_owner")
    assert log_in(client, "", username).headers["Location"] == "/account"
    page = client.get("/account", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert "Head-office product owner" in page.get_data(as_text=True)


def test_forced_password_change(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a, must_change=True)
    prefix = f"/t/{tenant_a.slug}"
    assert log_in(client, prefix, username).headers["Location"] == f"{prefix}/account/password"
    assert client.get(f"{prefix}/account", headers=HTML).headers["Location"] == f"{prefix}/account/password"
    token = csrf(client, f"{prefix}/account/password")
    weak = client.post(f"{prefix}/account/password", headers=HTML, data={
        "current_password": PASSWORD, "new_password": "short", "confirm_password": "short", "csrf_token": token})
    assert weak.status_code == 400
    new = "my own new passphrase 2026"
    done = client.post(f"{prefix}/account/password", headers=HTML, data={
        "current_password": PASSWORD, "new_password": new, "confirm_password": new, "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == f"{prefix}/account"
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 200
    assert stored(username).must_change_password is False


def test_posts_without_the_csrf_token_are_refused(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    prefix = f"/t/{tenant_a.slug}"
    no_token = client.post(f"{prefix}/login", data={"username": username, "password": PASSWORD})
    assert no_token.status_code == 400 and no_token.mimetype == "application/problem+json"
    assert "CSRF" in no_token.json["detail"]
    csrf(client, f"{prefix}/login")
    forged = client.post(f"{prefix}/login", data={"username": username, "password": PASSWORD,
                                                  "csrf_token": "forged"}, headers=HTML)
    assert forged.status_code == 400 and forged.mimetype == "text/html"
    log_in(client, prefix, username)
    assert client.post(f"{prefix}/logout").status_code == 400
    # A JSON call with the session cookie needs the token in a header.
    token = csrf(client, f"{prefix}/account/password")
    assert client.delete(f"{prefix}/api/v1/tenant").status_code == 400
    assert client.delete(f"{prefix}/api/v1/tenant", headers={"X-CSRF-Token": token}).status_code == 405


def test_logout_ends_the_session(client, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    prefix = f"/t/{tenant_a.slug}"
    log_in(client, prefix, username)
    token = csrf(client, f"{prefix}/account")
    response = client.post(f"{prefix}/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == f"{prefix}/login"
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 302
    # Logged out, the other bank's pages answer again: nothing of the old session is left.
    assert client.get("/", headers=HTML).status_code == 200


@pytest.mark.parametrize("key, value", [("login_max_failures", 0), ("login_lockout_minutes", 0),
                                        ("session_absolute_hours", 25), ("session_idle_minutes", 13 * 60)])
def test_login_settings_are_validated(key, value):
    with pytest.raises(settings_module.SettingsError, match=key.upper()):
        settings_module.load({}, **{key: value})
