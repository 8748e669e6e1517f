"""Spare tenant schemas: built ahead at the tenant head, so provisioning a village bank is a rename.

Building a lending-size schema costs PostgreSQL hundreds of file creations and (before version 17) an
fsync per index: ~0.25 s on a quiet disk, several times that on a busy one. A few empty schemas built the
same way (``create_all`` + stamp) wait in each cluster as ``cf_spare_<hex>``; provisioning renames one
to ``t_<slug>`` inside its transaction and falls back to building in place when none fits. Each spare
carries a fingerprint of the DDL and revision it was built from (the schema's comment), so a spare
from older models or migrations is never claimed; ``refresh`` drops those and tops the pool up.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from sqlalchemy import Connection, MetaData, text

from .. import settings as settings_module
from ..db import engine_for
from .schema import create_script, create_tenant_schema, head, quote_schema

log = logging.getLogger(__name__)

SPARE_PREFIX = "cf_spare_"
#: Serialises refreshes per cluster, so two processes never overbuild the pool.
REFRESH_LOCK_KEY = 0x43465F53  # "CF_S"

_SPARES = text(
    "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
    "WHERE nspname LIKE 'cf\\_spare\\_%' ORDER BY nspname"
)


def fingerprint(metadata: MetaData | None = None, revision: str | None = None) -> str:
    """Identifies what a spare was built from: the compiled create_all script and the tenant head."""
    digest = hashlib.sha256(create_script(metadata).encode())
    digest.update((revision or head("tenant")).encode())
    return f"creditfactory spare {digest.hexdigest()[:32]}"


def spares(conn: Connection) -> list[tuple[str, str | None]]:
    """(schema, fingerprint) of every spare on the connection's cluster."""
    return [(name, comment) for name, comment in conn.execute(_SPARES)]


def build(cluster: str = "default", *, metadata: MetaData | None = None) -> str:
    """Build one spare schema in its own transaction; returns its name."""
    name = f"{SPARE_PREFIX}{uuid.uuid4().hex[:16]}"
    revision = head("tenant")
    with engine_for(cluster).begin() as conn:
        create_tenant_schema(conn, name, metadata=metadata, revision=revision)
        conn.exec_driver_sql(f"COMMENT ON SCHEMA {quote_schema(name)} IS '{fingerprint(metadata, revision)}'")
    return name


def claim(conn: Connection, schema: str, *, metadata: MetaData | None = None, revision: str | None = None) -> bool:
    """Inside the caller's transaction, rename a fitting spare to ``schema``; False when there is none."""
    wanted = fingerprint(metadata, revision)
    for name, comment in spares(conn):
        if comment != wanted:
            continue
        # Whoever holds this spare's lock is renaming it; skip it rather than wait. Once they commit the
        # schema is gone, which the existence check (a new snapshot) sees.
        if not conn.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": name}):
            continue
        if not conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"), {"name": name}):
            continue
        conn.exec_driver_sql(f"ALTER SCHEMA {quote_schema(name)} RENAME TO {quote_schema(schema)}; "
                             f"COMMENT ON SCHEMA {quote_schema(schema)} IS NULL")
        return True
    return False


def refresh(cluster: str = "default", *, target: int | None = None, metadata: MetaData | None = None) -> tuple[int, int]:
    """Drop spares that no longer fit and build up to ``target`` (setting ``spare_schemas``); (dropped, built)."""
    target = settings_module.get().spare_schemas if target is None else target
    wanted = fingerprint(metadata)
    engine = engine_for(cluster)
    with engine.connect() as lock_conn:
        if not lock_conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": REFRESH_LOCK_KEY}):
            return 0, 0  # another process is refreshing this cluster's pool
        try:
            current = spares(lock_conn)
            lock_conn.commit()
            stale = [name for name, comment in current if comment != wanted]
            for name in stale:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quote_schema(name)} CASCADE")
            missing = max(0, target - (len(current) - len(stale)))
            for _ in range(missing):
                build(cluster, metadata=metadata)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REFRESH_LOCK_KEY})
            lock_conn.commit()
    if stale or missing:
        log.info("spare schemas on %s: dropped %d stale, built %d", cluster, len(stale), missing)
    return len(stale), missing


def refresh_all(*, metadata: MetaData | None = None) -> dict[str, tuple[int, int]]:
    """``refresh`` every configured cluster."""
    return {cluster: refresh(cluster, metadata=metadata) for cluster in settings_module.get().cluster_urls()}
