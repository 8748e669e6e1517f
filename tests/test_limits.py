"""Rate limits on the login form and the OAuth2 client endpoints; uniform work on login and client failures."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import uuid

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete

from creditfactory import settings as settings_module
from creditfactory.app import create_app
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services
from creditfactory.identity.models import User
from creditfactory.identity.oauth import hashing, services as oauth_services
from creditfactory.identity.permissions import Context
from creditfactory.settings import SettingsError

PASSWORD = "a long enough passphrase"
HTML = {"Accept": "text/html"}
PROBLEM = "application/problem+json"
REDIS_URL = "redis://127.0.0.1:6379/15"


def limited_app(cf_settings, **overrides):
    settings = dataclasses.replace(cf_settings, **{"ratelimit_login": "3/minute", "ratelimit_oauth": "2/minute",
                                                   **overrides})
    return create_app(settings, testing=True)


@pytest.fixture(autouse=True)
def restore_settings(cf_settings):
    yield
    settings_module.configure(cf_settings)


@pytest.fixture(scope="module")
def user(cf_settings):
    username = f"u{uuid.uuid4().hex[:10]}"
    with SystemContext("test: staff user"), shared_session() as shared, shared.begin():
        services.create_user(shared, username, "李娜", password=PASSWORD)
        services.grant(shared, username, "head_office_risk_owner", None)
    yield username
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username == username))


@pytest.fixture(scope="module")
def oauth_client(cf_settings, tenant_a):
    with SystemContext("test: oauth client"), shared_session() as session, session.begin():
        issued = oauth_services.create_client(session, "核心系统", "loans:read", context=Context.TENANT,
                                              tenant_slug=tenant_a.slug)
    return issued.client.client_id, issued.client_secret


def csrf(client, path="/login"):
    page = client.get(path, headers=HTML).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def post_login(client, username, password="wrong password!!", **kwargs):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client)},
                       **kwargs)


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def get_token(client, creds, **kwargs):
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*creds), **kwargs)


def assert_too_many(response, html=False):
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    if html:
        assert response.mimetype == "text/html"
        return response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 429 and response.json["title"] == "Too Many Requests"
    return response.json


# --- settings ---------------------------------------------------------------------------------


def test_defaults_and_validation_name_the_key():
    defaults = settings_module.Settings()
    assert (defaults.ratelimit_storage_url, defaults.ratelimit_login, defaults.ratelimit_oauth) == \
        ("", "10/minute;100/hour", "30/minute")
    for key, value in [("ratelimit_storage_url", "memcached://x:11211"), ("ratelimit_login", "often"),
                       ("ratelimit_login", "0/minute"), ("ratelimit_oauth", "")]:
        with pytest.raises(SettingsError, match=f"CREDITFACTORY_{key.upper()}"):
            settings_module.load(environ={}, **{key: value})
    assert settings_module.load(environ={"CREDITFACTORY_RATELIMIT_STORAGE_URL": "rediss://cache:6380/2"}) \
        .ratelimit_storage_url == "rediss://cache:6380/2"


# --- login ------------------------------------------------------------------------------------


def test_login_post_over_the_limit_gets_429_problem_and_translated_page(cf_settings, user):
    client = limited_app(cf_settings).test_client()
    for _ in range(3):
        assert post_login(client, user).status_code == 401
    # The form itself is never limited: only posting it checks a password.
    assert client.get("/login", headers=HTML).status_code == 200
    body = assert_too_many(post_login(client, user, headers={"Accept": PROBLEM}))
    assert "Retry-After" in body["detail"]
    # Even the right password waits: the limit is on guessing from this address, whatever the guess.
    page = assert_too_many(post_login(client, user, PASSWORD, headers=HTML), html=True)
    assert "尝试次数过多" in page and "<script>" not in page
    client.set_cookie("cf_lang", "en")
    english = assert_too_many(post_login(client, user, headers=HTML), html=True)
    assert "Too many attempts" in english


def test_default_login_limit_is_ten_a_minute(cf_settings, user):
    client = create_app(dataclasses.replace(cf_settings, ratelimit_login="10/minute;100/hour"),
                        testing=True).test_client()
    for _ in range(10):
        assert post_login(client, user).status_code == 401
    assert_too_many(post_login(client, user))


def test_limits_are_per_client_address(cf_settings, user):
    client = limited_app(cf_settings).test_client()
    for _ in range(3):
        post_login(client, user, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert_too_many(post_login(client, user, environ_base={"REMOTE_ADDR": "192.0.2.1"}))
    assert post_login(client, user, environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 401
    # Without trusted proxies a client's own X-Forwarded-For is ignored: it cannot buy a fresh budget.
    spoofed = {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert_too_many(post_login(client, user, environ_base=spoofed))


def test_forwarded_address_counts_behind_a_trusted_proxy(cf_settings, user):
    client = limited_app(cf_settings, trusted_proxies=1).test_client()
    ingress = "10.0.0.5"
    for _ in range(3):
        post_login(client, user, environ_base={"REMOTE_ADDR": ingress, "HTTP_X_FORWARDED_FOR": "198.51.100.7"})
    assert_too_many(post_login(client, user, environ_base={"REMOTE_ADDR": ingress,
                                                           "HTTP_X_FORWARDED_FOR": "198.51.100.7"}))
    # Another client behind the same ingress is not punished for the first one.
    assert post_login(client, user, environ_base={"REMOTE_ADDR": ingress,
                                                  "HTTP_X_FORWARDED_FOR": "198.51.100.8"}).status_code == 401


# --- OAuth2 client endpoints ------------------------------------------------------------------


def test_token_endpoint_over_the_limit_gets_429_problem(cf_settings, oauth_client):
    client = limited_app(cf_settings).test_client()
    assert get_token(client, oauth_client).status_code == 200
    assert get_token(client, (oauth_client[0], "wrong")).status_code == 401
    assert_too_many(get_token(client, oauth_client))
    # Each client endpoint counts on its own, by the same per-address limit.
    for _ in range(2):
        assert client.post("/oauth/introspect", data={"token": "x"}, headers=basic(*oauth_client)).status_code == 200
    assert_too_many(client.post("/oauth/introspect", data={"token": "x"}, headers=basic(*oauth_client)))
    for _ in range(2):
        assert client.post("/oauth/revoke", data={"token": "x"}, headers=basic(*oauth_client)).status_code == 200
    assert_too_many(client.post("/oauth/revoke", data={"token": "x"}, headers=basic(*oauth_client)))


def test_health_and_other_endpoints_are_never_limited(cf_settings, oauth_client):
    client = limited_app(cf_settings, ratelimit_login="1/minute", ratelimit_oauth="1/minute").test_client()
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/login", headers=HTML).status_code == 200
        assert client.get("/api/v1/openapi.json").status_code != 429


# --- Redis storage ----------------------------------------------------------------------------


@pytest.fixture
def redis_db():
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable, and CI must test the Redis storage")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable (start one to test the shared rate-limit storage)")

    def clear():
        for key in connection.scan_iter("LIMITS:LIMITER/creditfactory/*"):
            connection.delete(key)

    clear()
    yield connection
    clear()
    connection.close()


def test_redis_storage_is_shared_between_apps(cf_settings, user, redis_db):
    # Two apps stand for two web pods: a client cannot spread its guesses over them.
    first, second = (limited_app(cf_settings, ratelimit_storage_url=REDIS_URL).test_client() for _ in range(2))
    for client in (first, second, first):
        assert post_login(client, user).status_code == 401
    assert_too_many(post_login(second, user))
    assert any(True for _ in redis_db.scan_iter("LIMITS:LIMITER/creditfactory/*"))


# --- uniform failures -------------------------------------------------------------------------


@pytest.fixture
def hasher_calls(monkeypatch):
    """Counts of argon2 verify and hash calls, wherever the identity code makes them."""
    calls = {"verify": 0, "hash": 0}
    for name in calls:
        original = getattr(PasswordHasher, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(PasswordHasher, name, spy)
    return calls


def test_unknown_user_and_wrong_password_do_the_same_work_and_answer_alike(client, user, hasher_calls):
    def failure(username):
        post_login(client, "warm-up")  # the dummy hash is computed once per process
        before = dict(hasher_calls)
        response = post_login(client, username)
        work = {name: hasher_calls[name] - before[name] for name in hasher_calls}
        page = response.get_data(as_text=True).replace(username, "USERNAME")
        return response.status_code, re.sub(r'name="csrf_token" value="[^"]+"', "", page), work

    unknown, wrong = failure(f"nobody{uuid.uuid4().hex[:8]}"), failure(user)
    assert unknown == wrong
    assert wrong[0] == 401 and wrong[2] == {"verify": 1, "hash": 0}


def test_unknown_client_and_wrong_secret_do_the_same_work_and_answer_alike(client, oauth_client, monkeypatch):
    digests = []
    original = hashing.digest
    monkeypatch.setattr(hashing, "digest", lambda value: digests.append(value) or original(value))

    def failure(creds):
        start = len(digests)
        response = get_token(client, creds)
        body = response.json
        return response.status_code, body, dict(response.headers).get("WWW-Authenticate"), len(digests) - start

    unknown = failure((f"cf_{uuid.uuid4().hex[:12]}", "x" * 43))
    wrong = failure((oauth_client[0], "x" * 43))
    assert unknown == wrong
    assert wrong[0] == 401 and wrong[1]["error"] == "invalid_client" and wrong[3] == 1


def test_second_factor_posts_are_limited_like_the_login(cf_settings):
    client = limited_app(cf_settings, ratelimit_login="2/minute").test_client()
    for path in ("/login/totp", "/login/totp/enrol"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200
        token = client.get("/login", headers=HTML).get_data(as_text=True).split('name="csrf_token" value="')[1]
        token = token.split('"')[0]
        for _ in range(2):
            assert client.post(path, data={"code": "123456", "csrf_token": token}, headers=HTML).status_code != 429
        assert_too_many(client.post(path, data={"code": "123456", "csrf_token": token}, headers=HTML), html=True)
