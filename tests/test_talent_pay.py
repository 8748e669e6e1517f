"""Competency models, pay bands and variable pay, the new scorecard KPIs and officer productivity against real
PostgreSQL: levels with anchors feed the competency score, pay is computed and explained from the month's scorecard,
and loans / portfolio per officer equal reporting's KPI computation and direct SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from creditfactory.db import SystemContext, tenant_session
from creditfactory.identity import changes
from creditfactory.lending.applications.models import ApplicationStateHistory
from creditfactory.lending.cob.dates import set_business_date
from creditfactory.lending.loans.models import LoanAccount
from creditfactory.reporting import kpis as reporting_kpis
from creditfactory.talent import competencies, pay, scorecards, services
from creditfactory.errors import Conflict
from creditfactory.talent.models import Employee, EvaluationCompetency, JobGrade
from creditfactory.talent.services import TalentError

from test_talent_scorecards import OFFICER_A, OFFICER_B, _loan, bank  # noqa: F401 (fixture)
from test_talent_services import CHECKER, MAKER, acting, person


def _setup(session, bank):
    with acting(person("tenant_admin", bank, MAKER), bank):
        services.propose_adoption(session, {})
    with acting(person("tenant_admin", bank, CHECKER), bank):
        changes.approve(session, session.scalars(text("SELECT max(id) FROM change_request")).one())
    with acting(person("tenant_admin", bank, MAKER), bank):
        request = competencies.propose_adoption(session, {"compliance": {
            "required_levels": {"AM-2": 3}, "anchors": {"1": {"zh": "了解本行制度", "en": "Knows our rules"}}}})
    assert competencies.model_document(session) == []  # nothing until the second person approves
    with acting(person("tenant_admin", bank, CHECKER), bank):
        changes.approve(session, request.id)
    with acting(person("tenant_admin", bank, MAKER), bank):
        services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="HO")
        services.hire(session, employee_no="A", name="甲", org_unit_code="HO", grade_code="AM-1",
                      hired_on=dt.date(2020, 1, 1), user_id=OFFICER_A)
        services.hire(session, employee_no="B", name="乙", org_unit_code="HO", grade_code="AM-1",
                      hired_on=dt.date(2020, 1, 1), user_id=OFFICER_B)


def test_competency_levels_make_the_score_and_show_on_the_career_page(bank):
    with tenant_session(bank) as session, session.begin():
        _setup(session, bank)
        model = {d["code"]: d for d in competencies.model_document(session)}
        assert model["compliance"]["anchors"]["1"]["en"] == "Knows our rules"
        assert model["compliance"]["required_levels"]["AM-2"] == 3
        assert model["credit_analysis"]["anchors"]["3"]["zh"]  # the template's anchors stay
        with acting(person("tenant_admin", bank, MAKER), bank):
            with pytest.raises(TalentError, match="level"):
                competencies.propose_adoption(session, {"compliance": {"required_levels": {"AM-2": 7}}})
            services.open_cycle(session, code="Y", period="2026", effective_date=dt.date(2027, 1, 1))
            levels = {"credit_analysis": 3, "cross_checking": 2, "customer_development": 2, "compliance": 3,
                      "digital_tools": 2}
            with pytest.raises(TalentError, match="every competency"):
                services.propose_evaluation(session, "Y", "A", exam_score="80", kpi_score="70", decision="promote",
                                            competency_levels={"credit_analysis": 3})
            with pytest.raises(TalentError, match="1 to 5"):
                services.propose_evaluation(session, "Y", "A", exam_score="80", kpi_score="70", decision="promote",
                                            competency_levels={**levels, "compliance": 6})
            ev = services.propose_evaluation(session, "Y", "A", exam_score="80", kpi_score="70",
                                             decision="promote", competency_levels=levels)
        # 100 × (3+2+2+3+2) / (5 × 5) = 48; total 0.3 × 80 + 0.5 × 70 + 0.2 × 48 = 68.60
        assert ev.competency_score == Decimal("48.00") and ev.total_score == Decimal("68.60")
        assert session.scalar(select(text("count(*)")).select_from(EvaluationCompetency)) == 5
        assert services.evaluation_document(session, ev)["competency_levels"] == levels
        with acting(person("tenant_admin", bank, CHECKER), bank):
            changes.approve(session, ev.change_request_id)
        a = session.scalars(select(Employee).where(Employee.employee_no == "A")).one()
        career = services.career_of(session, a, dt.date(2026, 12, 1))
        assert career["grade"]["code"] == "AM-2" and career["next_grade"]["code"] == "AM-3"
        profile = {c["code"]: c for c in career["next_grade"]["competencies"]}
        assert profile["credit_analysis"]["level"] == 3 and profile["credit_analysis"]["mine"] == 3
        assert profile["credit_analysis"]["met"] is True and profile["cross_checking"]["met"] is False


def _history(session, loan, events):
    """State history of a loan's application: (event, to_state, when) rows."""
    for event, state, when in events:
        session.add(ApplicationStateHistory(application_id=loan.application_id, event=event, to_state=state,
                                            actor="test", entered_at=when))
    session.flush()


def test_pay_kpis_and_productivity_match_reporting(bank):
    tz = dt.timezone(dt.timedelta(hours=8))
    with tenant_session(bank) as session, session.begin():
        _setup(session, bank)
        with SystemContext("test: loans"):
            old = _loan(session, 1, OFFICER_A, dt.date(2026, 5, 20), "10000.00")
            l2 = _loan(session, 2, OFFICER_A, dt.date(2026, 11, 3), "20000.00")
            _loan(session, 3, OFFICER_A, dt.date(2026, 11, 10), "30000.00")
            l4 = _loan(session, 4, OFFICER_B, dt.date(2026, 11, 12), "50000.00")
            set_business_date(session, dt.date(2026, 11, 30))
        # A: two submissions, one return; the application of loan 2 took 4.5 days to disbursement.
        _history(session, l2, [("apply", "APPLIED", dt.datetime(2026, 10, 30, 9, tzinfo=tz)),
                               ("submit", "IN_REVIEW", dt.datetime(2026, 11, 1, 9, tzinfo=tz)),
                               ("return", "INVESTIGATING", dt.datetime(2026, 11, 1, 15, tzinfo=tz)),
                               ("submit", "IN_REVIEW", dt.datetime(2026, 11, 2, 9, tzinfo=tz)),
                               ("disburse", "DISBURSED", dt.datetime(2026, 11, 3, 21, tzinfo=tz))])
        _history(session, l4, [("apply", "APPLIED", dt.datetime(2026, 11, 10, 9, tzinfo=tz)),
                               ("disburse", "DISBURSED", dt.datetime(2026, 11, 12, 9, tzinfo=tz))])
        # The May loan of A is now non-performing: clawback; the book is otherwise clean.
        session.execute(update(LoanAccount).where(LoanAccount.id == old.id).values(risk_class="substandard",
                                                                                   dpd=120))
        with acting(person("tenant_admin", bank, MAKER), bank):
            cards = {c.employee_id: c for c in scorecards.recompute(session, "2026-11")}
            ids = dict(session.execute(select(Employee.employee_no, Employee.id)).all())
            a, b = cards[ids["A"]], cards[ids["B"]]
            assert a.rework_rate == Decimal("0.5") and b.rework_rate is None
            assert a.turnaround_days == Decimal("4.5") and b.turnaround_days == Decimal("2")

            # Productivity: the same numbers as reporting's KPIs and as direct SQL.
            figures = scorecards.productivity(session, "2026-11")
            reported = reporting_kpis.compute(session, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30))
            assert figures["loans_per_officer"] == reported["loans_per_officer"]
            assert figures["portfolio_per_officer"] == reported["portfolio_per_officer"]
            direct = session.execute(text("""
                SELECT (SELECT count(*) FROM loan_account l JOIN loan_application a ON a.id = l.application_id
                         WHERE a.officer_id IS NOT NULL AND l.disbursed_on BETWEEN '2026-11-01' AND '2026-11-30'),
                       (SELECT count(DISTINCT a.officer_id) FROM application_state_history h
                         JOIN loan_application a ON a.id = h.application_id
                         WHERE (h.entered_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN '2026-11-01' AND '2026-11-30'),
                       (SELECT sum(l.principal_outstanding) FROM loan_account l
                         JOIN loan_application a ON a.id = l.application_id
                         WHERE a.officer_id IS NOT NULL AND l.state NOT IN ('settled', 'written_off')),
                       (SELECT count(DISTINCT a.officer_id) FROM loan_account l
                         JOIN loan_application a ON a.id = l.application_id
                         WHERE a.officer_id IS NOT NULL AND l.state NOT IN ('settled', 'written_off'))
            """)).one()
            assert figures["loans_per_officer"] == (Decimal(direct[0]) / direct[1]).quantize(Decimal("0.000001"))
            assert figures["portfolio_per_officer"] == (Decimal(direct[2]) / direct[3]).quantize(Decimal("0.000001"))
            per = {r["employee_no"]: r for r in figures["per_officer"]}
            assert per["A"]["loans"] == a.loans_disbursed == 2 and per["A"]["portfolio"] == a.managed_balance

            # Pay: bands, policy, computation and its explanation.
            with pytest.raises(TalentError, match="minimum <= midpoint"):
                pay.set_band(session, "AM-1", minimum="5000", midpoint="4000", maximum="6000", steps=["5000"])
            pay.adopt_standard_bands(session)
            session.execute(update(Employee).where(Employee.employee_no == "B").values(pay_step=3))
            with pytest.raises(TalentError, match="deferral_share"):
                pay.set_policy(session, {"deferral_share": "1.5"})
            policy = pay.set_policy(session, {"base_bonus_by_grade": {"AM-1": "2000"}})
            assert policy.version == 2 and policy.params["deferral_months"] == 12
            rows = {r.employee_id: r for r in pay.recompute(session, "2026-11")}
            pay.recompute(session, "2026-11")  # idempotent
            listed = {r["employee_no"]: r for r in pay.officer_pay(session, "2026-11")}
        pa, pb = rows[ids["A"]], rows[ids["B"]]
        assert pb.base_pay == Decimal("3600.00") and pa.base_pay == Decimal("3000.00")  # AM-1 steps 3 and 1
        # B: clean book → NPL multiplier 1.20 (< 1 %), overdue 1.00; variable = 2000 × score / 100 × 1.2
        assert pb.quality_multiplier == Decimal("1.2")
        assert pb.variable_pay == (Decimal(2000) * b.kpi_score / 100 * Decimal("1.2")).quantize(Decimal("0.01"))
        assert pb.deferred == (pb.variable_pay * Decimal("0.30")).quantize(Decimal("0.01"))
        assert pb.paid_now + pb.deferred == pb.variable_pay and pb.deferred_until == dt.date(2027, 11, 30)
        assert pb.clawback is False
        # A: NPL 10,000 / 60,000 (16.7 %) → multiplier 0, overdue 16.7 % → 0.50: no variable pay; clawback.
        assert pa.quality_multiplier == Decimal("0") and pa.variable_pay == Decimal("0.00") and pa.clawback is True
        assert listed["A"]["explanation"]["clawback"] == {"loans": 1, "since": "2025-11-30", "dpd": 90}
        assert listed["A"]["explanation"]["npl_multiplier"]["below"] is None  # above every band: "otherwise"
        assert listed["B"]["explanation"]["npl_multiplier"] == {"ratio": "0", "below": "0.01", "multiplier": "1.20"}
        assert listed["B"]["explanation"]["base_bonus"] == {"amount": "2000", "source": "grade"}
        assert listed["B"]["explanation"]["variable_pay"]["formula"] == (
            f"2000 × {b.kpi_score} / 100 × 1.2000 = {pb.variable_pay}")
        assert len(listed) == 2


def test_the_quality_gate_holds_at_approval(bank):
    """A promotion proposed while the officer's book was clean is refused at approval once the recomputed
    scorecard shows an own NPL ratio above the gate."""
    with tenant_session(bank) as session, session.begin():
        _setup(session, bank)
        with SystemContext("test: loans"):
            _loan(session, 1, OFFICER_A, dt.date(2026, 11, 5), "10000.00")
            set_business_date(session, dt.date(2026, 11, 30))
        with acting(person("tenant_admin", bank, MAKER), bank):
            scorecards.recompute(session, "2026-11")
            services.open_cycle(session, code="Y", period="2026", effective_date=dt.date(2027, 1, 1))
            ev = services.propose_evaluation(session, "Y", "A", exam_score="80", kpi_score="80",
                                             competency_score="80", decision="promote")
            session.execute(update(LoanAccount).where(LoanAccount.reference == "L-1").values(
                risk_class="doubtful", dpd=200))
            scorecards.recompute(session, "2026-11")
        with acting(person("tenant_admin", bank, CHECKER), bank), pytest.raises(Conflict, match="quality gate"):
            with session.begin_nested():
                changes.approve(session, ev.change_request_id)
        a = session.scalars(select(Employee).where(Employee.employee_no == "A")).one()
        assert session.get(JobGrade, a.grade_id).code == "AM-1"


def test_the_api_serves_competencies_pay_and_productivity(bank, api_client):
    with tenant_session(bank) as session, session.begin():
        _setup(session, bank)
        with SystemContext("test: loans"):
            _loan(session, 1, OFFICER_A, dt.date(2026, 11, 5), "10000.00")
            set_business_date(session, dt.date(2026, 11, 30))
    api = api_client(bank, "talent:read talent:write")
    base = f"{api.prefix}/api/v1/talent"

    model = api.get(f"{base}/competencies").get_json()
    assert {d["code"] for d in model} >= {"credit_analysis", "compliance"}
    assert api.post(f"{base}/competencies/adoption", json={"overrides": {}}).status_code == 403  # a person proposes

    band = api.put(f"{base}/pay/bands/AM-1", json={"minimum": "3000", "midpoint": "3500", "maximum": "4000",
                                                  "steps": ["3000", "3500", "4000"]})
    assert band.status_code == 200 and band.get_json()["steps"] == ["3000.00", "3500.00", "4000.00"]
    falling = api.put(f"{base}/pay/bands/AM-1", json={"minimum": "3000", "midpoint": "3500", "maximum": "4000",
                                                     "steps": ["4000", "3000"]})
    assert falling.status_code == 422
    assert api.get(f"{base}/pay/bands").get_json()[0]["steps"] == ["3000.00", "3500.00", "4000.00"]  # unchanged
    assert api.put(f"{base}/employees/B/pay-step", json={"pay_step": 4}).status_code == 422  # 3 steps only
    assert api.put(f"{base}/employees/B/pay-step", json={"pay_step": 2}).get_json() == {"employee_no": "B",
                                                                                      "pay_step": 2}

    assert api.get(f"{base}/pay/policy").get_json()["version"] == 1
    policy = api.post(f"{base}/pay/policy", json={"params": {"deferral_share": "0.5"}})
    assert policy.status_code == 201 and policy.get_json()["params"]["deferral_share"] == "0.5"

    computed = api.post(f"{base}/pay?period=2026-11").get_json()
    listed = api.get(f"{base}/pay?period=2026-11").get_json()
    assert computed == listed and {r["employee_no"] for r in listed} == {"A", "B"}
    a = next(r for r in listed if r["employee_no"] == "A")
    assert a["policy_version"] == 2 and a["base_pay"] == "3000.00"
    assert next(r for r in listed if r["employee_no"] == "B")["base_pay"] == "3500.00"
    assert Decimal(a["deferred"]) == (Decimal(a["variable_pay"]) / 2).quantize(Decimal("0.01"))

    cards = api.get(f"{base}/scorecards?period=2026-11").get_json()
    assert {"rework_rate", "turnaround_days"} <= set(cards[0])
    productivity = api.get(f"{base}/productivity?period=2026-11").get_json()
    with tenant_session(bank) as session:
        reported = reporting_kpis.compute(session, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30))
    assert Decimal(productivity["portfolio_per_officer"]) == reported["portfolio_per_officer"]
    assert productivity["loans_per_officer"] is None and reported["loans_per_officer"] is None  # nobody active
