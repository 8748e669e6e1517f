"""Regulator documents: every figure checked against direct SQL over the tenant schema; consolidation; downloads."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from creditfactory.db import SystemContext, shared_session
from creditfactory.reporting import regulatory, services

from servicing_helpers import customer, open_standard

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


@pytest.fixture
def book(session):
    """Five loans of 12,000.00: two for one borrower, one substandard at DPD 100, one at 14% a year."""
    c1, c2, c3, c4 = (customer(session).id, customer(session).id, customer(session, "micro_enterprise").id,
                      customer(session, "household").id)
    loans = [open_standard(session, f"R-{i}", customer_id=c) for i, c in enumerate((c1, c1, c2, c3, c4), 1)]
    session.execute(text("UPDATE loan_account SET risk_class = 'substandard', dpd = 100 WHERE id = :id"),
                    {"id": loans[2].id})
    session.execute(text("UPDATE loan_account SET dpd = 12, risk_class = 'special_mention' WHERE id = :id"),
                    {"id": loans[3].id})
    session.execute(text("UPDATE loan_account SET annual_rate = 0.14 WHERE id = :id"), {"id": loans[4].id})
    return loans, (c1, c2, c3, c4)


def _capital(session, net):
    with shared_session(bind=session.connection()) as shared:
        shared.execute(text("INSERT INTO cf_shared.tenant_capital (tenant_slug, net_capital, single_borrower_limit, "
                            "single_group_limit, npl_ratio_limit, provision_coverage_min, loan_provision_ratio_min, "
                            "updated_by) VALUES (:s, :n, 0.05, 0.10, 0.05, 1.50, 0.025, 'test')"),
                       {"s": session.tenant.slug, "n": net})
        shared.commit()  # the savepoint only: the test's outer transaction still rolls everything back


def test_document_matches_direct_sql(session, tenant_a, book):
    _capital(session, "400000.00")  # 5% = 20,000: the two-loan borrower (24,000) breaches, the others not
    loans, (c1, *_rest) = book
    doc = services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())["regulatory"]
    sql = lambda q, **p: session.execute(text(q), p).all()  # noqa: E731
    for cls, n, balance in sql("SELECT risk_class, count(*), sum(principal_outstanding) FROM loan_account "
                               "WHERE state NOT IN ('settled', 'written_off') GROUP BY risk_class"):
        assert (doc["five_tier"][cls]["loans"], D(doc["five_tier"][cls]["balance"])) == (n, balance)
    assert doc["five_tier"]["doubtful"] == {"loans": 0, "balance": "0.00", "share": "0.000000"}
    assert doc["ratios"]["gross_loans"] == "60000.00"
    assert doc["ratios"]["npl_ratio"] == {"value": "0.200000", "limit": "0.05000000", "breach": True}
    provisions = sql("SELECT coalesce(sum(credit - debit), 0) FROM journal_line WHERE account_code = '1304'")[0][0]
    assert D(doc["ratios"]["provisions"]) == provisions
    top = doc["concentration"]["largest_borrowers"][0]
    assert (top["customer_id"], top["loans"], top["balance"], top["share_of_net_capital"], top["breach"]) == (
        c1, 2, "24000.00", "0.060000", True)
    assert doc["concentration"]["breaches"] == 1
    assert doc["concentration"]["top10_share_of_net_capital"] == "0.150000"  # 60,000 / 400,000
    assert "name" not in str(doc)  # aggregates and internal ids only
    assert doc["par_buckets"]["0"] == {"loans": 3, "balance": "36000.00"}
    assert doc["par_buckets"]["1-30"] == {"loans": 1, "balance": "12000.00"}
    assert doc["par_buckets"]["91-180"] == {"loans": 1, "balance": "12000.00"}
    # Inclusive finance: all four borrowers (balances far under 10M); rate weighted by balance: (4 x 12% + 14%) / 5.
    assert doc["inclusive"] == {"borrowers": 4, "loans": 5, "balance": "60000.00", "average_rate": "0.124000"}
    assert doc["interest_rates"]["10-15%"] == {"loans": 5, "balance": "60000.00"}
    assert doc["interest_rates"]["<6%"] == {"loans": 0, "balance": "0.00"}


def test_without_capital_concentration_is_absent_not_zero(session, tenant_a, book):
    doc = services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())["regulatory"]
    assert doc["concentration"]["net_capital"] is None
    assert doc["concentration"]["largest_borrowers"][0]["share_of_net_capital"] is None
    assert doc["concentration"]["largest_borrowers"][0]["breach"] is None


def test_report_from_snapshots_consolidates_and_downloads(session, tenant_a, book):
    services.refresh_tenant(tenant_a, as_of=AS_OF, bind=session.connection())
    with shared_session(bind=session.connection()) as shared:
        report = services.regulatory_report(shared, as_of=AS_OF, tenants=[tenant_a.slug])
        earlier = services.regulatory_report(shared, as_of=AS_OF - dt.timedelta(days=1), tenants=[tenant_a.slug])
    assert report["as_of"] == "2026-01-10" and report["tenant_dates"] == {tenant_a.slug: "2026-01-10"}
    assert earlier["missing"] == [tenant_a.slug]
    consolidated = report["consolidated"]
    assert consolidated["ratios"]["npl_ratio"] == "0.200000"
    assert consolidated["five_tier"]["normal"] == {"loans": 3, "balance": "36000.00", "share": "0.600000"}
    csv_text = regulatory.to_csv(report).decode("utf-8-sig")
    assert f"{tenant_a.slug}:five_tier,substandard,balance,12000.00" in csv_text
    assert "consolidated:ratios,,npl_ratio,0.200000" in csv_text
    sheet = load_workbook(io.BytesIO(regulatory.to_xlsx(report))).active
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert ("consolidated:ratios", None, "npl_ratio", "0.200000") in values or (
        "consolidated:ratios", "", "npl_ratio", "0.200000") in values


def test_consolidation_sums_entities():
    doc = lambda bal, npl, prov: {  # noqa: E731
        "five_tier": {"normal": {"loans": 1, "balance": bal}}, "par_buckets": {}, "interest_rates": {},
        "ratios": {"gross_loans": bal, "npl_balance": npl, "provisions": prov},
        "concentration": {"net_capital": None, "largest_borrowers": [], "breaches": 0},
        "inclusive": {"borrowers": 1, "loans": 1, "balance": bal, "average_rate": "0.10"}}
    out = regulatory.consolidate({"a": doc("100.00", "1.00", "3.00"), "b": doc("300.00", "3.00", "5.00")})
    assert out["ratios"]["npl_ratio"] == "0.010000"  # 4 / 400
    assert out["ratios"]["provision_coverage"] == "2.000000"  # 8 / 4
    assert out["five_tier"]["normal"] == {"loans": 2, "balance": "400.00", "share": "1.000000"}
    assert out["inclusive"]["average_rate"] == "0.100000"
