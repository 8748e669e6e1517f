"""``cob``: close of business throughput, loans per second, on a synthetic portfolio.

How: in a temporary database, migrate ``cf_shared``, provision ``--tenants`` tenants through the real path,
build ``--loans`` loans split over them with :mod:`creditfactory.lending.cob.synthetic` (set-based SQL, not
timed), ANALYZE, then close one business day for every tenant (``cob.services.close_day``: all seven steps,
each its own transaction) — tenants in parallel threads, at most ``--workers`` at a time — and time it.
``loans_per_second`` = loans / wall time of the COB. Afterwards every tenant's books are checked
(``ledger.problems``: balanced entries, trial balance, each loan's sub-ledger against the ledger) and the
business date must have advanced; any problem makes the result ``ok: false``.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from . import BenchContext, register
from .common import bench_settings, checkpoint, environment, temporary_database

TARGET_LOANS_PER_SECOND = 5000
BUSINESS_DATE = dt.date(2026, 11, 28)


@register("cob", "Close of business: one business day over --loans loans in --tenants tenants, loans/s",
          default_n=100_000, default_workers=2)
def run(ctx: BenchContext) -> dict[str, Any]:
    from ..db import SystemContext, engines, tenant_session
    from ..lending.cob import services as cob
    from ..lending.cob import synthetic
    from ..lending.ledger import services as ledger
    from ..tenancy import migrations, services

    loans = int(ctx.options.get("loans") or ctx.n)
    tenants = int(ctx.options.get("tenants") or 1)
    if loans < tenants:
        raise ValueError("--loans must be at least --tenants")
    with temporary_database(ctx.server_url, "cf_bench_cob") as url, bench_settings(ctx.settings, url):
        with engines.engine_for().connect() as conn:
            facts = environment(conn, server_url=ctx.server_url, embedded=ctx.embedded)
        migrations.upgrade(workers=1)
        refs = []
        with SystemContext("bench: cob"):
            for i in range(tenants):
                refs.append(services.provision(services.TenantSpec.from_mapping({
                    "slug": f"cobbench{i:03d}", "name_zh": f"日终基准{i}", "name_en": f"COB bench {i}",
                    "legal_entity_code": f"COBBENCH{i:05d}", "province": "云南省",
                    "business_date": BUSINESS_DATE.isoformat()})))
            started = time.perf_counter()
            for i, ref in enumerate(refs):
                share = loans // tenants + (1 if i < loans % tenants else 0)
                ctx.progress(f"building {share:,} loans in {ref.slug}")
                with tenant_session(ref) as session, session.begin():
                    synthetic.build(session, loans=share, business_date=BUSINESS_DATE)
            build_seconds = time.perf_counter() - started
            with engines.engine_for().connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
                checkpoint(conn)
                installments = sum(conn.execute(text(f'SELECT count(*) FROM "{ref.schema}".loan_installment'))
                                   .scalar() for ref in refs)

            ctx.progress(f"closing {BUSINESS_DATE} for {tenants} tenant(s), {ctx.workers} at a time")

            def close(ref):
                with SystemContext("bench: cob"):
                    return cob.close_day(ref)

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=ctx.workers) as pool:
                results = list(pool.map(close, refs))
            seconds = time.perf_counter() - started

            problems = []
            steps: dict[str, int] = {}
            for ref, result in zip(refs, results):
                with tenant_session(ref) as session, session.begin():
                    problems += [f"{ref.slug}: {p}" for p in ledger.problems(session)]
                    for step, millis in session.execute(text("SELECT step, millis FROM cob_step")):
                        steps[step] = steps.get(step, 0) + millis
                    if cob.business_date(session) != BUSINESS_DATE + dt.timedelta(days=1):
                        problems.append(f"{ref.slug}: business date did not advance")
                if result is None or len(result.steps_run) != len(cob.STEPS):
                    problems.append(f"{ref.slug}: not every step ran")
            accrued = {}
            with tenant_session(refs[0]) as session, session.begin():
                accrued = dict(session.execute(text(
                    "SELECT kind, count(*) FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id "
                    "WHERE e.business_date = :d GROUP BY kind"), {"d": BUSINESS_DATE}).all())

    rate = loans / seconds
    if rate < TARGET_LOANS_PER_SECOND:
        note = f"below the target of {TARGET_LOANS_PER_SECOND} loans/s"
    else:
        note = "meets the target"
    return {
        "name": "cob", "n": loans, "workers": ctx.workers, "tenants": tenants,
        "p50_ms": round(seconds * 1000, 1), "p95_ms": round(seconds * 1000, 1), "p99_ms": round(seconds * 1000, 1),
        "cob_seconds": round(seconds, 3), "loans_per_second": round(rate, 1),
        "target_loans_per_second": TARGET_LOANS_PER_SECOND, "verdict": note,
        "installments": installments, "build_seconds": round(build_seconds, 1),
        "step_millis_summed_over_tenants": steps, "lines_posted_tenant0": accrued,
        "ok": not problems, "problems": problems[:20], **facts,
    }
