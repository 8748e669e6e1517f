"""Loan-officer scorecards against real PostgreSQL: the set-based computation agrees with direct SQL over the
tenant's loans, the score formula with a hand-computed example, the NPL quality gate stops a promotion, and the
dramatiq job recomputes idempotently."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import CurrentTenant, SystemContext, tenant_session
from creditfactory.identity import changes
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.cob.dates import set_business_date
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.loans import services as loans
from creditfactory.lending.loans.models import LoanAccount
from creditfactory.lending.products import declared
from creditfactory.lending.products.models import Product
from creditfactory.talent import jobs, scorecards, services
from creditfactory.talent.models import OfficerScorecard
from creditfactory.talent.services import TalentError

from test_talent_services import CHECKER, MAKER, acting, person

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"
OFFICER_A, OFFICER_B = 301, 302


@pytest.fixture
def bank(tenant_factory):
    tenant = tenant_factory(name_en="Scorecard Bank")
    with CurrentActor.bind(Actor("test:talent", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)
        declared.apply_tenant_products(tenant.slug, [
            {"code": "biz_operating", "template": "biz_operating", "template_version": 1}])
    return tenant


def _loan(session, n, officer, disbursed_on, principal):
    product_id = session.scalar(select(Product.id).where(Product.code == "biz_operating"))
    customer = Customer(kind="individual", name=f"客户{n}")
    session.add(customer)
    session.flush()
    application = LoanApplication(reference=f"APP-{n}", customer_id=customer.id, product_id=product_id,
                                  amount=Decimal(principal), term_months=3, channel="branch", state="DISBURSED",
                                  officer_id=officer)
    session.add(application)
    session.flush()
    set_business_date(session, disbursed_on)
    return loans.open_loan(session, reference=f"L-{n}", customer_id=customer.id, principal=principal,
                           annual_rate="0.12", application_id=application.id, installments=[
                               {"due_date": disbursed_on + dt.timedelta(days=30), "principal": principal,
                                "interest": str((Decimal(principal) / 100).quantize(Decimal("0.01")))}])


DIRECT = """
SELECT e.employee_no,
  (SELECT count(*) FROM loan_account l JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND l.disbursed_on >= :start AND l.disbursed_on <= :end) AS loans_disbursed,
  (SELECT coalesce(sum(l.principal_amount), 0) FROM loan_account l JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND l.disbursed_on >= :start AND l.disbursed_on <= :end) AS amount_disbursed,
  (SELECT coalesce(sum(l.principal_outstanding), 0) FROM loan_account l
    JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND l.state NOT IN ('settled', 'written_off')) AS managed_balance,
  (SELECT count(DISTINCT l.customer_id) FROM loan_account l JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND l.state NOT IN ('settled', 'written_off')) AS customers,
  (SELECT coalesce(sum(t.interest), 0) FROM loan_transaction t JOIN loan_account l ON l.id = t.loan_id
    JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND t.kind IN ('repayment', 'payoff') AND t.reversed = false
      AND t.business_date >= :start AND t.business_date <= :end) AS interest_contribution,
  (SELECT coalesce(sum(l.principal_outstanding), 0) FROM loan_account l
    JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id = e.user_id AND l.state NOT IN ('settled', 'written_off')
      AND l.risk_class IN ('substandard', 'doubtful', 'loss')) AS npl_balance
FROM employee e WHERE e.user_id IS NOT NULL ORDER BY e.employee_no
"""


def test_scorecards_match_direct_sql_and_gate_promotion(bank):
    with tenant_session(bank) as session, session.begin():
        with acting(person("tenant_admin", bank, MAKER), bank):
            services.propose_adoption(session, {})
        with acting(person("tenant_admin", bank, CHECKER), bank):
            changes.approve(session, session.scalars(text("SELECT max(id) FROM change_request")).one())
        with acting(person("tenant_admin", bank, MAKER), bank):
            services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="HO")
            services.hire(session, employee_no="A", name="甲", org_unit_code="HO", grade_code="AM-1",
                          hired_on=dt.date(2020, 1, 1), user_id=OFFICER_A)
            services.hire(session, employee_no="B", name="乙", org_unit_code="HO", grade_code="AM-1",
                          hired_on=dt.date(2020, 1, 1), user_id=OFFICER_B)
            services.hire(session, employee_no="C", name="丙", org_unit_code="HO", hired_on=dt.date(2020, 1, 1))
        with SystemContext("test: loans"):
            _loan(session, 1, OFFICER_A, dt.date(2026, 10, 20), "10000.00")   # before the period
            l2 = _loan(session, 2, OFFICER_A, dt.date(2026, 11, 3), "20000.00")
            _loan(session, 3, OFFICER_A, dt.date(2026, 11, 10), "30000.00")
            _loan(session, 4, OFFICER_B, dt.date(2026, 11, 12), "50000.00")
            set_business_date(session, dt.date(2026, 11, 20))
            loans.post_repayment(session, l2.id, "5000.00", idempotency_key="sc-1")
        # Loan 3 is non-performing and overdue (classification is servicing's; the scorecard only reads it).
        session.execute(update(LoanAccount).where(LoanAccount.reference == "L-3").values(risk_class="substandard",
                                                                                         dpd=95))
        with acting(person("tenant_admin", bank, MAKER), bank):
            cards = {c.employee_id: c for c in scorecards.recompute(session, "2026-11")}
            rows = {r["employee_no"]: r for r in scorecards.scorecards(session, "2026-11")}
        assert set(rows) == {"A", "B"}  # C is no officer: no AM grade, no applications
        start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
        for direct in session.execute(text(DIRECT), {"start": start, "end": end}).mappings():
            if direct["employee_no"] == "C":
                continue
            row = rows[direct["employee_no"]]
            for name in ("loans_disbursed", "amount_disbursed", "managed_balance", "customers",
                         "interest_contribution"):
                assert row[name] == direct[name], (direct["employee_no"], name)
            npl = (Decimal(direct["npl_balance"]) / Decimal(direct["managed_balance"])).quantize(Decimal("1E-8"))
            assert row["npl_ratio"] == npl
        a = rows["A"]
        # A: loans 2 and 3 in November (50,000); open balance 10,000 + (20,000 − principal repaid) + 30,000.
        assert (a["loans_disbursed"], a["amount_disbursed"], a["customers"]) == (2, Decimal("50000.00"), 3)
        assert a["npl_ratio"] == (Decimal("30000") / a["managed_balance"]).quantize(Decimal("1E-8"))
        assert a["promotion_blocked"] is True and rows["B"]["promotion_blocked"] is False
        # The formula on B by hand (default definition): loans 1/6, amount 50,000/1,000,000, balance 50,000/6,000,000,
        # customers 1/60, interest 0, overdue 0 → 1, NPL 0 → 1, first-payment defaults 0 → 1.
        b = rows["B"]
        expected = (Decimal("0.20") * Decimal(1) / 6 + Decimal("0.15") * Decimal("0.05")
                    + Decimal("0.15") * Decimal(50000) / Decimal(6000000) + Decimal("0.10") * Decimal(1) / 60
                    + Decimal("0.10") + Decimal("0.15") + Decimal("0.05")) * 100
        assert b["kpi_score"] == expected.quantize(Decimal("0.01"))
        # 0.033333 + 0.0075 + 0.00125 + 0.001667 + 0.10 + 0.15 + 0.05 = 0.34375 (weights sum to 1) → 34.38
        assert b["kpi_score"] == Decimal("34.38")
        # Quality gate: A's own NPL ratio is above 3 %: no promotion.
        with acting(person("tenant_admin", bank, MAKER), bank):
            services.open_cycle(session, code="Y", period="2026", effective_date=dt.date(2027, 1, 1))
            with pytest.raises(TalentError, match="quality gate"):
                services.propose_evaluation(session, "Y", "A", exam_score="90", kpi_score="90",
                                            competency_score="90", decision="promote")
            services.propose_evaluation(session, "Y", "B", exam_score="90", kpi_score="90",
                                        competency_score="90", decision="promote")
        assert len(cards) == 2


def test_the_job_recomputes_idempotently(bank, stub_broker):
    with tenant_session(bank) as session, session.begin():
        with acting(person("tenant_admin", bank, MAKER), bank):
            services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="HO")
            services.hire(session, employee_no="A", name="甲", org_unit_code="HO", hired_on=dt.date(2020, 1, 1),
                          user_id=OFFICER_A)
        with SystemContext("test: loans"):
            _loan(session, 1, OFFICER_A, dt.date(2026, 11, 2), "10000.00")
    for _ in range(2):
        with CurrentTenant.bind(bank):
            jobs.recompute_scorecards.fn("2026-11")
    with tenant_session(bank) as session, session.begin():
        cards = session.scalars(select(OfficerScorecard)).all()
        assert [(c.period, c.loans_disbursed, c.amount_disbursed) for c in cards] == [
            ("2026-11", 1, Decimal("10000.00"))]
