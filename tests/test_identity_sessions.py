"""Server-side staff sessions: logout, password change/reset, lock, role revocation and "log out everywhere" end
them at once; the profile lists them with a revoke button; idle and absolute expiry still work."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services
from creditfactory.identity.models import StaffSession, User
from creditfactory.testing.staff import STAFF_PASSWORD, csrf_token, log_in

# Village-bank pages render in the bank's locale (zh), whatever the browser asks for.
HTML = {"Accept": "text/html", "Accept-Language": "en", "User-Agent": "TestBrowser/1.0"}


def logged_in(app, prefix, username):
    client = app.test_client()
    done = log_in(client, prefix, username, headers=HTML)
    assert done.status_code == 302, done.get_data(as_text=True)
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 200
    return client


def is_in(client, prefix) -> bool:
    return client.get(f"{prefix}/account", headers=HTML).status_code == 200


def post(client, prefix, path, **data):
    token = csrf_token(client, f"{prefix}/account", HTML)
    return client.post(f"{prefix}{path}", headers=HTML, data={"csrf_token": token, **data})


def rows(username):
    with shared_session() as shared:
        return list(shared.scalars(select(StaffSession).join(User, User.id == StaffSession.user_id)
                                   .where(User.username == username).order_by(StaffSession.id)))


def test_a_copied_cookie_dies_with_logout(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    client = logged_in(app, prefix, username)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert is_in(copy, prefix)
    assert post(client, prefix, "/logout").status_code == 302
    assert not is_in(client, prefix) and not is_in(copy, prefix)
    [row] = rows(username)
    assert row.end_reason == "logout" and row.ended_at is not None and row.user_agent == "TestBrowser/1.0"
    assert row.tenant_id is not None and row.context == "tenant"


def test_password_change_ends_the_other_sessions_only(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    here, elsewhere = logged_in(app, prefix, username), logged_in(app, prefix, username)
    token = csrf_token(here, f"{prefix}/account/password", HTML)
    changed = here.post(f"{prefix}/account/password", headers=HTML, data={
        "csrf_token": token, "current_password": STAFF_PASSWORD, "new_password": "another long passphrase",
        "confirm_password": "another long passphrase"})
    assert changed.status_code == 302
    assert is_in(here, prefix) and not is_in(elsewhere, prefix)
    assert [r.end_reason for r in rows(username)] == [None, "password"]


def test_reset_lock_and_role_revocation_end_sessions(app, make_user, tenant_a, now, cf_settings):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    client = logged_in(app, prefix, username)
    with SystemContext("test"), shared_session() as shared, shared.begin():
        services.reset_password(shared, username)
    assert not is_in(client, prefix)

    other = make_user("reviewer", tenant_a)
    client = logged_in(app, prefix, other)
    with SystemContext("test"), shared_session() as shared, shared.begin():
        services.revoke(shared, other, "reviewer", tenant_a.slug)
    assert not is_in(client, prefix)
    assert rows(other)[-1].end_reason == "role_revoked"

    third = make_user("auditor", tenant_a)
    client = logged_in(app, prefix, third)
    for _ in range(cf_settings.login_max_failures):
        log_in(app.test_client(), prefix, third, password="wrong password entirely", headers=HTML)
    assert not is_in(client, prefix)
    assert rows(third)[-1].end_reason == "locked"


def test_profile_lists_sessions_and_revokes_one_or_all(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    first, second, third = (logged_in(app, prefix, username) for _ in range(3))
    page = first.get(f"{prefix}/account", headers=HTML).get_data(as_text=True)
    assert page.count("TestBrowser/1.0") == 3 and "当前会话" in page and "退出所有会话" in page
    ids = [int(i) for i in re.findall(r"/account/sessions/(\d+)/end", page)]
    assert len(ids) == 3
    second_id = rows(username)[1].id
    assert post(first, prefix, f"/account/sessions/{second_id}/end").headers["Location"].endswith("/account")
    assert is_in(first, prefix) and not is_in(second, prefix) and is_in(third, prefix)
    # Someone else's session id ends nothing.
    intruder = logged_in(app, prefix, make_user("loan_officer", tenant_a))
    post(intruder, prefix, f"/account/sessions/{rows(username)[2].id}/end")
    assert is_in(third, prefix)
    # Log out everywhere: this one too.
    assert post(first, prefix, "/account/sessions/end-all").headers["Location"].endswith("/login")
    assert not is_in(first, prefix) and not is_in(third, prefix)
    assert {r.end_reason for r in rows(username)} == {"revoked", "everywhere"}


def test_idle_and_absolute_expiry_still_end_sessions(app, make_user, tenant_a, now, cf_settings):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    client = logged_in(app, prefix, username)
    now.advance(minutes=cf_settings.session_idle_minutes + 1)
    expired = client.get(f"{prefix}/account", headers=HTML)
    assert expired.status_code == 302 and "expired=1" in expired.headers["Location"]
    assert rows(username)[-1].end_reason == "expired"
    client = logged_in(app, prefix, username)
    for _ in range(cf_settings.session_absolute_hours * 2 + 1):
        now.advance(minutes=29)
        client.get(f"{prefix}/account", headers=HTML)
    assert not is_in(client, prefix)
