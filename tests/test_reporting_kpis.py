"""KPI snapshots: hand-computed figures over a small book, NULL for what cannot be computed, idempotent refresh."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from creditfactory.db import SystemContext, shared_session
from creditfactory.jobs.schedule import periodic_jobs
from creditfactory.reporting import kpis, services
from creditfactory.reporting.jobs import refresh_kpi_snapshots

from servicing_helpers import close_days, customer, open_standard

D = Decimal
AS_OF = dt.date(2026, 1, 10)


@pytest.fixture(scope="module")
def tenant_a(tenant_factory):
    """A bank of this module's own: the figures are checked over its whole loan book, which other modules' loans
    in the shared test bank would change."""
    return tenant_factory(name_en="Reporting Village Bank")


@pytest.fixture
def session(tenant_db, tenant_a):
    with SystemContext("test: reporting"):
        yield tenant_db(tenant_a)


def _application(session, reference, customer_id, product_id, officer, channel, history):
    app_id = session.execute(text(
        "INSERT INTO loan_application (reference, customer_id, product_id, amount, term_months, channel, state, "
        "officer_id) VALUES (:r, :c, :p, 12000, 3, :ch, :st, :o) RETURNING id"),
        {"r": reference, "c": customer_id, "p": product_id, "ch": channel, "st": history[-1][1], "o": officer}).scalar()
    previous = None
    for at, state, event, actor_id in history:
        session.execute(text(
            "INSERT INTO application_state_history (application_id, from_state, to_state, event, actor_id, actor, "
            "entered_at) VALUES (:a, :f, :t, :e, :actor_id, :actor, CAST(:at AS timestamptz))"),
            {"a": app_id, "f": previous, "t": state, "e": event, "actor_id": actor_id,
             "actor": "system" if actor_id is None else f"user{actor_id}", "at": at})
        previous = state
    return app_id


@pytest.fixture
def book(session):
    """Three applications (two disbursed, one rejected after review) and their two loans of 12,000.00."""
    product_id = session.execute(text(
        "INSERT INTO product (code, version, name_zh, name_en) VALUES ('KPI', 1, '测试', 'test') RETURNING id")).scalar()
    c1, c2, c3 = customer(session).id, customer(session).id, customer(session).id
    app1 = _application(session, "A-1", c1, product_id, 101, "branch", [
        ("2026-01-01 09:00+08", "APPLIED", "apply", 101), ("2026-01-02 09:00+08", "IN_REVIEW", "submit", 101),
        ("2026-01-02 21:00+08", "APPROVED", "approve", 7), ("2026-01-03 09:00+08", "DISBURSED", "disburse", 9)])
    app2 = _application(session, "A-2", c2, product_id, 101, "mobile_banking", [
        ("2026-01-01 09:00+08", "APPLIED", "apply", None), ("2026-01-01 21:00+08", "APPROVED", "approve", None),
        ("2026-01-02 09:00+08", "DISBURSED", "disburse", 9)])
    _application(session, "A-3", c3, product_id, 102, "branch", [
        ("2026-01-01 09:00+08", "APPLIED", "apply", 102), ("2026-01-01 12:00+08", "IN_REVIEW", "submit", 102),
        ("2026-01-02 00:00+08", "REJECTED", "reject", 8)])
    loan1 = open_standard(session, "L-1", customer_id=c1, application_id=app1)
    loan2 = open_standard(session, "L-2", customer_id=c2, application_id=app2)
    return loan1, loan2


def _stored(session, kind):
    with shared_session(bind=session.connection()) as shared:
        return {m: v for m, v in shared.execute(text(
            "SELECT metric, value FROM cf_shared.kpi_snapshot WHERE tenant_slug = :s AND period_kind = :k"),
            {"s": session.tenant.slug, "k": kind})}


def test_flow_and_stock_kpis_hand_computed(session, tenant_a, book):
    result = services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())
    month = result["month"]
    assert month["officers"] == 2                      # officers 101 and 102 worked cases in January
    assert month["loans_per_officer"] == D("1")        # 2 loans with an officer / 2 officers
    assert month["portfolio_per_officer"] == D("24000")  # 24,000.00 outstanding, all with officer 101
    assert month["turnaround_median_days"] == D("1.5")   # 2.0 and 1.0 days
    assert month["turnaround_p90_days"] == D("1.9")      # 1.0 + 0.9 x (2.0 - 1.0), linear interpolation
    assert month["online_approval_share"] == D("0.5")    # A-2 (mobile, engine) of
    assert month["auto_decision_rate"] == D("0.333333")  # 1 of 3 decisions without a person
    assert month["decline_review_days"] == D("0.5")      # IN_REVIEW 12:00 -> REJECTED 00:00
    assert (month["disbursed_volume"], month["disbursed_count"], month["customers_served"]) == (
        D("24000.00"), 2, 2)
    assert (month["gross_loans"], month["npl_ratio"], month["par30"]) == (D("24000.00"), D("0"), D("0"))
    assert month["provision_coverage"] is None          # no NPL: a ratio over nothing is absent, not zero
    assert month["cold_visit_success_rate"] is None
    stored = _stored(session, "month")
    assert set(stored) == set(kpis.METRICS)
    assert stored["cold_visit_success_rate"] is None and stored["loans_per_officer"] == D("1")
    # The day snapshot counts the trailing 30 days: the same flows here.
    assert result["day"]["disbursed_count"] == 2


def test_npl_par_and_provisions_match_direct_sql(session, tenant_a, book):
    loan1, loan2 = book
    session.execute(text("UPDATE loan_account SET risk_class = 'substandard' WHERE id = :id"), {"id": loan2.id})
    close_days(session, 1)  # provisions: 12,000 x 1% + 12,000 x 25% = 3,120.00
    session.execute(text("UPDATE loan_account SET dpd = 95 WHERE id = :id"), {"id": loan2.id})
    month = services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())["month"]
    provisions = session.execute(text(
        "SELECT sum(credit - debit) FROM journal_line WHERE account_code = '1304'")).scalar()
    assert provisions == D("3120.00")
    assert month["provisions"] == provisions
    assert month["npl_ratio"] == D("0.5")
    assert (month["par30"], month["par90"]) == (D("0.5"), D("0.5"))
    assert month["provision_coverage"] == D("0.26")      # 3,120 / 12,000
    assert month["loan_provision_ratio"] == D("0.13")    # 3,120 / 24,000


def test_refresh_is_idempotent(session, tenant_a, book):
    services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())
    services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())
    count = session.execute(text("SELECT count(*) FROM cf_shared.kpi_snapshot WHERE tenant_slug = :s"),
                            {"s": tenant_a.slug}).scalar()
    assert count == 2 * len(kpis.METRICS)


def test_periods():
    assert kpis.period_window("day", dt.date(2026, 3, 31), dt.date(2026, 3, 31)) == (
        dt.date(2026, 3, 2), dt.date(2026, 3, 31))
    assert kpis.period_window("month", dt.date(2026, 2, 1), dt.date(2026, 3, 5)) == (
        dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert kpis.period_window("month", dt.date(2026, 3, 1), dt.date(2026, 3, 5)) == (
        dt.date(2026, 3, 1), dt.date(2026, 3, 5))


def test_registered_daily():
    jobs = periodic_jobs()
    assert jobs["kpi-snapshots"].actor is refresh_kpi_snapshots
    assert jobs["kpi-snapshots"].daily_at == dt.time(5, 30)
