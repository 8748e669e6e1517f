"""The spare-schema pool: provisioning renames a ready schema; stale spares are never claimed."""

import dataclasses

import pytest
from sqlalchemy import text

from creditfactory import settings as settings_module
from creditfactory.db import engine_for, tenant_session
from creditfactory.tenancy import migrations, services, spares
from creditfactory.tenancy.models import TenantParameter
from creditfactory.tenancy.schema import head


@pytest.fixture
def pool(cf_settings, monkeypatch):
    """A pool of two spares for the test; whatever is left is dropped afterwards."""
    monkeypatch.setattr(settings_module, "_current", dataclasses.replace(cf_settings, spare_schemas=2))
    yield
    spares.refresh(target=0)
    with engine_for().connect() as conn:
        for name, _ in spares.spares(conn):
            with engine_for().begin() as drop:
                drop.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')


def _spare_names():
    with engine_for().connect() as conn:
        return [name for name, _ in spares.spares(conn)]


def test_refresh_builds_the_pool_and_provisioning_claims_from_it(pool, tenant_factory):
    assert spares.refresh() == (0, 2)
    before = _spare_names()
    assert len(before) == 2
    tenant = tenant_factory(parameters={"region.crop": "tea"})
    after = _spare_names()
    assert len(after) == 1 and set(after) < set(before)
    with tenant_session(tenant) as session:
        assert session.get(TenantParameter, "region.crop").value == "tea"
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == head("tenant")
    with engine_for().connect() as conn:
        comment = conn.scalar(text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :s"),
                              {"s": tenant.schema})
    assert comment is None
    assert spares.refresh() == (0, 1)


def test_a_stale_spare_is_never_claimed_and_refresh_replaces_it(pool, tenant_factory):
    spares.refresh()
    stale = _spare_names()[0]
    with engine_for().begin() as conn:
        conn.exec_driver_sql(f"COMMENT ON SCHEMA \"{stale}\" IS 'creditfactory spare from older models'")
        others = [n for n in _spare_names() if n != stale]
        for name in others:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    tenant = tenant_factory()
    assert stale in _spare_names()  # built in place instead
    with tenant_session(tenant) as session:
        assert session.execute(text("SELECT count(*) FROM holiday")).scalar() == 0
    assert spares.refresh() == (1, 2)
    assert stale not in _spare_names()


def test_db_upgrade_keeps_the_pool_and_spares_are_not_tenants(pool):
    report = migrations.upgrade(workers=1)
    assert report.spares["default"][1] in (0, 2) and len(_spare_names()) == 2
    _, _, versions = migrations.status()
    assert not any(v.slug.startswith("cf_spare") for v in versions)
    with pytest.raises(services.TenantError):
        services.suspend("cf_spare_x", "spares are not tenants")


def test_spare_names_are_the_only_extra_schemas_quote_schema_accepts():
    from creditfactory.tenancy.schema import InvalidSlug, quote_schema

    assert quote_schema("cf_spare_0123456789abcdef") == '"cf_spare_0123456789abcdef"'
    for bad in ("cf_spare_x; drop", "public", "cf_spare_0123456789ABCDEF"):
        with pytest.raises(InvalidSlug):
            quote_schema(bad)
