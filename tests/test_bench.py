"""Benchmarks: small runs against the test server checking what they measure and report, never how fast.

Speed is checked by running ``creditfactory bench`` on a quiet machine (docs/benchmarks.md); a timing
assertion here would only make the suite flaky on a busy CI runner.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import ForeignKeyConstraint

from creditfactory import settings as settings_module
from creditfactory.bench import BENCHES, BenchContext, register
from creditfactory.bench.api import _Users
from creditfactory.bench.cli import bench, render_summary
from creditfactory.bench.common import (
    bench_settings, database_name, latency_summary, percentile, temporary_database,
)
from creditfactory.bench.lending_schema import INDEX_COUNT, TABLE_COUNT, explicit_counts, lending_metadata
from creditfactory.bench.migrations import BENCH_REVISION
from creditfactory.db.engines import dispose_engines
from creditfactory.testing.database import server_url

REPO = Path(__file__).resolve().parents[1]
COMMON_FIELDS = {"name", "n", "p50_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "total_s", "tables",
                 "indexes", "server_version", "cpu_count", "ok", "problems"}


@pytest.fixture(scope="module")
def test_server() -> str:
    """A database URL on the test server (CREDITFACTORY_TEST_DATABASE_URL, else the embedded one)."""
    return server_url()


@pytest.fixture
def base_settings(tmp_path, test_server):
    """Hermetic settings (no CREDITFACTORY_* from the developer's environment), restored afterwards."""
    previous = settings_module._current
    settings = settings_module.configure(settings_module.load(environ={}, database_url=test_server,
                                                              data_dir=str(tmp_path)))
    dispose_engines()
    yield settings
    dispose_engines()
    settings_module._current = previous


def _context(base_settings, test_server, *, n: int, workers: int | None = None,
             options: dict | None = None) -> BenchContext:
    return BenchContext(n=n, workers=workers, server_url=test_server, settings=base_settings, options=options or {})


def _databases(url: str, prefix: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))}


# --- pure parts ----------------------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    # Few samples: p99 is the maximum, p50 the lower middle value; never an interpolated value.
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 99) == 40.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_in_milliseconds():
    summary = latency_summary([0.003, 0.001, 0.002])
    assert summary == {"p50_ms": 2.0, "p95_ms": 3.0, "p99_ms": 3.0, "min_ms": 1.0, "max_ms": 3.0, "mean_ms": 2.0}


def test_lending_schema_has_lending_size_and_only_backward_foreign_keys():
    metadata = lending_metadata()
    assert explicit_counts(metadata) == (TABLE_COUNT, INDEX_COUNT) == (63, 322)
    assert metadata.schema == "tenant"
    order = list(metadata.tables)
    for position, (key, table) in enumerate(metadata.tables.items()):
        assert table.primary_key.columns, f"{key} has no primary key"
        for fk in (c for c in table.constraints if isinstance(c, ForeignKeyConstraint)):
            target = fk.elements[0].column.table
            assert target.schema == "tenant"
            assert order.index(target.key) < position, f"{key} references a later table"
    kinds = [ix for t in metadata.tables.values() for ix in t.indexes]
    assert any(len(ix.expressions) > 1 for ix in kinds), "composite indexes"
    assert any(ix.dialect_options["postgresql"]["where"] is not None for ix in kinds), "partial indexes"
    # Deterministic: the same DDL every time (the compile cache and the figures depend on it).
    names = sorted(ix.name for ix in kinds)
    assert len(set(names)) == INDEX_COUNT and all(len(name) <= 63 for name in names)


def test_registry_takes_new_benchmarks_and_refuses_duplicates():
    @register("unit_probe", "probe", default_n=1)
    def probe(ctx):
        return {"name": "unit_probe", "n": ctx.n}

    try:
        assert BENCHES["unit_probe"](BenchContext(n=2, workers=None, server_url="", settings=None)) == \
            {"name": "unit_probe", "n": 2}
        with pytest.raises(ValueError):
            register("unit_probe", "other", default_n=1)(lambda ctx: {})
    finally:
        del BENCHES["unit_probe"]
    assert {"provisioning", "migrations"} <= set(BENCHES)


def test_render_summary_lists_every_field():
    text = render_summary({"name": "x", "n": 3, "workers": 2, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
                           "tables": 63, "verified": {"column": 3}})
    assert text.splitlines()[0] == "x: n=3, workers=2"
    assert "p95 2.0" in text and "tables" in text and '{"column": 3}' in text


@pytest.mark.parametrize("args", [
    ["nosuchbench"],
    ["provisioning", "--n", "0"],
    ["provisioning", "--n", "many"],
    ["provisioning", "--workers", "2"],  # provisioning has no workers
    ["migrations", "--workers", "0"],
    ["migrations", "--workers", "65"],
    ["api", "--flows", "intake,payroll"],
    ["api", "--flows", ","],
    ["cob", "--flows", "intake"],
    ["api", "--rate", "0"],
    ["cob", "--rate", "200"],
    [],
])
def test_bad_input_is_a_usage_error(args):
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 2, result.output


# --- against the test server ----------------------------------------------------------------------


def test_temporary_database_is_dropped_on_failure(test_server):
    with pytest.raises(RuntimeError):
        with temporary_database(test_server, "cf_bench_unit") as url:
            name = database_name(url)
            assert name in _databases(test_server, "cf_bench_unit")
            raise RuntimeError("boom")
    assert name not in _databases(test_server, "cf_bench_unit")


def test_bench_settings_restores_the_previous_settings(base_settings, test_server):
    with bench_settings(base_settings, test_server, migration_workers=3) as inside:
        assert settings_module.get() is inside and inside.migration_workers == 3
    assert settings_module.get() is base_settings


def test_provisioning_cli_prints_one_json_line(base_settings, test_server):
    result = CliRunner().invoke(bench, ["provisioning", "--n", "3", "--json"])
    assert result.exit_code == 0, result.output + (result.stderr or "")
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert COMMON_FIELDS <= set(data)
    assert data["name"] == "provisioning" and data["n"] == 3
    assert (data["tables"], data["indexes"]) == (63, 322)
    assert data["ok"] is True and data["problems"] == []
    assert data["min_ms"] <= data["p50_ms"] <= data["p95_ms"] <= data["p99_ms"] <= data["max_ms"]
    assert all(math.isfinite(data[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "total_s"))
    # Other test runs may be benchmarking on the same server right now: check our own database only.
    assert data["database"].startswith("cf_bench_provisioning_")
    assert data["database"] not in _databases(test_server, "cf_bench_provisioning"), "temporary database left behind"
    assert settings_module.get() is base_settings


def test_migrations_bench_applies_the_throwaway_revision_everywhere(base_settings, test_server):
    result = BENCHES["migrations"](_context(base_settings, test_server, n=3, workers=2))
    assert COMMON_FIELDS | {"workers", "noop_s", "add_column_s", "failures"} <= set(result)
    assert json.loads(json.dumps(result)) == result  # JSON-serialisable as is
    assert result["name"] == "migrations" and result["n"] == 3 and result["workers"] == 2
    assert (result["tables"], result["indexes"]) == (63, 322)
    assert result["failures"] == 0 and result["upgraded"] == 3
    assert result["revision"] == BENCH_REVISION and result["base_revision"] != BENCH_REVISION
    assert result["verified"] == {"tenants": 3, "column": 3, "index": 3, "alembic_version": 3, "ledger": 3}
    assert result["ok"] is True, result["problems"]
    # The throwaway revision lived in a temporary copy: the real migrations folder never saw it.
    assert not list((REPO / "migrations" / "tenant").glob(f"{BENCH_REVISION}*"))
    assert result["database"] not in _databases(test_server, "cf_bench_migrations")
    assert settings_module.get() is base_settings


def test_migrations_cli_readable_summary(base_settings):
    result = CliRunner().invoke(bench, ["migrations", "--n", "2", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "migrations: n=2, workers=1"
    assert "noop_s" in result.stdout and "add_column_s" in result.stdout
    assert "[bench" not in (result.stderr or "")  # --quiet


def test_routing_bench_reports_overhead_guard_and_pools(base_settings, test_server):
    result = BENCHES["routing"](_context(base_settings, test_server, n=50))
    assert result["ok"], result["problems"]
    assert {"p50_ms", "p95_ms", "p99_ms", "overhead_p50_ms", "binding_p50_us", "startup_s"} <= set(result)
    assert result["set_local_per_transaction"] == 1
    assert result["connection_pools"] == 1 and result["registered_tenants"] == 1001


def test_api_bench_drives_every_flow_through_gunicorn(base_settings, test_server):
    """A short run with few users: every flow answers through real HTTP, with no failed request, and the web
    workers' memory is read (the targets themselves are for an idle machine, reported by the benchmark)."""
    result = BENCHES["api"](_context(base_settings, test_server, n=3, options={"duration": 3, "tenants": 20}))
    assert json.loads(json.dumps(result)) == result
    assert result["errors"] == 0, {flow: data["first_errors"] for flow, data in result["flows"].items()}
    assert all(result["flows"][flow]["requests"] > 0 for flow in ("intake", "loan_read", "repayment"))
    assert result["registered_tenants"] == 21 and result["worker_rss_mb"]
    assert settings_module.get() is base_settings


def test_the_load_generator_counts_answers_refusals_and_dropped_connections():
    # A server that answers 201, then 422, then hangs up without answering, in turn.
    answers = iter([201, 422, None] * 50)
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers["Authorization"], json.loads(self.rfile.read(
                int(self.headers["Content-Length"])))["amount"]))
            status = next(answers)
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        seed = {"slug": "lg", "customer_ids": [1], "product_id": 1, "officer_id": 1, "loan": "L"}
        start = time.monotonic()
        # One user, paced at 20 a second for 0.45 s: nine requests, whatever the server's speed.
        users = _Users(server.server_address[1], "t0k", ["intake"], seed, [(start, 0.05)], start + 0.45)
        users.run()
    finally:
        server.shutdown()
    assert len(seen) == 9 and seen[0] == ("/t/lg/api/v1/applications", "Bearer t0k", "50000")
    assert len(users.results["intake"]) == 3 and all(0 < latency < 5 for latency in users.results["intake"])
    assert sorted(error[:3] for error in users.errors["intake"]) == ["422"] * 3 + ["no "] * 3


def test_api_bench_runs_only_the_flows_asked_for_at_the_rate_asked_for(base_settings, test_server):
    result = BENCHES["api"](_context(base_settings, test_server, n=2, workers=1,
                                     options={"duration": 2, "tenants": 1, "flows": ("intake",), "rate": 10}))
    assert result["flows_run"] == ["intake"] and set(result["flows"]) == {"intake"}
    assert result["errors"] == 0 and result["flows"]["intake"]["requests"] == result["requests"] > 0
    # Two users offering 10 requests a second together, for 2 seconds: about 20 requests, whatever the server's speed.
    assert (result["pacing"], result["offered_rps"], result["web_workers"]) == ("paced", 10, 1)
    assert 15 <= result["requests"] <= 21
