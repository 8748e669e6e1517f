"""Tenants on a second database cluster: provisioned, served, migrated and exported where the registry says."""

import dataclasses

import pytest
from sqlalchemy import text

from creditfactory import settings as settings_module
from creditfactory.db import engine_for, tenant_session
from creditfactory.db.engines import dispose_engines
from creditfactory.tenancy import migrations, services
from creditfactory.tenancy.models import TenantParameter
from creditfactory.tenancy.registry import directory
from creditfactory.testing.database import create_database, drop_database


@pytest.fixture
def east(cf_settings):
    """A second cluster ("east": another database, standing in for another server) for the test."""
    url = create_database("cf_test_east")
    settings_module.configure(dataclasses.replace(cf_settings, clusters={"east": url}))
    yield url
    dispose_engines()
    settings_module.configure(cf_settings)
    drop_database(url)


def _has_schema(cluster, schema):
    with engine_for(cluster).connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}))


def test_a_tenant_lives_where_the_registry_says(east, tenant_factory):
    tenant = tenant_factory(cluster="east", parameters={"region": "east"})
    assert directory.get_serving(tenant.slug).cluster == "east"
    assert _has_schema("east", tenant.schema) and not _has_schema("default", tenant.schema)
    with tenant_session(tenant) as session:
        assert session.get(TenantParameter, "region").value == "east"

    with engine_for("east").begin() as conn:  # pretend the tenant is behind head
        conn.exec_driver_sql(f'DROP SCHEMA "{tenant.schema}" CASCADE; CREATE SCHEMA "{tenant.schema}"')
    report = migrations.upgrade(workers=1, slugs=[tenant.slug])
    assert [r.slug for r in report.upgraded] == [tenant.slug]
    assert {v.slug: v for v in migrations.status()[2]}[tenant.slug].revision == report.head

    dispose_engines()  # new connections: the role's search_path on "east" was set by the upgrade
    with engine_for("east").connect() as conn:
        assert conn.scalar(text("SHOW search_path")) == "public"

    from creditfactory.tenancy.backup import archive_key, read_manifest

    export = services.offboard(tenant.slug)
    assert "holiday" in read_manifest(export, archive_key())["tables"]
    assert tenant.slug in services.finalize_offboarding(now=services.dt.datetime.max.replace(tzinfo=services.dt.timezone.utc))
    assert not _has_schema("east", tenant.schema)


def test_an_unknown_cluster_is_refused_before_any_sql(cf_settings):
    with pytest.raises(services.TenantSpecError, match="cluster"):
        services.TenantSpec.from_mapping({"slug": "nowhere", "name_zh": "x", "name_en": "x",
                                          "legal_entity_code": "NOWHERE", "province": "x", "cluster": "mars"})



def test_intake_with_admission_serves_a_tenant_on_another_cluster(east, tenant_factory, make_user):
    # The head-office tables (rule sets, memberships) live on the default cluster only: intake must read them
    # there, not over the tenant's own connection.
    from applications_support import principal
    from creditfactory.lending.applications.services import ApplicationError
    from test_origination import intake, records, world

    tenant = tenant_factory(cluster="east")
    try:
        officer = principal(make_user("loan_officer", tenant), tenant, "loan_officer")
        colleague = principal(make_user("loan_officer", tenant), tenant, "loan_officer")
        customer_id, product_id = world(tenant)
        application_id = intake(tenant, officer, customer_id, product_id, officer_id=colleague.user_id)
        admission = records(tenant, application_id)["admission"]
        assert admission.outcome == "pass" and admission.standard_version_id is not None
        with pytest.raises(ApplicationError, match="no loan officer of this bank"):
            intake(tenant, officer, customer_id, product_id, officer_id=officer.user_id + 10_000)
    finally:  # the registry must not keep a tenant on a cluster that goes away with this test
        _remove(tenant)


def _remove(tenant):
    services.offboard(tenant.slug)
    services.finalize_offboarding(now=services.dt.datetime.max.replace(tzinfo=services.dt.timezone.utc))
