"""Migration orchestrator: shared schema first, then every tenant schema in parallel, one transaction each."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert

from .. import settings as settings_module
from ..db import SHARED_SCHEMA, engine_for
from ..db.engines import dispose_engines
from ..settings import Settings
from . import spares
from .models import STATUSES_WITH_SCHEMA, Tenant, TenantMigration
from .schema import VERSION_TABLE, head, quote_schema, run_upgrade

log = logging.getLogger(__name__)

#: Session-level advisory lock key held for a whole orchestrator run, so two runs never interleave.
RUN_LOCK_KEY = 0x43465F4D  # "CF_M"
_VERSION_BATCH = 500


class MigrationRunInProgress(RuntimeError):
    """Another ``db upgrade`` holds the orchestrator lock."""


@dataclass(frozen=True)
class TenantTarget:
    id: int
    slug: str
    cluster: str
    schema: str


@dataclass
class TenantResult:
    slug: str
    ok: bool
    before: str | None
    after: str | None
    error: str = ""
    seconds: float = 0.0


@dataclass
class UpgradeReport:
    head: str
    shared: tuple[str | None, str | None]
    at_head: int = 0
    results: list[TenantResult] = field(default_factory=list)
    aborted_after_canary: bool = False
    #: cluster -> (stale spare schemas dropped, spares built)
    spares: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Plugins' own tables: tenant slug -> error, for tenants where a plugin's migrations failed.
    plugin_failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[TenantResult]:
        return [r for r in self.results if not r.ok]

    @property
    def upgraded(self) -> list[TenantResult]:
        return [r for r in self.results if r.ok]


@dataclass
class TenantVersion:
    slug: str
    revision: str | None
    head: str
    last_error: str
    attempts: int

    @property
    def behind(self) -> bool:
        return self.revision != self.head


def upgrade_shared(conn: Connection, lock_timeout_ms: int) -> tuple[str | None, str | None]:
    with conn.begin():
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'")
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SHARED_SCHEMA}")
        result = run_upgrade(conn, "shared", SHARED_SCHEMA)
    return result


def fail_closed_search_path(conn: Connection) -> None:
    """Make the role's default search_path in this database name no tenant schema.

    Raw SQL run without a tenant's ``SET LOCAL`` then fails instead of reading some bank's tables.
    """
    with conn.begin():
        current = conn.scalar(text(
            "SELECT setconfig FROM pg_db_role_setting WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
            " AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())")) or []
        if "search_path=public" not in current:
            database = conn.scalar(text("SELECT current_database()"))
            quoted = conn.dialect.identifier_preparer.quote_identifier(database)
            conn.exec_driver_sql(f"ALTER ROLE CURRENT_USER IN DATABASE {quoted} SET search_path TO public")


def tenant_targets(conn: Connection, slugs: Iterable[str] | None = None) -> list[TenantTarget]:
    query = select(Tenant.id, Tenant.slug, Tenant.cluster, Tenant.schema_name).where(
        Tenant.status.in_([s.value for s in STATUSES_WITH_SCHEMA])).order_by(Tenant.slug)
    if slugs is not None:
        query = query.where(Tenant.slug.in_(list(slugs)))
    return [TenantTarget(*row) for row in conn.execute(query)]


def read_versions(targets: list[TenantTarget]) -> dict[str, str | None]:
    """Each tenant schema's actual Alembic revision, read in a few UNION ALL queries per cluster."""
    versions: dict[str, str | None] = {t.schema: None for t in targets}
    by_cluster: dict[str, list[str]] = {}
    for t in targets:
        by_cluster.setdefault(t.cluster, []).append(t.schema)
    for cluster, schemas in by_cluster.items():
        with engine_for(cluster).connect() as conn:
            present = [r[0] for r in conn.execute(text(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = :table AND c.relkind = 'r' AND n.nspname = ANY(:schemas)"),
                {"table": VERSION_TABLE, "schemas": schemas})]
            for start in range(0, len(present), _VERSION_BATCH):
                batch = present[start:start + _VERSION_BATCH]
                union = " UNION ALL ".join(
                    f"SELECT '{s}' AS schema_name, version_num FROM {quote_schema(s)}.{VERSION_TABLE}" for s in batch)
                for schema, revision in conn.exec_driver_sql(union):
                    versions[schema] = revision
    return versions


def upgrade_tenant(conn: Connection, target: TenantTarget, lock_timeout_ms: int) -> TenantResult:
    started = time.perf_counter()
    try:
        with conn.begin():
            conn.exec_driver_sql(
                f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'; SET LOCAL search_path TO {quote_schema(target.schema)}")
            before, after = run_upgrade(conn, "tenant", target.schema)
        return TenantResult(target.slug, True, before, after, seconds=time.perf_counter() - started)
    except Exception as exc:  # one tenant's failure is reported, never stops the others
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        return TenantResult(target.slug, False, None, None, error=message, seconds=time.perf_counter() - started)


# --- worker processes -------------------------------------------------------------------------
# Alembic's ``op`` proxy is module-global, so parallel tenants need processes, not threads.

class ClusterConnections:
    """One connection per database cluster, reused for every tenant upgraded on it."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def upgrade(self, target: TenantTarget, lock_timeout_ms: int) -> TenantResult:
        conn = self._connections.get(target.cluster)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._connections[target.cluster] = engine_for(target.cluster).connect()
        return upgrade_tenant(conn, target, lock_timeout_ms)

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


_worker_connections = ClusterConnections()  # a worker process's own, for its whole life


def _init_worker(settings: Settings) -> None:
    settings_module.configure(settings)
    dispose_engines()


def _worker_upgrade(target: TenantTarget, lock_timeout_ms: int) -> TenantResult:
    return _worker_connections.upgrade(target, lock_timeout_ms)


def _record(results: list[TenantResult], targets: dict[str, TenantTarget]) -> None:
    if not results:
        return
    rows = [{"tenant_id": targets[r.slug].id, "revision": r.after, "last_error": r.error, "attempts": 0 if r.ok else 1}
            for r in results]
    stmt = insert(TenantMigration).values(rows)
    table = TenantMigration.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id],
        set_={
            # A failed run leaves the last known good revision in place.
            "revision": text("COALESCE(excluded.revision, tenant_migration.revision)"),
            "last_error": stmt.excluded.last_error,
            "attempts": text("CASE WHEN excluded.attempts = 0 THEN 0 ELSE tenant_migration.attempts + 1 END"),
            "updated_at": text("now()"),
        },
    )
    with engine_for("default").begin() as conn:
        conn.execute(stmt)


def upgrade(*, workers: int | None = None, canary: int = 0, slugs: Iterable[str] | None = None,
            on_result: Callable[[TenantResult], None] | None = None,
            on_plan: Callable[[int], None] | None = None) -> UpgradeReport:
    """Upgrade ``cf_shared``, then every tenant behind head (or only ``slugs``).

    ``canary`` tenants go first, one by one; if any of them fails the run stops there. The rest run on
    ``workers`` processes. Failures are recorded in the ledger and retried by the next run.
    """
    settings = settings_module.get()
    workers = workers or settings.migration_workers
    started = time.perf_counter()
    engine = engine_for("default")
    with engine.connect() as lock_conn:
        if not lock_conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": RUN_LOCK_KEY}):
            raise MigrationRunInProgress("another 'creditfactory db upgrade' is running")
        lock_conn.commit()
        try:
            shared = upgrade_shared(lock_conn, settings.lock_timeout_ms)
            fail_closed_search_path(lock_conn)
            for cluster in settings.clusters:
                with engine_for(cluster).connect() as conn:
                    fail_closed_search_path(conn)
            tenant_head = head("tenant")
            targets = tenant_targets(lock_conn, slugs)
            lock_conn.commit()
            versions = read_versions(targets)
            behind = [t for t in targets if versions[t.schema] != tenant_head]
            report = UpgradeReport(head=tenant_head, shared=shared, at_head=len(targets) - len(behind))
            if on_plan:
                on_plan(len(behind))
            by_slug = {t.slug: t for t in targets}

            def collect(result: TenantResult) -> None:
                report.results.append(result)
                if on_result:
                    on_result(result)

            canaries, rest = behind[:canary], behind[canary:]
            in_process = rest if workers == 1 or len(rest) == 1 else []
            with contextlib.closing(ClusterConnections()) as connections:
                for target in canaries:
                    collect(connections.upgrade(target, settings.lock_timeout_ms))
                if report.failed:
                    report.aborted_after_canary = True
                    rest = in_process = []
                for target in in_process:
                    collect(connections.upgrade(target, settings.lock_timeout_ms))
            if rest and not in_process:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=min(workers, len(rest)), mp_context=context,
                                         initializer=_init_worker, initargs=(settings,)) as pool:
                    futures = [pool.submit(_worker_upgrade, t, settings.lock_timeout_ms) for t in rest]
                    for future in as_completed(futures):
                        collect(future.result())
            _record(report.results, by_slug)
            report.plugin_failures = _upgrade_plugin_tables(targets, {r.slug for r in report.failed})
            # Spares built from the old head must never be claimed; rebuild the pool at the new one.
            report.spares = spares.refresh_all()
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
            lock_conn.commit()
    report.seconds = time.perf_counter() - started
    return report


def _upgrade_plugin_tables(targets: list[TenantTarget], skip: set[str]) -> dict[str, str]:
    """Run the plugins' own migrations in every tenant schema whose core upgrade did not fail; one tenant's failure
    is reported and rolls back only that tenant's plugin changes. Costs nothing when no plugin owns tables."""
    from ..plugins import get_host
    from ..plugins.migrations import declared, upgrade_schema

    host = get_host()
    if not declared(host):
        return {}
    failures = {}
    for target in targets:
        if target.slug in skip:
            continue
        try:
            with engine_for(target.cluster).begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL search_path TO {quote_schema(target.schema)}")
                upgrade_schema(conn, target.schema, host)
        except Exception as exc:  # reported like a core failure; the other tenants go on
            failures[target.slug] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    return failures


def status() -> tuple[str | None, str, list[TenantVersion]]:
    """(shared revision, tenant head, every tenant's version), read from the schemas themselves."""
    tenant_head = head("tenant")
    with engine_for("default").connect() as conn:
        from .schema import current_revision

        shared_rev = current_revision(conn, SHARED_SCHEMA)
        targets = tenant_targets(conn)
        ledger = {row.tenant_id: row for row in conn.execute(select(TenantMigration))}
    versions = read_versions(targets)
    out = []
    for t in targets:
        entry = ledger.get(t.id)
        out.append(TenantVersion(t.slug, versions[t.schema], tenant_head, entry.last_error if entry else "",
                                 entry.attempts if entry else 0))
    return shared_rev, tenant_head, out
