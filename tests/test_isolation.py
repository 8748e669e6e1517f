"""Tenant isolation, with positive controls: what A writes, A sees and B never does (ORM, raw SQL, CLI).

Writes are committed: data rolled back in one connection would be invisible to another anyway and prove nothing.
Job-level isolation is in test_jobs.py.
"""

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from creditfactory.cli import cli
from creditfactory.db import CurrentTenant, NoTenantBound, SystemContext, engine_for, session, shared_session, tenant_session
from creditfactory.db.context import TenantMismatch
from creditfactory.tenancy.models import TenantParameter


@pytest.fixture
def secret(tenant_a):
    """A parameter committed in tenant A only; removed afterwards."""
    key, value = f"isolation.{uuid.uuid4().hex}", f"only-in-a-{uuid.uuid4().hex}"
    with tenant_session(tenant_a) as s, s.begin():
        s.add(TenantParameter(key=key, value=value))
    yield key, value
    with tenant_session(tenant_a) as s, s.begin():
        s.execute(text("DELETE FROM tenant_parameter WHERE key = :k"), {"k": key})


def test_orm(secret, tenant_a, tenant_b):
    key, value = secret
    with tenant_session(tenant_a) as s:
        assert s.get(TenantParameter, key).value == value  # positive control
    with tenant_session(tenant_b) as s:
        assert s.get(TenantParameter, key) is None
        assert value not in [p.value for p in s.scalars(select(TenantParameter))]


def test_raw_sql_sees_only_the_bound_tenant(secret, tenant_a, tenant_b):
    key, value = secret
    query = text("SELECT value FROM tenant_parameter WHERE key = :k")
    with tenant_session(tenant_a) as s:
        assert s.execute(query, {"k": key}).scalar() == value
    with tenant_session(tenant_b) as s:
        assert s.execute(query, {"k": key}).scalar() is None
        assert s.execute(text("SHOW search_path")).scalar() == tenant_b.schema


def test_raw_sql_without_a_tenant_fails_closed(secret, cf_settings):
    with engine_for().connect() as conn:
        with pytest.raises(ProgrammingError, match="does not exist"):
            conn.execute(text("SELECT * FROM tenant_parameter"))


def test_search_path_does_not_leak_through_the_pool(secret, tenant_a):
    with tenant_session(tenant_a) as s:
        s.execute(text("SELECT 1")).all()
        s.commit()
    # Every pooled connection is back at the role's default: no tenant schema.
    connections = [engine_for().connect() for _ in range(3)]
    try:
        for conn in connections:
            assert "t_" not in conn.execute(text("SHOW search_path")).scalar()
    finally:
        for conn in connections:
            conn.close()


def test_tenant_tables_do_not_resolve_in_a_shared_session(secret):
    with shared_session() as s:
        with pytest.raises(ProgrammingError):
            s.scalars(select(TenantParameter)).all()


def test_unbound_access_is_refused_and_switching_tenants_is_refused(tenant_a, tenant_b):
    with pytest.raises(NoTenantBound):
        session()
    with CurrentTenant.bind(tenant_a):
        with pytest.raises(TenantMismatch):
            with CurrentTenant.bind(tenant_b):
                pass
        assert session().tenant == tenant_a
    with SystemContext("test fan-out"):
        for tenant in (tenant_a, tenant_b):
            with CurrentTenant.bind(tenant):
                assert CurrentTenant.get() == tenant


def test_cli(secret, tenant_a, tenant_b):
    key, value = secret
    runner = CliRunner()
    shown_a = json.loads(runner.invoke(cli, ["tenants", "show", tenant_a.slug, "--json"]).output)
    shown_b = json.loads(runner.invoke(cli, ["tenants", "show", tenant_b.slug, "--json"]).output)
    assert shown_a["parameters"][key] == value
    assert key not in shown_b["parameters"] and value not in json.dumps(shown_b, ensure_ascii=False)
