"""pytest fixtures for Credit Factory and its plugins: a real database, tenants, rolled-back sessions.

Loaded through the ``pytest11`` entry point, so a plugin's own tests need no conftest.
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest


# A developer's own deployment settings must never point the tests at real data.
_DEPLOYMENT_VARIABLES = {"CREDITFACTORY_SETTINGS", "CREDITFACTORY_DATABASE_URL", "CREDITFACTORY_BROKER_URL",
                         "CREDITFACTORY_DATA_DIR", "CREDITFACTORY_CLUSTERS"}


@pytest.fixture(scope="session")
def cf_settings(tmp_path_factory):
    """Settings for the test run: a fresh database (migrated by running the migrations) and temp data dir."""
    from .. import settings as settings_module
    from ..db.engines import dispose_engines
    from ..tenancy import migrations
    from .database import create_database, drop_database

    url = create_database()
    previous = settings_module.get() if settings_module._current is not None else None
    broker_url = os.environ.get("CREDITFACTORY_TEST_BROKER_URL", "")
    settings = settings_module.configure(settings_module.load(
        environ={k: v for k, v in os.environ.items() if k not in _DEPLOYMENT_VARIABLES and not k.startswith("CREDITFACTORY_TEST_")},
        database_url=url,
        data_dir=str(tmp_path_factory.mktemp("cf-data")),
        broker_url=broker_url,
        tenant_cache_ttl=0.0,
        # Tests provision by building in place; tests/test_spares.py covers the spare pool on purpose.
        spare_schemas=0,
        migration_workers=2,
        # Suites log in and fetch tokens far more often than a person does; tests/test_limits.py sets real limits.
        ratelimit_login="10000/minute", ratelimit_oauth="10000/minute",
        # The platform's tests never load whatever plugins happen to be installed; plugin tests register theirs
        # with the plugin_host / enabled_plugin fixtures.
        plugins=(),
    ))
    dispose_engines()
    migrations.upgrade(workers=1)
    # Intake and review run the decision engine, which needs the head-office rule sets in force.
    from ..lending.origination.services import ensure_standard_rules
    ensure_standard_rules("test: standard rule sets")
    yield settings
    dispose_engines()
    drop_database(url)
    if previous is not None:
        settings_module.configure(previous)


@pytest.fixture
def fresh_database(cf_settings):
    """A database of its own for one test (migrated, no tenants), for work that acts on every tenant
    registered, such as ``tenants apply --prune``; the session's database is untouched."""
    import dataclasses

    from .. import settings as settings_module
    from ..db.engines import dispose_engines
    from ..tenancy import migrations
    from ..tenancy.registry import directory
    from .database import create_database, drop_database

    url = create_database("cf_test_fresh")
    dispose_engines()
    directory.invalidate()
    settings = settings_module.configure(dataclasses.replace(cf_settings, database_url=url))
    try:
        migrations.upgrade(workers=1)
        yield settings
    finally:
        dispose_engines()
        directory.invalidate()
        settings_module.configure(cf_settings)
        drop_database(url)


_counter = itertools.count(1)


@pytest.fixture(scope="session")
def tenant_factory(cf_settings):
    """``tenant_factory(**fields)`` provisions a real tenant (committed) and returns its TenantRef.

    Provisioning is audited; it is attributed to the system actor ``test:tenant_factory``.
    """
    from ..audit import Actor, ActorKind, CurrentActor
    from ..tenancy import services

    def make(**fields):
        n = next(_counter)
        slug = fields.pop("slug", f"t{uuid.uuid4().hex[:6]}{n}")
        spec = services.TenantSpec.from_mapping({
            "slug": slug,
            "name_zh": fields.pop("name_zh", f"测试村镇银行{n}"),
            "name_en": fields.pop("name_en", f"Test Village Bank {n}"),
            "legal_entity_code": fields.pop("legal_entity_code", f"TEST{uuid.uuid4().hex[:10].upper()}"),
            "province": fields.pop("province", "云南省"),
            **fields,
        })
        with CurrentActor.bind(Actor(id="test:tenant_factory", kind=ActorKind.SYSTEM)):
            return services.provision(spec)

    return make


@pytest.fixture(scope="session")
def tenant_a(tenant_factory):
    return tenant_factory(name_en="Tenant A Village Bank")


@pytest.fixture(scope="session")
def tenant_b(tenant_factory):
    return tenant_factory(name_en="Tenant B Village Bank")


@pytest.fixture
def tenant_db(cf_settings):
    """``tenant_db(tenant)``: a session for ``tenant`` inside a transaction rolled back after the test.

    Each call gets its own connection, so two tenants' sessions never share a search_path.
    """
    from ..db import engine_for, tenant_session

    opened = []

    def make(tenant):
        conn = engine_for(tenant.cluster).connect()
        outer = conn.begin()
        session = tenant_session(tenant, bind=conn)
        opened.append((conn, outer, session))
        return session

    yield make
    for conn, outer, session in opened:
        session.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def shared_db(cf_settings):
    """A ``cf_shared`` session inside a transaction rolled back after the test."""
    from ..db import engine_for, shared_session

    conn = engine_for("default").connect()
    outer = conn.begin()
    session = shared_session(bind=conn)
    yield session
    session.close()
    outer.rollback()
    conn.close()


@pytest.fixture
def stub_broker(cf_settings):
    """An in-memory dramatiq broker with the tenant middleware, installed for the test; actors send to it."""
    from dramatiq.brokers.stub import StubBroker

    from ..jobs import standard_middleware, use_broker

    broker = StubBroker(middleware=standard_middleware())
    with use_broker(broker):
        yield broker
    broker.close()


@pytest.fixture(scope="module")
def app(cf_settings):
    """The web application on the test settings (one per test module; override it to change settings)."""
    from ..app import create_app

    return create_app(cf_settings, testing=True)


@pytest.fixture
def client(app):
    """A Flask test client of ``app``."""
    return app.test_client()


@pytest.fixture
def now(monkeypatch):
    """The clock logins, sessions and second factors read, from ``staff.CLOCK_START``; ``now.advance(minutes=5)``."""
    import datetime as dt

    from ..identity import clock
    from .staff import CLOCK_START

    class Clock:
        at = CLOCK_START

        def advance(self, **delta):
            self.at += dt.timedelta(**delta)

    fake = Clock()
    monkeypatch.setattr(clock, "now", lambda: fake.at)
    return fake


@pytest.fixture
def make_user(cf_settings):
    """``make_user(role, tenant=None, must_change=False)``: a committed user with ``staff.STAFF_PASSWORD`` and one
    role, removed after the test."""
    from sqlalchemy import delete

    from ..db import SystemContext, shared_session
    from ..identity import services
    from ..identity.models import User
    from .staff import STAFF_PASSWORD

    made = []

    def make(role: str, tenant=None, *, must_change: bool = False) -> str:
        username = f"u{uuid.uuid4().hex[:10]}"
        with SystemContext("test: staff users"), shared_session() as shared, shared.begin():
            user, _ = services.create_user(shared, username, "李娜", password=STAFF_PASSWORD)
            user.must_change_password = must_change
            services.grant(shared, username, role, tenant.slug if tenant else None)
        made.append(username)
        return username

    yield make
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_(made)))


@pytest.fixture
def plugin_host(cf_settings):
    """A fresh plugin host with only the built-in plugins, installed for the test: ``plugin_host.register(module,
    "name")`` adds a plugin (a module or object with ``@creditfactory.hookimpl`` functions)."""
    from ..plugins.host import PluginHost, forget_enabled, use_host

    host = PluginHost(discover=False)
    previous = use_host(host)
    forget_enabled()
    yield host
    use_host(previous)
    forget_enabled()
    host.close()


@pytest.fixture
def enabled_plugin(plugin_host):
    """``enabled_plugin(module, name, tenant, config=None)``: register a plugin and enable it for ``tenant`` (with
    ``config``, checked against the plugin's schema); returns the plugin's info."""
    from ..audit import Actor, ActorKind, CurrentActor
    from ..db import CurrentTenant, tenant_session
    from ..plugins import services

    def enable(module, name, tenant, config=None):
        if name not in plugin_host.plugins:
            plugin_host.register(module, name)
        with CurrentActor.bind(Actor(id="test:enabled_plugin", kind=ActorKind.SYSTEM)), \
                CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
            services.enable(session, name, config or {}, host=plugin_host)
        return plugin_host.plugins[name]

    return enable


@pytest.fixture
def api_client(app):
    """``api_client(tenant, "scope1 scope2")``: a test client whose requests carry a bearer token of a machine client
    of ``tenant`` holding those scopes; its ``prefix`` is the tenant's path (``/t/<slug>``)."""
    import base64

    from ..db import SystemContext, shared_session
    from ..identity.oauth import services as oauth_services

    def make(tenant, scopes: str):
        with SystemContext("test: api_client"), shared_session() as session, session.begin():
            issued = oauth_services.create_client(session, "plugin test client", scopes, tenant_slug=tenant.slug)
        client = app.test_client()
        basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers={"Authorization": f"Basic {basic}"})
        assert token.status_code == 200, token.get_json()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token.get_json()['access_token']}"
        client.prefix = f"/t/{tenant.slug}"
        return client

    return make
