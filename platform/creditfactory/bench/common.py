"""What every benchmark needs: percentiles, a throwaway database, settings pointing at it, catalog counts."""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterator, Sequence

import psycopg
import sqlalchemy
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.engine import make_url

from .. import settings as settings_module
from ..db.engines import dispose_engines, libpq_url
from ..settings import Settings
from ..tenancy.registry import directory
from ..tenancy.schema import VERSION_TABLE


class BenchFailure(RuntimeError):
    """The benchmark could not measure what it is meant to measure (setup broke, a check failed)."""


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of already sorted values, by the **nearest-rank** method.

    Nearest rank: the smallest value such that at least ``p`` percent of the values are less than or
    equal to it, i.e. ``sorted_values[ceil(p / 100 * n) - 1]``. It always returns a value that was
    actually measured (no interpolation), so a p95 over 50 samples is the 48th fastest sample; with
    few samples p99 is simply the maximum. That is the conservative reading we want for latency
    targets.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank), min, max and mean of latencies given in seconds, in milliseconds."""
    ordered = sorted(seconds)
    ms = lambda value: round(value * 1000, 2)  # noqa: E731 - a local formatter reads best inline
    return {
        "p50_ms": ms(percentile(ordered, 50)),
        "p95_ms": ms(percentile(ordered, 95)),
        "p99_ms": ms(percentile(ordered, 99)),
        "min_ms": ms(ordered[0]),
        "max_ms": ms(ordered[-1]),
        "mean_ms": ms(sum(ordered) / len(ordered)),
    }


def describe_server(url: str) -> str:
    """``host:port`` of a server URL (no user, no password), for the report."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    return f"{host}:{parsed.port or 5432}"


def database_name(url: str) -> str:
    return make_url(url).database or ""


@contextmanager
def temporary_database(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh database next to ``server_url``'s, dropped on exit: success, failure or Ctrl-C alike.

    ``server_url`` names an existing database we may connect to (the configured one, or ``postgres``
    on the embedded server); CREATE and DROP DATABASE are issued from there, never from the temporary
    database itself. ``WITH (FORCE)`` ends connections a crashed run may have left behind (a worker
    process killed by Ctrl-C, say), so the drop cannot hang or fail on them.
    """
    base = libpq_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except Exception as exc:  # never mask the benchmark's own error; say what is left behind
            print(f"warning: could not drop benchmark database {name!r}: {exc}", file=sys.stderr)


@contextmanager
def bench_settings(base: Settings, database_url: str, **overrides: Any) -> Iterator[Settings]:
    """Make the process-wide settings point at ``database_url`` for the block, then restore them.

    Extra clusters are dropped so every tenant lands in the benchmark's database. Engines are disposed
    on entry and exit (they are cached per cluster name, not per URL) and the tenant directory cache
    is emptied, so nothing from before the block talks to the benchmark database or the other way round:
    a benchmark run inside a test session must leave that session's settings intact.
    """
    previous = settings_module._current  # may be None (not loaded yet); restored as it was
    settings = settings_module.validate(replace(base, database_url=database_url, clusters={},
                                                default_cluster="default", **overrides))
    dispose_engines()
    directory.invalidate()
    settings_module.configure(settings)
    try:
        yield settings
    finally:
        dispose_engines()
        directory.invalidate()
        settings_module._current = previous


_CATALOG_COUNTS = text(f"""
    SELECT count(*) FILTER (WHERE c.relkind = 'r' AND c.relname <> '{VERSION_TABLE}') AS tables,
           count(*) FILTER (WHERE c.relkind = 'i' AND k.conindid IS NULL) AS indexes,
           count(*) FILTER (WHERE c.relkind = 'i' AND k.conindid IS NOT NULL) AS constraint_indexes,
           count(*) FILTER (WHERE c.relkind = 'S') AS sequences,
           (SELECT count(*) FROM pg_constraint f JOIN pg_namespace fn ON fn.oid = f.connamespace
             WHERE fn.nspname = :schema AND f.contype = 'f') AS foreign_keys
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x')) k
             ON k.conindid = c.oid
     WHERE n.nspname = :schema
""")


def catalog_counts(conn: Connection, schema: str) -> dict[str, int]:
    """What PostgreSQL holds in ``schema``, from pg_catalog.

    ``tables``: ordinary tables (relkind ``r``) except Alembic's version table; ``indexes``: indexes
    (relkind ``i``) that do not back a primary-key, unique or exclusion constraint, i.e. the explicit
    ``Index``/``index=True`` ones; ``constraint_indexes``: the others (alembic_version's included).
    """
    row = conn.execute(_CATALOG_COUNTS, {"schema": schema}).mappings().one()
    return {key: int(value) for key, value in row.items()}


def environment(conn: Connection, *, server_url: str, embedded: bool) -> dict[str, Any]:
    """Facts that make figures comparable: server version, CPUs, machine load, library versions, when."""
    return {
        "server_version": conn.execute(text("SHOW server_version")).scalar_one(),
        "server": "embedded" if embedded else describe_server(server_url),
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews every figure; the load average before the benchmark's own
        # work started says how quiet the machine was (callers take these facts first).
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": ".".join(map(str, sys.version_info[:3])),
        "sqlalchemy": sqlalchemy.__version__,
        "measured_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def settle_catalog(conn: Connection) -> None:
    """VACUUM ANALYZE the catalogs that mass DDL just grew.

    Creating hundreds of schemas leaves pg_class, pg_attribute... with fresh, unvacuumed rows; left
    alone, autovacuum works through them during the first measured run and adds its noise to it. A
    production database that has lived with its tenants for a while is in the settled state, so that
    is the state we measure. Needs a connection in autocommit mode (VACUUM refuses transactions).
    """
    for table in ("pg_class", "pg_attribute", "pg_index", "pg_constraint", "pg_depend", "pg_namespace",
                  "pg_type", "pg_attrdef", "pg_sequence"):
        conn.exec_driver_sql(f"VACUUM (ANALYZE) pg_catalog.{table}")


def checkpoint(conn: Connection) -> bool:
    """Run CHECKPOINT before timing starts, if the role may (superuser or pg_checkpoint); True if it ran.

    The benchmark's own setup (CREATE DATABASE copies a template, setup DDL writes gigabytes) leaves
    dirty pages in shared buffers and in the kernel's page cache. Flushed later, in the middle of the
    timed phase, they stall every fsync and the first seconds of figures measure the setup instead of
    the operation. A database that has been running for a while has no such backlog, so that is the
    state we measure from. Needs an autocommit connection.
    """
    try:
        conn.exec_driver_sql("CHECKPOINT")
    except DBAPIError:  # not allowed for this role: measure anyway, the report says so
        return False
    return True
