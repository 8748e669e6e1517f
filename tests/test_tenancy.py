"""Tenant lifecycle: provisioning, validation before SQL, suspension, offboarding."""

import datetime as dt

import pytest
from sqlalchemy import text

from creditfactory.db import engine_for
from creditfactory.tenancy import services
from creditfactory.tenancy.models import TenantParameter
from creditfactory.tenancy.registry import TenantUnavailable, directory
from creditfactory.tenancy.schema import InvalidSlug, head


def _schema_exists(schema):
    with engine_for().connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}) == 1


def _spec(slug, **extra):
    return services.TenantSpec.from_mapping({
        "slug": slug, "name_zh": "测试", "name_en": "Test", "legal_entity_code": f"LE-{slug}",
        "province": "湖北省", **extra,
    })


def test_provision_creates_schema_at_head_with_parameters(tenant_factory, tenant_db):
    tenant = tenant_factory(parameters={"region.crop": "rice"})
    assert tenant.status == "active"
    assert _schema_exists(f"t_{tenant.slug}")
    session = tenant_db(tenant)
    assert session.get(TenantParameter, "region.crop").value == "rice"
    assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == head("tenant")


@pytest.mark.parametrize("slug", ["A", "x", "1abc", "ab-c", 'a"; drop schema cf_shared; --', "a" * 32, "t_ok;"])
def test_invalid_slug_is_refused_before_sql(cf_settings, slug):
    with pytest.raises((InvalidSlug, services.TenantSpecError)):
        services.provision(services.TenantSpec(slug=slug, name_zh="x", name_en="x", legal_entity_code="x",
                                               province="x"))


def test_spec_errors_name_the_field(cf_settings):
    with pytest.raises(services.TenantSpecError) as info:
        services.TenantSpec.from_mapping({"slug": "okslug", "name_zh": "x", "name_en": "x",
                                          "legal_entity_code": "x", "province": "x", "timezone": "Mars/Base",
                                          "colour": "red"})
    assert "colour" in str(info.value)


def test_failure_midway_leaves_no_schema_and_records_reason(cf_settings):
    # A parameter key too long for its column fails inside the schema transaction, after CREATE SCHEMA.
    spec = _spec("halfmade", parameters={"k" * 200: 1})
    with pytest.raises(services.TenantError):
        services.provision(spec)
    assert not _schema_exists("t_halfmade")
    with engine_for().connect() as conn:
        status, reason = conn.execute(text("SELECT status, status_reason FROM cf_shared.tenant WHERE slug='halfmade'")).one()
    assert status == "failed" and reason
    # Retrying with a good spec succeeds.
    services.provision(_spec("halfmade"))
    assert _schema_exists("t_halfmade")


def test_provisioning_twice_is_refused(tenant_factory):
    tenant = tenant_factory()
    with pytest.raises(services.TenantError, match="already exists"):
        services.provision(_spec(tenant.slug))


def test_suspend_and_resume(tenant_factory):
    tenant = tenant_factory()
    with pytest.raises(services.TenantError):
        services.suspend(tenant.slug, "")
    services.suspend(tenant.slug, "audit finding")
    with pytest.raises(TenantUnavailable, match="suspended"):
        directory.get_serving(tenant.slug)
    assert _schema_exists(f"t_{tenant.slug}")
    services.resume(tenant.slug)
    assert directory.get_serving(tenant.slug).status == "active"


def test_offboard_exports_then_drops_after_retention(tenant_factory):
    tenant = tenant_factory(parameters={"k": {"v": 1}})
    export = services.offboard(tenant.slug)
    assert directory.get(tenant.slug).status == "offboarding"
    with engine_for().connect() as conn:
        path, drop_after = conn.execute(
            text("SELECT export_path, drop_after FROM cf_shared.tenant WHERE slug=:s"), {"s": tenant.slug}).one()
    assert path == str(export)
    from creditfactory.tenancy.backup import archive_key, read_manifest

    assert read_manifest(export, archive_key())["tables"]["tenant_parameter"]["rows"] == 1
    assert tenant.slug not in services.finalize_offboarding()
    assert _schema_exists(f"t_{tenant.slug}")
    later = drop_after + dt.timedelta(seconds=1)
    assert tenant.slug in services.finalize_offboarding(now=later)
    assert not _schema_exists(f"t_{tenant.slug}")


def test_a_legal_entity_code_belongs_to_one_tenant(tenant_factory):
    first = tenant_factory(legal_entity_code="LE-UNIQUE-1")
    with pytest.raises(services.TenantError, match=first.slug):
        services.provision(_spec("secondbank", legal_entity_code="LE-UNIQUE-1"))
    assert directory.lookup("secondbank") is None
