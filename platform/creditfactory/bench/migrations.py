"""``migrations``: the orchestrator over N lending-size tenants, as a no-op and with a real migration.

How:

1. Setup (not measured, reported as ``setup_s``): a temporary database, ``cf_shared`` migrated, N real
   registry rows (``cf_shared.tenant``) whose schemas are built with the synthetic 63-table /
   322-index lending schema by ``create_tenant_schema`` (the same compiled script ``provision`` runs,
   without its per-tenant registry round trips), then status ``active`` and a ledger row at the tenant
   head for each, exactly as ``provision`` leaves them.
2. No-op: ``migrations.upgrade()`` with every tenant at head, run ``NOOP_RUNS`` times; ``noop_s`` is
   the median, ``noop_runs_s`` all of them. This is what ``creditfactory db upgrade`` costs on every
   deploy when there is nothing to do.
3. Add column + index: the ``migrations/`` folder is copied to a temporary directory and a throwaway
   tenant revision is added to the copy (``down_revision`` = the current tenant head) that adds a
   nullable column to ``loan_account`` and creates an index on it; ``settings.migrations_dir`` points
   at the copy (Alembic's caches are keyed by the folder, so the real one stays untouched) and the
   orchestrator upgrades every tenant with W worker processes. ``add_column_s`` (= ``total_s``) is the
   wall time of the whole ``upgrade()`` call: lock, shared schema, planning, process pool start-up,
   every tenant, the ledger. The latency percentiles are the per-tenant times the orchestrator itself
   measures (``report.results[*].seconds``: one transaction per tenant, inside a worker).
4. Verification: every tenant schema has the column and the index, its ``alembic_version`` is the new
   revision and its ledger row says so; any failure makes the result ``ok: false``.

The tenants hold only the synthetic schema (not also the base tables of the real tenant head), so
future real tenant tables never collide with synthetic ones; the stamp is still the real head, which
is all the orchestrator looks at.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Connection, MetaData, func, insert, literal, select, text, update

from ..db import engine_for
from ..tenancy import migrations
from ..tenancy.models import Tenant, TenantMigration, TenantStatus
from ..tenancy.schema import create_script, create_tenant_schema, head, schema_name
from . import BenchContext, register
from .common import (
    BenchFailure, bench_settings, catalog_counts, checkpoint, database_name, environment, latency_summary,
    settle_catalog, temporary_database,
)
from .lending_schema import MIGRATION_TARGET_TABLE, lending_metadata
from .provisioning import bench_slug

#: How many times the no-op upgrade is timed (median reported): a single run is at the mercy of
#: whatever else the machine does for a second.
NOOP_RUNS = 3
#: The throwaway revision: id, column and index it adds.
BENCH_REVISION = "tbench_add_column"
BENCH_COLUMN = "bench_risk_band"
BENCH_INDEX = f"ix_{MIGRATION_TARGET_TABLE}_{BENCH_COLUMN}"

_REVISION_TEMPLATE = '''"""Benchmark only: add a nullable column and an index to {table}.

Written into a temporary copy of the migrations folder by ``creditfactory bench migrations``.

Revision ID: {revision}
Revises: {down_revision}
"""
from alembic import op
import sqlalchemy as sa

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tenant migrations name no schema: the orchestrator runs them under SET LOCAL search_path.
    op.add_column("{table}", sa.Column("{column}", sa.String(8), nullable=True))
    op.create_index("{index}", "{table}", ["{column}"])


def downgrade() -> None:
    op.drop_index("{index}", table_name="{table}")
    op.drop_column("{table}", "{column}")
'''


def write_bench_migrations(source: Path, target: Path, down_revision: str) -> Path:
    """Copy the migrations folder ``source`` to ``target`` and add the throwaway tenant revision to it."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "tenant" / f"{BENCH_REVISION}.py").write_text(_REVISION_TEMPLATE.format(
        table=MIGRATION_TARGET_TABLE, column=BENCH_COLUMN, index=BENCH_INDEX, revision=BENCH_REVISION,
        down_revision=down_revision), encoding="utf-8")
    return target


def provision_fast(n: int, metadata: MetaData, revision: str, *, threads: int,
                   progress: Callable[[str], None]) -> None:
    """N tenants as ``provision`` leaves them, minus its per-tenant registry round trips.

    Registry rows go in with one INSERT (status ``provisioning``, as provision does first), schemas are
    built on ``threads`` connections (one transaction each: a schema locks its ~700 new relations, and
    several per transaction would exhaust the lock table), then all rows become ``active`` with a
    ledger row at head.
    """
    today = dt.date.today()
    rows = [{
        "slug": bench_slug(i), "name_zh": f"基准测试村镇银行{i}", "name_en": f"Benchmark Village Bank {i}",
        "legal_entity_code": f"BENCH{i:08d}", "province": "云南省", "city": "大理白族自治州", "county": "宾川县",
        "status": TenantStatus.PROVISIONING.value, "status_reason": "", "cluster": "default",
        "schema_name": schema_name(bench_slug(i)), "business_date": today,
        "timezone": "Asia/Shanghai", "locale": "zh_Hans_CN", "currency": "CNY", "export_path": "",
    } for i in range(1, n + 1)]
    engine = engine_for()
    with engine.begin() as conn:
        conn.execute(insert(Tenant.__table__), rows)
    create_script(metadata)  # compile once here, not concurrently in every thread

    def build(schema: str) -> None:
        with engine.begin() as conn:
            create_tenant_schema(conn, schema, metadata=metadata, revision=revision)

    step = max(1, n // 10)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-setup")
    try:
        for done, _ in enumerate(pool.map(build, [row["schema_name"] for row in rows]), start=1):
            if done % step == 0:
                progress(f"setup: {done}/{n} tenant schemas created")
    finally:
        # On Ctrl-C or a failed schema, drop the queue instead of building hundreds more first
        # (a plain ``with`` block would wait for every queued schema before the database is dropped).
        pool.shutdown(wait=True, cancel_futures=True)
    with engine.begin() as conn:
        conn.execute(update(Tenant.__table__).values(status=TenantStatus.ACTIVE.value))
        conn.execute(insert(TenantMigration.__table__).from_select(
            ["tenant_id", "revision", "last_error", "attempts"],
            select(Tenant.id, literal(revision), literal(""), literal(0))))


def verify(conn: Connection, revision: str) -> dict[str, int]:
    """How many tenants have the column, the index, the new alembic_version, a ledger row at it."""
    targets = migrations.tenant_targets(conn)
    schemas = [t.schema for t in targets]
    column = conn.scalar(text(
        "SELECT count(DISTINCT n.nspname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = :table AND a.attname = :column "
        "AND NOT a.attisdropped AND n.nspname = ANY(:schemas)"),
        {"table": MIGRATION_TARGET_TABLE, "column": BENCH_COLUMN, "schemas": schemas})
    index = conn.scalar(text(
        "SELECT count(*) FROM pg_indexes WHERE tablename = :table AND indexname = :index "
        "AND schemaname = ANY(:schemas)"),
        {"table": MIGRATION_TARGET_TABLE, "index": BENCH_INDEX, "schemas": schemas})
    versions = migrations.read_versions(targets)
    ledger = conn.scalar(select(func.count()).select_from(TenantMigration).where(TenantMigration.revision == revision))
    return {"tenants": len(targets), "column": column, "index": index,
            "alembic_version": sum(1 for v in versions.values() if v == revision), "ledger": ledger}


@register("migrations", "Orchestrator over N lending-size tenants: no-op runs, then a throwaway add column + "
                        "index revision on W workers.", default_n=200, default_workers=4)
def run(ctx: BenchContext) -> dict[str, Any]:
    workers = ctx.workers if ctx.workers is not None else 4
    metadata = lending_metadata()
    setup_threads = max(1, min(workers, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="cf-bench-migrations-") as tmp, \
            temporary_database(ctx.server_url, "cf_bench_migrations") as url:
        # Phase 1: the configured migrations folder. Setup and the no-op runs.
        with bench_settings(ctx.settings, url, migration_workers=workers) as settings:
            with engine_for().connect() as conn:
                facts = environment(conn, server_url=ctx.server_url, embedded=ctx.embedded)
            ctx.progress("migrating cf_shared")
            migrations.upgrade(workers=1)
            base_revision = head("tenant")
            ctx.progress(f"setup: {ctx.n} tenants with the lending schema on {setup_threads} connection(s)")
            setup_started = time.perf_counter()
            provision_fast(ctx.n, metadata, base_revision, threads=setup_threads, progress=ctx.progress)
            with engine_for().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                settle_catalog(conn)
                checkpointed = checkpoint(conn)
                counts = catalog_counts(conn, schema_name(bench_slug(1)))
            setup_s = time.perf_counter() - setup_started

            noop_runs = []
            for attempt in range(1, NOOP_RUNS + 1):
                report = migrations.upgrade(workers=workers)
                if report.results or report.at_head != ctx.n:
                    raise BenchFailure(f"no-op run {attempt} upgraded {len(report.results)} tenants, "
                                       f"{report.at_head} of {ctx.n} at head")
                noop_runs.append(report.seconds)
                ctx.progress(f"no-op run {attempt}/{NOOP_RUNS}: {report.seconds:.3f} s")

        # Phase 2: a copy of the folder with the throwaway revision on top of the current head.
        bench_dir = write_bench_migrations(Path(settings.migrations_dir), Path(tmp) / "migrations", base_revision)
        with bench_settings(replace(ctx.settings, migrations_dir=str(bench_dir)), url, migration_workers=workers):
            if head("tenant") != BENCH_REVISION:
                raise BenchFailure(f"the throwaway revision is not the tenant head ({head('tenant')})")
            ctx.progress(f"add column + index: upgrading {ctx.n} tenants with {workers} workers")
            planned_at: list[float] = []
            started = time.perf_counter()
            report = migrations.upgrade(workers=workers, on_plan=lambda count: planned_at.append(time.perf_counter()))
            plan_s = planned_at[0] - started
            with engine_for().connect() as conn:
                checks = verify(conn, BENCH_REVISION)

    if not report.results:
        raise BenchFailure(f"the orchestrator upgraded no tenant ({report.at_head} of {ctx.n} already at head)")
    failures = report.failed
    problems = [f"{r.slug}: {r.error}" for r in failures[:5]]
    for key in ("column", "index", "alembic_version", "ledger"):
        if checks[key] != ctx.n:
            problems.append(f"{checks[key]} of {ctx.n} tenants have the new {key.replace('_', ' ')}")
    return {
        "name": "migrations",
        "n": ctx.n,
        "workers": workers,
        **latency_summary([r.seconds for r in report.results]),
        "total_s": round(report.seconds, 3),
        "add_column_s": round(report.seconds, 3),
        "add_column_plan_s": round(plan_s, 3),
        "tenants_per_s": round(ctx.n / report.seconds, 2),
        "noop_s": round(statistics.median(noop_runs), 3),
        "noop_runs_s": [round(s, 3) for s in noop_runs],
        "failures": len(failures),
        "upgraded": len(report.upgraded),
        "verified": checks,
        "base_revision": base_revision,
        "revision": BENCH_REVISION,
        "database": database_name(url),  # temporary, already dropped
        "tables": counts["tables"],
        "indexes": counts["indexes"],
        "setup_s": round(setup_s, 1),
        "checkpoint_before_timing": checkpointed,
        "ok": not problems,
        "problems": problems,
        **facts,
    }
