"""TOTP second factor: policy, enrolment, login with a code, refusals, the half-logged-in state, sealed secret."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import urllib.parse

import pyotp
import pytest
from sqlalchemy import select, text

from creditfactory import settings as settings_module
from creditfactory.app import create_app
from creditfactory.db import shared_session
from creditfactory.identity import totp
from creditfactory.identity.models import User
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import Principal
from creditfactory.testing.staff import CLOCK_START, csrf_token, log_in as staff_log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}
START = CLOCK_START


def csrf(client, path: str) -> str:
    return csrf_token(client, path, HTML)


def log_in(client, prefix: str, username: str):
    return staff_log_in(client, prefix, username, headers=HTML)


REFUSED = "The code is incorrect or was already used."


@pytest.fixture(scope="module")
def app(cf_settings):
    app = create_app(dataclasses.replace(cf_settings, login_max_failures=3, login_lockout_minutes=15), testing=True)
    yield app
    settings_module.configure(cf_settings)


def post_code(client, path: str, code: str):
    return client.post(path, headers=HTML, data={"code": code, "csrf_token": csrf(client, path)})


def without_token(response) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))


def stored(username: str) -> User:
    with shared_session() as shared:
        return shared.scalar(select(User).where(User.username == username))


def enrol(client, prefix: str, username: str, at: dt.datetime) -> pyotp.TOTP:
    """Log in as an administrator without a second factor and enrol; returns the app's generator."""
    assert log_in(client, prefix, username).headers["Location"] == f"{prefix}/login/totp/enrol"
    page = client.get(f"{prefix}/login/totp/enrol", headers=HTML).get_data(as_text=True)
    uri = re.search(r'<code class="secret">(otpauth://[^<]+)</code>', page)[1].replace("&amp;", "&")
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    app = pyotp.TOTP(secret)
    done = post_code(client, f"{prefix}/login/totp/enrol", app.at(at))
    assert done.status_code == 302 and done.headers["Location"] == f"{prefix}/account"
    return app


@pytest.mark.parametrize("context, roles, tenant, required", [
    (Context.HEAD_OFFICE, {"platform_admin"}, None, True),
    (Context.REGULATOR, {"regulator"}, None, True),
    (Context.TENANT, {"tenant_admin"}, "puer", True),
    (Context.TENANT, {"loan_officer", "reviewer"}, "puer", False),
    (Context.HEAD_OFFICE, {"benchmarking_analyst"}, None, False),
    # A role outside its own context grants nothing, and asks for nothing either.
    (Context.HEAD_OFFICE, {"tenant_admin", "benchmarking_analyst"}, None, False),
])
def test_who_must_use_a_second_factor(context, roles, tenant, required):
    principal = Principal(1, "x", context, tenant, frozenset(), frozenset(roles))
    assert totp.totp_required(principal) is required


def test_admin_is_forced_to_enrol_and_gets_nothing_meanwhile(app, make_user, tenant_a, now):
    client = app.test_client()
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("tenant_admin", tenant_a)
    assert log_in(client, prefix, username).headers["Location"] == f"{prefix}/login/totp/enrol"
    # Half logged in: every page still asks for a login, and the code page has no enrolled factor to check.
    page = client.get(f"{prefix}/account", headers=HTML)
    assert page.status_code == 302 and page.headers["Location"].startswith(f"{prefix}/login?next=")
    assert client.get(f"{prefix}/account/password", headers=HTML).status_code == 302
    assert post_code(client, f"{prefix}/login/totp", "123456").status_code == 401
    # Reloading the enrolment page keeps the same key: the one already typed into the app stays valid.
    first = client.get(f"{prefix}/login/totp/enrol", headers=HTML).get_data(as_text=True)
    again = client.get(f"{prefix}/login/totp/enrol", headers=HTML).get_data(as_text=True)
    assert "<script" not in first and re.findall(r"otpauth://[^<]+", first) == re.findall(r"otpauth://[^<]+", again)
    assert stored(username).totp_enabled_at is None


def test_enrolment_and_confirmation(app, make_user, now):
    client = app.test_client()
    username = make_user("platform_admin")
    log_in(client, "", username)
    page = client.get("/login/totp/enrol", headers=HTML).get_data(as_text=True)
    uri = re.search(r"otpauth://[^<]+", page)[0].replace("&amp;", "&")
    assert uri.startswith(f"otpauth://totp/Credit%20Factory:{username}?") and "issuer=Credit%20Factory" in uri
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page
    wrong = post_code(client, "/login/totp/enrol", "000000" if pyotp.TOTP(secret).at(START) != "000000" else "111111")
    assert wrong.status_code == 401 and REFUSED in wrong.get_data(as_text=True)
    assert stored(username).totp_enabled_at is None
    done = post_code(client, "/login/totp/enrol", pyotp.TOTP(secret).at(START))
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert client.get("/account", headers=HTML).status_code == 200
    user = stored(username)
    assert user.totp_enabled_at == START and user.totp_last_step == pyotp.TOTP(secret).timecode(START)


def test_login_with_the_second_factor(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("tenant_admin", tenant_a)
    generator = enrol(app.test_client(), prefix, username, START)
    now.advance(minutes=10)
    client = app.test_client()
    assert log_in(client, prefix, username).headers["Location"] == f"{prefix}/login/totp"
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 302
    # One step late still counts (a slow typist, a drifting phone clock).
    done = post_code(client, f"{prefix}/login/totp", generator.at(now.at - dt.timedelta(seconds=30)))
    assert done.status_code == 302 and done.headers["Location"] == f"{prefix}/account"
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 200


def test_wrong_stale_and_reused_codes_get_the_same_refusal(app, make_user, now):
    username = make_user("regulator")
    generator = enrol(app.test_client(), "", username, START)
    client = app.test_client()
    log_in(client, "", username)
    # The code that confirmed the enrolment, still inside its window: used once, never again.
    reused = post_code(client, "/login/totp", generator.at(START))
    stale = post_code(client, "/login/totp", generator.at(START - dt.timedelta(minutes=5)))
    assert reused.status_code == stale.status_code == 401
    assert without_token(reused) == without_token(stale) and REFUSED in reused.get_data(as_text=True)
    now.advance(seconds=30)
    assert post_code(client, "/login/totp", generator.at(now.at)).headers["Location"] == "/account"
    # The same code again, at another login within the same window.
    other = app.test_client()
    log_in(other, "", username)
    again = post_code(other, "/login/totp", generator.at(now.at))
    assert again.status_code == 401 and without_token(again) == without_token(reused)


def test_wrong_codes_lock_the_account(app, make_user, now):
    username = make_user("platform_admin")
    generator = enrol(app.test_client(), "", username, START)
    now.advance(minutes=1)
    client = app.test_client()
    log_in(client, "", username)
    wrong = "000000" if generator.at(now.at) != "000000" else "111111"
    for _ in range(3):
        assert post_code(client, "/login/totp", wrong).status_code == 401
    assert stored(username).locked_until == now.at + dt.timedelta(minutes=15)
    assert post_code(client, "/login/totp", generator.at(now.at)).status_code == 401


def test_the_pending_login_lapses(app, make_user, now):
    username = make_user("platform_admin")
    enrol(app.test_client(), "", username, START)
    now.advance(minutes=1)
    client = app.test_client()
    log_in(client, "", username)
    now.advance(minutes=6)
    late = client.get("/login/totp", headers=HTML)
    assert late.status_code == 200 and "Please log in again" in late.get_data(as_text=True)
    assert 'name="code"' not in late.get_data(as_text=True)
    assert client.get("/account", headers=HTML).status_code == 302


def test_the_secret_is_not_stored_in_clear(app, make_user, now):
    username = make_user("platform_admin")
    generator = enrol(app.test_client(), "", username, START)
    with shared_session() as shared:
        row = shared.execute(text("SELECT id, totp_secret FROM cf_shared.user_account WHERE username = :u"),
                             {"u": username}).one()
    assert generator.secret not in row.totp_secret and generator.secret.lower() not in row.totp_secret.lower()
    # Bound to its user: the same sealed value on another user's row does not open.
    copy = User(id=row.id + 1, username="copy", totp_secret=row.totp_secret)
    with pytest.raises(totp.SecretUnavailable):
        totp._unseal(copy)
