"""New tenants are built by create_all + stamp; that must equal replaying every migration."""

import pytest
from sqlalchemy import text

from creditfactory.db import TenantBase, SHARED_SCHEMA, SharedBase, engine_for
from creditfactory.tenancy import migrations
from creditfactory.tenancy.schema import create_tenant_schema, head, run_upgrade

# Everything that makes two schemas different for the application, with schema names taken out.
CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
               is_nullable, replace(column_default, :schema || '.', '')
        FROM information_schema.columns WHERE table_schema = :schema ORDER BY 1, 2""",
    "constraints": """
        SELECT cl.relname, con.conname, con.contype,
               replace(pg_get_constraintdef(con.oid), :schema || '.', '')
        FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
        WHERE n.nspname = :schema ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, replace(indexdef, :schema || '.', '')
        FROM pg_indexes WHERE schemaname = :schema ORDER BY 1, 2""",
}


def catalog(conn, schema):
    return {name: [tuple(row) for row in conn.execute(text(sql), {"schema": schema})]
            for name, sql in CATALOG_QUERIES.items()}


def test_tenant_create_all_equals_replaying_migrations(cf_settings):
    with engine_for().connect() as conn:
        with conn.begin():
            create_tenant_schema(conn, "t_cmp_created")
        with conn.begin():
            conn.exec_driver_sql('CREATE SCHEMA "t_cmp_replayed"; SET LOCAL search_path TO "t_cmp_replayed"')
            before, after = run_upgrade(conn, "tenant", "t_cmp_replayed")
        assert (before, after) == (None, head("tenant"))
        created, replayed = catalog(conn, "t_cmp_created"), catalog(conn, "t_cmp_replayed")
        conn.rollback()
        with conn.begin():
            conn.exec_driver_sql('DROP SCHEMA "t_cmp_created" CASCADE; DROP SCHEMA "t_cmp_replayed" CASCADE')
    assert created["columns"], "the comparison must see the tables"
    for name in CATALOG_QUERIES:
        assert created[name] == replayed[name], name


def test_shared_migrations_equal_the_models(cf_settings):
    with engine_for().connect() as conn:
        with conn.begin():
            conn.exec_driver_sql("CREATE SCHEMA cmp_shared")
            SharedBase.metadata.create_all(conn.execution_options(schema_translate_map={SHARED_SCHEMA: "cmp_shared"}))
        migrated, modelled = catalog(conn, SHARED_SCHEMA), catalog(conn, "cmp_shared")
        conn.rollback()
        with conn.begin():
            conn.exec_driver_sql("DROP SCHEMA cmp_shared CASCADE")
    strip_version = [row for row in migrated["columns"] if row[0] != "alembic_version"]
    assert strip_version == modelled["columns"]
    assert [r for r in migrated["constraints"] if r[0] != "alembic_version"] == modelled["constraints"]
    assert [r for r in migrated["indexes"] if r[0] != "alembic_version"] == modelled["indexes"]


def test_failing_tenant_is_reported_others_upgrade_and_next_run_retries(cf_settings, tenant_factory):
    good, bad = tenant_factory(), tenant_factory()
    with engine_for().begin() as conn:
        # Both tenants pretend to be at the base revision; the bad one has a table in the way.
        for tenant in (good, bad):
            conn.exec_driver_sql(f'DELETE FROM "{tenant.schema}".alembic_version')
            conn.exec_driver_sql(f"DROP TABLE {tenant_tables(tenant)}")
        conn.exec_driver_sql(f'CREATE TABLE "{bad.schema}".holiday (x int)')
    report = migrations.upgrade(workers=1, slugs=[good.slug, bad.slug])
    assert [r.slug for r in report.upgraded] == [good.slug]
    assert [r.slug for r in report.failed] == [bad.slug] and "holiday" in report.failed[0].error
    _, _, versions = migrations.status()
    by_slug = {v.slug: v for v in versions}
    assert not by_slug[good.slug].behind
    assert by_slug[bad.slug].behind and by_slug[bad.slug].attempts == 1 and by_slug[bad.slug].last_error

    with engine_for().begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE "{bad.schema}".holiday')
    retry = migrations.upgrade(workers=1)
    assert [r.slug for r in retry.upgraded] == [bad.slug] and not retry.failed
    assert not {v.slug: v for v in migrations.status()[2]}[bad.slug].last_error


def test_canary_failure_stops_the_run(cf_settings, tenant_factory):
    first, second = sorted([tenant_factory(), tenant_factory()], key=lambda t: t.slug)
    with engine_for().begin() as conn:
        for tenant in (first, second):
            conn.exec_driver_sql(f'DELETE FROM "{tenant.schema}".alembic_version')
    report = migrations.upgrade(workers=1, canary=1, slugs=[first.slug, second.slug])
    # The canary fails (its tables already exist) and the second tenant is never touched.
    assert report.aborted_after_canary and [r.slug for r in report.results] == [first.slug]
    with engine_for().begin() as conn:
        for tenant in (first, second):
            conn.exec_driver_sql(f"INSERT INTO \"{tenant.schema}\".alembic_version VALUES ('{head('tenant')}')")


def test_parallel_workers_upgrade_every_tenant(cf_settings, tenant_factory):
    tenants = [tenant_factory() for _ in range(3)]
    with engine_for().begin() as conn:
        for tenant in tenants:
            conn.exec_driver_sql(f'DELETE FROM "{tenant.schema}".alembic_version')
            conn.exec_driver_sql(f"DROP TABLE {tenant_tables(tenant)}")
    report = migrations.upgrade(workers=2, slugs=[t.slug for t in tenants])
    assert sorted(r.slug for r in report.upgraded) == sorted(t.slug for t in tenants)
    assert not report.failed


def test_concurrent_runs_are_refused(cf_settings):
    with engine_for().connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrations.RUN_LOCK_KEY})
        try:
            with pytest.raises(migrations.MigrationRunInProgress):
                migrations.upgrade(workers=1)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrations.RUN_LOCK_KEY})


def tenant_tables(tenant):
    """Every model table of ``tenant``, so dropping them all puts the schema behind head, whatever its history."""
    return ", ".join(f'"{tenant.schema}"."{table.name}"' for table in TenantBase.metadata.sorted_tables)
