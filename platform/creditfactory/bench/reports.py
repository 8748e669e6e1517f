"""``reports``: refresh every tenant's KPI and regulator snapshots, then build the consolidated regulator report.

How: in a temporary database, migrate ``cf_shared``, provision ``--tenants`` tenants through the real path, build
``--loans-per-tenant`` loans in each with :mod:`creditfactory.lending.cob.synthetic` plus the synthetic
origination and credit history of :mod:`creditfactory.reporting.synthetic` (set-based SQL, not timed), VACUUM
ANALYZE, then time (1) ``reporting.services.refresh_tenant`` for every tenant — tenants in parallel threads, at
most ``--workers`` at a time — and (2) ``regulatory_report`` over all tenants from the stored snapshots, plus its
CSV and XLSX renderings (median of five runs). Targets: refresh ≤ 60 s, consolidated report ≤ 1 s.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from . import BenchContext, register
from .common import bench_settings, checkpoint, environment, temporary_database

TARGET_REFRESH_SECONDS = 60.0
TARGET_REPORT_SECONDS = 1.0
BUSINESS_DATE = dt.date(2026, 11, 28)


@register("reports", "KPI/regulator snapshot refresh over --tenants x --loans-per-tenant, and the consolidated "
          "regulator report from snapshots", default_n=34, default_workers=2)
def run(ctx: BenchContext) -> dict[str, Any]:
    from ..db import SystemContext, engines, shared_session, tenant_session
    from ..lending.cob import synthetic as base
    from ..reporting import regulatory, services as reporting, synthetic
    from ..tenancy import migrations, services

    tenants = int(ctx.options.get("tenants") or ctx.n)
    per_tenant = int(ctx.options.get("loans_per_tenant") or 30_000)
    with temporary_database(ctx.server_url, "cf_bench_reports") as url, bench_settings(ctx.settings, url):
        with engines.engine_for().connect() as conn:
            facts = environment(conn, server_url=ctx.server_url, embedded=ctx.embedded)
        migrations.upgrade(workers=1)
        refs = []
        with SystemContext("bench: reports"):
            started = time.perf_counter()
            for i in range(tenants):
                ctx.progress(f"provisioning and building {per_tenant:,} loans in tenant {i + 1}/{tenants}")
                ref = services.provision(services.TenantSpec.from_mapping({
                    "slug": f"repbench{i:03d}", "name_zh": f"报表基准{i}", "name_en": f"Reports bench {i}",
                    "legal_entity_code": f"REPBENCH{i:05d}", "province": "云南省",
                    "business_date": BUSINESS_DATE.isoformat()}))
                refs.append(ref)
                with tenant_session(ref) as session, session.begin():
                    base.build(session, loans=per_tenant, business_date=BUSINESS_DATE)
                    synthetic.enrich(session, business_date=BUSINESS_DATE, officers=20 + i % 15,
                                     seed=(i % 199) / 200)
            build_seconds = time.perf_counter() - started
            with engines.engine_for().connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
                checkpoint(conn)

            def refresh(ref):
                with SystemContext("bench: reports"):
                    return reporting.refresh_tenant(ref)

            ctx.progress(f"refreshing KPI and regulator snapshots of {tenants} tenant(s), {ctx.workers} at a time")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=ctx.workers) as pool:
                results = list(pool.map(refresh, refs))
            refresh_seconds = time.perf_counter() - started

            ctx.progress("building the consolidated regulator report from the snapshots (5 runs)")
            timings, csv_bytes, xlsx_bytes, report = [], 0, 0, {}
            for _ in range(5):
                started = time.perf_counter()
                with shared_session() as session, session.begin():
                    report = reporting.regulatory_report(session)
                timings.append(time.perf_counter() - started)
            started = time.perf_counter()
            csv_bytes = len(regulatory.to_csv(report))
            csv_seconds = time.perf_counter() - started
            started = time.perf_counter()
            xlsx_bytes = len(regulatory.to_xlsx(report))
            xlsx_seconds = time.perf_counter() - started
            with engines.engine_for().connect() as conn:
                snapshot_rows = conn.execute(text("SELECT count(*) FROM cf_shared.kpi_snapshot")).scalar()

    report_seconds = statistics.median(timings)
    problems = []
    if len(report.get("tenants", {})) != tenants or report.get("missing"):
        problems.append("the consolidated report does not cover every tenant")
    npl = [r["day"]["npl_ratio"] for r in results]
    verdicts = []
    verdicts.append("refresh meets the target" if refresh_seconds <= TARGET_REFRESH_SECONDS
                    else f"refresh above the {TARGET_REFRESH_SECONDS:.0f} s target")
    verdicts.append("report meets the target" if report_seconds <= TARGET_REPORT_SECONDS
                    else f"report above the {TARGET_REPORT_SECONDS:.0f} s target")
    return {
        "name": "reports", "n": tenants, "workers": ctx.workers, "tenants": tenants,
        "loans_per_tenant": per_tenant, "loans": tenants * per_tenant,
        "p50_ms": round(report_seconds * 1000, 1), "p95_ms": round(max(timings) * 1000, 1),
        "p99_ms": round(max(timings) * 1000, 1),
        "refresh_seconds": round(refresh_seconds, 2), "target_refresh_seconds": TARGET_REFRESH_SECONDS,
        "report_seconds_median": round(report_seconds, 4), "target_report_seconds": TARGET_REPORT_SECONDS,
        "csv_seconds": round(csv_seconds, 4), "csv_bytes": csv_bytes,
        "xlsx_seconds": round(xlsx_seconds, 4), "xlsx_bytes": xlsx_bytes,
        "kpi_snapshot_rows": snapshot_rows, "build_seconds": round(build_seconds, 1),
        "consolidated_npl_ratio": report.get("consolidated", {}).get("ratios", {}).get("npl_ratio"),
        "tenant_npl_ratio_range": [str(min(npl)), str(max(npl))] if npl else None,
        "load_average": list(os.getloadavg()),
        "verdict": "; ".join(verdicts), "ok": not problems, "problems": problems, **facts,
    }
