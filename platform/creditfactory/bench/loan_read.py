"""``loan-read``: reading one loan account with 10 years of daily-accrual history through the API, p95.

How: in a temporary database, provision one tenant and open one term loan on 2016-12-01 over 132 monthly
equal-principal instalments (built by ``lending.calc``). Its history is then written day by day for ten years:
every period's daily accrual entry (Dr 1302 for the loan / Cr 5011, the cumulative amounts COB's ``accrue`` step
writes; one set-based INSERT per period, not timed as COB) and, on each due date, the instalment's repayment
through ``loans.post_repayment`` (allocations, transaction, journal entry). The books are checked afterwards
(``ledger.problems``). Then ``n`` requests per endpoint go through the Flask app (test client: routing,
authentication with a real OAuth bearer token, tenant binding, service, serialisation — no network) and the
latency percentiles (nearest rank) are reported per endpoint. Target (issue 5): p95 ≤ 50 ms.

With ``CREDITFACTORY_BENCH_PROFILE=1`` each endpoint is then requested ``n`` more times under cProfile (after the
timed requests, so the timings carry no profiler overhead), and the result gains, per endpoint, the functions with
the most cumulative time per request and the SQL statements executed per request.
"""

from __future__ import annotations

import base64
import cProfile
import datetime as dt
import os
import pstats
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from . import BenchContext, register
from .common import bench_settings, environment, latency_summary, temporary_database

TARGET_P95_MS = 50.0
OPENED = dt.date(2016, 12, 1)
MONTHS = 132
TODAY = dt.date(2026, 11, 28)
ENDPOINTS = ("", "/schedule", "/transactions", "/postings?limit=50", "/classification")

_HISTORY = """
WITH days AS (
    SELECT CAST(d AS date) AS day,
           round(i.interest_due * (CAST(d AS date) - i.start_date) / (i.due_date - i.start_date), 2)
           - round(i.interest_due * (CAST(d AS date) - 1 - i.start_date) / (i.due_date - i.start_date), 2) AS amount
    FROM loan_installment i, generate_series(i.start_date + 1, i.due_date, interval '1 day') d
    WHERE i.id = :inst
), entries AS (
    INSERT INTO journal_entry (business_date, kind, memo)
    SELECT day, 'accrual', 'COB interest accrual (term loans)' FROM days WHERE amount > 0 ORDER BY day
    RETURNING id, business_date
)
INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
SELECT e.id, '1302', CAST(:loan AS integer), d.amount, 0 FROM entries e JOIN days d ON d.day = e.business_date
UNION ALL
SELECT e.id, '5011', CAST(NULL AS integer), 0, d.amount FROM entries e JOIN days d ON d.day = e.business_date
"""

#: The first page of a loan's postings, as GET /loans/{reference}/postings reads it (for EXPLAIN ANALYZE).
_POSTINGS_PAGE = """
SELECT l.entry_id, e.business_date, e.kind, l.account_code, l.debit, l.credit
FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id
WHERE l.loan_id = :loan ORDER BY l.entry_id DESC, l.id DESC LIMIT 50"""


@register("loan-read", "One loan with 10 years of daily accrual: GET loan, schedule, transactions, postings; p95",
          default_n=300)
def run(ctx: BenchContext) -> dict[str, Any]:
    from ..app import create_app
    from ..db import SystemContext, engines, shared_session, tenant_session
    from ..identity.oauth import services as oauth_services
    from ..identity.permissions import Context
    from ..lending.calc.schedule import Method, ScheduleTerms, build_schedule
    from ..lending.cob.dates import set_business_date
    from ..lending.customers.models import Customer
    from ..lending.ledger import services as ledger
    from ..lending.loans import services as loans
    from ..lending.loans.models import Installment
    from ..tenancy import migrations, services

    with temporary_database(ctx.server_url, "cf_bench_loanread") as url, \
            bench_settings(ctx.settings, url) as settings:
        with engines.engine_for().connect() as conn:
            facts = environment(conn, server_url=ctx.server_url, embedded=ctx.embedded)
        migrations.upgrade(workers=1)
        with SystemContext("bench: loan-read"):
            ref = services.provision(services.TenantSpec.from_mapping({
                "slug": "loanreadbench", "name_zh": "贷款读取基准", "name_en": "Loan read bench",
                "legal_entity_code": "LOANREAD0001", "province": "云南省", "business_date": OPENED.isoformat()}))
            schedule = build_schedule(ScheduleTerms(method=Method.EQUAL_PRINCIPAL, principal=Decimal("500000.00"),
                                                    annual_rate=Decimal("0.0612"), months=MONTHS, start=OPENED))
            ctx.progress("writing ten years of daily accrual and monthly repayments")
            started = time.perf_counter()
            with tenant_session(ref) as session, session.begin():
                set_business_date(session, OPENED)
                customer = Customer(kind="individual", name="基准借款人")
                session.add(customer)
                session.flush()
                loan = loans.open_loan(session, reference="BENCH-LOAN", customer_id=customer.id,
                                       principal="500000.00", annual_rate=Decimal("0.0612"),
                                       installments=[{"due_date": p.due_date, "principal": p.principal,
                                                      "interest": p.interest} for p in schedule.periods])
                rows = session.query(Installment).filter_by(loan_id=loan.id).order_by(Installment.seq).all()
                for row in rows:
                    if row.due_date >= TODAY:
                        break
                    session.execute(text(_HISTORY), {"inst": row.id, "loan": loan.id})
                    row.interest_accrued = row.interest_due
                    session.flush()
                    set_business_date(session, row.due_date)
                    loans.post_repayment(session, loan.id, row.principal_due + row.interest_due,
                                         idempotency_key=f"bench-{row.seq}")
                set_business_date(session, TODAY)
                problems = ledger.problems(session)
                counts = dict(session.execute(text(
                    "SELECT 'journal_lines', count(*) FROM journal_line WHERE loan_id = :l UNION ALL "
                    "SELECT 'accrual_days', count(DISTINCT e.business_date) FROM journal_entry e "
                    "WHERE e.kind = 'accrual' UNION ALL "
                    "SELECT 'transactions', count(*) FROM loan_transaction WHERE loan_id = :l"),
                    {"l": loan.id}).all())
            build_seconds = time.perf_counter() - started
            with engines.engine_for().connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            if os.environ.get("CREDITFACTORY_BENCH_PROFILE"):
                # The plan with the loan-entry index, and without it (dropped inside a transaction that is
                # rolled back: PostgreSQL's DDL is transactional), to show what the index buys.
                with tenant_session(ref) as session, session.begin():
                    explain = text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + _POSTINGS_PAGE)
                    plan = {"with_index": session.execute(explain, {"loan": loan.id}).scalars().all()}
                    session.execute(text("DROP INDEX ix_journal_line_loan_entry"))
                    plan["without_index"] = session.execute(explain, {"loan": loan.id}).scalars().all()
                    session.rollback()
            with shared_session() as session, session.begin():
                issued = oauth_services.create_client(session, "loan-read bench", "loans:read",
                                                      context=Context.TENANT, tenant_slug=ref.slug)
        app = create_app(settings)
        client = app.test_client()
        basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": f"Basic {basic}"})
        headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
        base = f"/t/{ref.slug}/api/v1/loans/BENCH-LOAN"
        results: dict[str, Any] = {}
        for tail in ENDPOINTS:
            for _ in range(10):  # warm-up: connection pool, caches
                client.get(base + tail, headers=headers)
            ctx.progress(f"GET {tail or '/'} x {ctx.n}")
            seconds = []
            for _ in range(ctx.n):
                begin = time.perf_counter()
                answer = client.get(base + tail, headers=headers)
                seconds.append(time.perf_counter() - begin)
                if answer.status_code != 200:
                    problems.append(f"GET {tail or '/'} answered {answer.status_code}")
                    break
            results[tail or "/"] = {**latency_summary(seconds), "bytes": len(answer.data)}
            if os.environ.get("CREDITFACTORY_BENCH_PROFILE"):
                results[tail or "/"]["profile"] = _profile(client, base + tail, headers, ctx.n)
    worst = max(r["p95_ms"] for r in results.values())
    return {
        "name": "loan-read", "n": ctx.n, "p50_ms": max(r["p50_ms"] for r in results.values()),
        "p95_ms": worst, "p99_ms": max(r["p99_ms"] for r in results.values()),
        "target_p95_ms": TARGET_P95_MS, "meets_target": worst <= TARGET_P95_MS,
        "endpoints": results, "history": counts, "build_seconds": round(build_seconds, 1),
        "ok": not problems, "problems": problems[:20], **facts,
        **({"explain_postings": plan} if os.environ.get("CREDITFACTORY_BENCH_PROFILE") else {}),
    }


#: Functions reported per endpoint by the profile (the rest is below the noise).
PROFILE_TOP = 12


def _profile(client, url: str, headers: dict[str, str], n: int) -> dict[str, Any]:
    """Where one request's time goes: ``n`` requests under cProfile, the top functions by cumulative time (ms
    per request) and the statements sent to PostgreSQL per request."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        for _ in range(n):
            client.get(url, headers=headers)
        profiler.disable()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ours, own_time, sql = [], [], 0.0
    for (filename, line, function), (_cc, _calls, self_time, cumulative, _callers) in stats.items():
        name = f"{os.path.basename(filename)}:{line}({function})"
        if "/creditfactory/" in filename:
            ours.append((cumulative, name))
        own_time.append((self_time, name if filename != "~" else function))
        if "psycopg" in filename and function == "execute":
            sql += cumulative
    per_request = lambda seconds: round(seconds * 1000 / n, 2)  # noqa: E731
    return {"statements_per_request": round(statements[0] / n, 1), "sql_execute_ms": per_request(sql),
            "ours_cumulative_ms": {name: per_request(t) for t, name in sorted(ours, reverse=True)[:PROFILE_TOP]},
            "self_time_ms": {name: per_request(t) for t, name in sorted(own_time, reverse=True)[:PROFILE_TOP]}}
