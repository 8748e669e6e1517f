"""``routing``: what naming a tenant adds to a request, how often the guard runs, and start-up with many tenants."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import event, insert, text

from . import BenchContext, register
from .common import bench_settings, environment, latency_summary, percentile, temporary_database

#: Tenants registered for the run: start-up is measured with this many, requests spread over them.
REGISTERED = 1000
TARGET_OVERHEAD_MS = 0.1
TARGET_STARTUP_S = 3.0

_STARTUP_PROBE = (
    "import time; started = time.perf_counter(); "
    "from creditfactory.app import create_app; create_app(); "
    "print(time.perf_counter() - started)"
)


def _register_tenants(count: int) -> list[str]:
    """Registry rows only: routing and start-up read the registry, never the tenant schemas."""
    import datetime as dt

    from ..db import engine_for
    from ..tenancy.models import Tenant

    slugs = [f"bank{i:05d}" for i in range(count)]
    rows = [dict(slug=s, name_zh=f"基准村镇银行{i}", name_en=f"Bench Village Bank {i}", legal_entity_code=f"BENCH-{i:05d}",
                 province="云南省", city="", county="", status="active", status_reason="", cluster="default",
                 schema_name=f"t_{s}", business_date=dt.date(2026, 11, 28), timezone="Asia/Shanghai",
                 locale="zh_Hans_CN", currency="CNY", export_path="") for i, s in enumerate(slugs)]
    with engine_for().begin() as conn:
        conn.execute(insert(Tenant), rows)
    return slugs


def _request_latencies(app, slugs: list[str], n: int) -> tuple[list[float], list[float]]:
    """Interleaved untenanted and tenanted requests to the same empty view, through the whole WSGI stack."""
    client = app.test_client()
    for slug in slugs:  # warm the registry cache as a long-running process has it
        client.get(f"/t/{slug}/bench/ping")
    plain, tenanted = [], []
    clock = time.perf_counter
    for i in range(n):
        started = clock()
        client.get("/bench/ping")
        plain.append(clock() - started)
        started = clock()
        client.get(f"/t/{slugs[i % len(slugs)]}/bench/ping")
        tenanted.append(clock() - started)
    return plain, tenanted


def _binding_latencies(app, slug: str, n: int) -> list[float]:
    """Resolution and binding alone (before_request + teardown), without the rest of the request."""
    from ..tenancy import routing

    samples = []
    clock = time.perf_counter
    with app.test_request_context("/bench/ping", base_url=f"http://{slug}.localhost"):
        for _ in range(n):
            started = clock()
            routing.bind_tenant()
            routing.unbind_tenant()
            samples.append(clock() - started)
    return samples


def _set_local_per_transaction(tenant) -> int:
    """SET LOCAL statements issued by one tenant transaction that runs several queries."""
    from ..db import engine_for, tenant_session

    seen = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SET LOCAL"):
            seen.append(statement)

    event.listen(engine_for(), "before_cursor_execute", record)
    try:
        with tenant_session(tenant) as session, session.begin():
            for _ in range(3):
                session.execute(text("SELECT count(*) FROM tenant_parameter")).scalar()
    finally:
        event.remove(engine_for(), "before_cursor_execute", record)
    return len(seen)


def _startup_seconds(database_url: str, runs: int = 3) -> list[float]:
    """Wall time of a fresh interpreter importing and building the app (what a new worker pays)."""
    env = {**os.environ, "CREDITFACTORY_DATABASE_URL": database_url}
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", _STARTUP_PROBE], env=env, check=True, capture_output=True)
        results.append(time.perf_counter() - started)
    return results


@register("routing", "Tenant routing: per-request overhead of resolving and binding the tenant", default_n=20_000)
def run(ctx: BenchContext) -> dict[str, Any]:
    from ..app import create_app
    from ..db import engines
    from ..tenancy import migrations, services

    with temporary_database(ctx.server_url, "cf_bench_routing") as url, bench_settings(ctx.settings, url) as settings:
        with engines.engine_for().connect() as conn:
            facts = environment(conn, server_url=ctx.server_url, embedded=ctx.embedded)
        migrations.upgrade(workers=1)
        ctx.progress(f"registering {REGISTERED} tenants")
        slugs = _register_tenants(REGISTERED)
        real = services.provision(services.TenantSpec.from_mapping({
            "slug": "routingbench", "name_zh": "路由基准", "name_en": "Routing bench", "legal_entity_code": "BENCH-REAL",
            "province": "云南省"}))
        app = create_app(settings)
        app.add_url_rule("/bench/ping", "bench_ping", lambda: ("", 204))
        ctx.progress(f"{ctx.n} untenanted + {ctx.n} tenanted requests")
        plain, tenanted = _request_latencies(app, slugs, ctx.n)
        binding = _binding_latencies(app, real.slug, ctx.n)
        set_locals = _set_local_per_transaction(real)
        pools = len(engines._engines)
        ctx.progress("measuring start-up with the registered tenants")
        startup = _startup_seconds(url)

    overhead_ms = (statistics.median(tenanted) - statistics.median(plain)) * 1000
    binding.sort()
    problems = []
    if set_locals != 1:
        problems.append(f"{set_locals} SET LOCAL statements in one tenant transaction (expected exactly 1)")
    if pools != 1:
        problems.append(f"{pools} connection pools for {REGISTERED + 1} tenants on one cluster (expected 1)")
    return {
        "name": "routing",
        "n": ctx.n,
        **latency_summary(tenanted),
        "untenanted_p50_ms": latency_summary(plain)["p50_ms"],
        "overhead_p50_ms": round(overhead_ms, 4),
        "binding_p50_us": round(percentile(binding, 50) * 1e6, 1),
        "binding_p99_us": round(percentile(binding, 99) * 1e6, 1),
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "meets_target": overhead_ms <= TARGET_OVERHEAD_MS,
        "set_local_per_transaction": set_locals,
        "connection_pools": pools,
        "registered_tenants": REGISTERED + 1,
        "startup_s": round(statistics.median(startup), 3),
        "startup_runs_s": [round(s, 3) for s in startup],
        "target_startup_s": TARGET_STARTUP_S,
        "tenant_cache_ttl_s": settings.tenant_cache_ttl,
        "ok": not problems,
        "problems": problems,
        **facts,
    }
