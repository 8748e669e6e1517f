"""The set-based synthetic history: calibrated near the case's figures, and the reports agree with direct SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from creditfactory.db import SystemContext
from creditfactory.lending.cob import synthetic as base
from creditfactory.reporting import services, synthetic

D = Decimal
DAY = dt.date(2026, 11, 28)


@pytest.fixture
def session(tenant_db, tenant_b):
    with SystemContext("test: reporting synthetic"):
        yield tenant_db(tenant_b)


def test_synthetic_book_is_calibrated_and_reported_consistently(session, tenant_b):
    base.build(session, loans=3000, business_date=DAY)
    synthetic.enrich(session, business_date=DAY, officers=12, seed=0.1)
    session.flush()
    result = services.refresh_tenant(tenant_b, as_of=DAY, bind=session.connection())
    day, doc = result["day"], result["regulatory"]
    assert D("0.003") < day["npl_ratio"] < D("0.025")
    npl, gross = session.execute(text(
        "SELECT sum(principal_outstanding) FILTER (WHERE risk_class IN ('substandard', 'doubtful', 'loss')), "
        "sum(principal_outstanding) FROM loan_account WHERE state NOT IN ('settled', 'written_off')")).one()
    assert day["npl_ratio"] == (npl / gross).quantize(D("0.000001"))
    assert day["officers"] > 1 and day["loans_per_officer"] > 0
    assert D("0.3") <= day["turnaround_median_days"] <= D("6")
    assert D("0.3") < day["online_approval_share"] < D("0.6")
    assert day["provision_coverage"] > 1
    assert sum(D(row["balance"]) for row in doc["five_tier"].values()) == gross
    assert sum(row["loans"] for row in doc["par_buckets"].values()) == 3000
