"""IPC analysis formulas against a hand-computed worksheet (DOMAIN §1.2–1.4)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal as D

import pytest

from creditfactory.lending.investigation.analysis import (
    AnalysisParameters, CheckType, WorksheetError, analyse, deviation, is_complete, max_loan, worksheet_from_dict,
)
from creditfactory.lending.investigation.questionnaire import (
    DEFAULT_QUESTIONNAIRE, QuestionnaireError, questionnaire_from_dict, score_soft_information,
)

VISIT = dt.date(2026, 1, 10)
ALL_GOOD = {i.code: max(i.options, key=lambda o: o.score).code for i in DEFAULT_QUESTIONNAIRE.indicators}

#: A grocery shop: every figure below is used by a hand computation in the tests.
WORKSHEET = {
    # assets 5000 + 15000 + 10000 + 60000 + 40000 = 130000; liabilities 10000 + 20000 = 30000; equity 100000
    "business_balance_sheet": {"cash_on_hand": "5000", "bank_balances": "15000", "receivables": "10000",
                               "inventory": "60000", "fixed_assets": "40000", "supplier_payables": "10000",
                               "bank_loans": "20000", "guarantees_given": "5000"},
    # assets 300000 + 50000 + 20000 = 370000; liabilities 100000; equity 270000
    "household_balance_sheet": {"house": "300000", "vehicles": "50000", "deposits": "20000", "mortgage": "100000"},
    "pnl": {
        # sales 30000 + 10000 = 40000; cogs 30000 × 0.8 + 10000 × 0.7 = 31000; gross profit 9000;
        # opex 1000 + 2000 + 1000 = 4000; net business profit 5000; + 1000 − 2000 = disposable 4000
        "typical": {"lines": [{"name": "rice", "sales": "30000", "gross_margin": "0.20"},
                              {"name": "oil", "sales": "10000", "gross_margin": "0.30"}],
                    "operating_expenses": {"rent": "1000", "wages": "2000", "other": "1000"},
                    "other_household_income": "1000", "household_expenses": {"food": "1500", "education": "500"}},
        # good: 50000 sales at 20 % → 10000 gross, − 4000 = 6000 net
        "good": {"lines": [{"name": "all", "sales": "50000", "gross_margin": "0.20"}],
                 "operating_expenses": {"all": "4000"}, "other_household_income": "1000",
                 "household_expenses": {"all": "2000"}},
        # bad: 20000 at 20 % → 4000 gross, − 4000 = 0 net
        "bad": {"lines": [{"name": "all", "sales": "20000", "gross_margin": "0.20"}],
                "operating_expenses": {"all": "4000"}, "other_household_income": "1000",
                "household_expenses": {"all": "2000"}},
    },
    "seasonality": ["good", "bad"] + ["typical"] * 9 + ["good"],
    "existing_instalments": "500",
    "loan": {"amount": "20000", "term_months": 12, "annual_rate": "0.0612", "method": "equal_installment",
             "start": "2026-01-15", "planned_use": "20000"},
    "evidence": {"sample_daily_sales": "1500", "operating_days": 26, "sample_month": 3,
                 "purchases_month": "33000", "stock_change_month": "2000",
                 "bank_inflows_month": "20000", "bank_share_of_sales": "0.5",
                 "price_samples": [{"product": "rice", "buy_price": "8", "sell_price": "10"},
                                   {"product": "oil", "buy_price": "7", "sell_price": "10"}],
                 "sector_inventory_months": "1.5",
                 "initial_equity": "50000", "retained_profits": "70000", "withdrawals": "30000",
                 "household_size": 4, "living_cost_per_person": "500", "bureau_debts": "120000"},
    "soft_answers": ALL_GOOD,
}


def run(data=WORKSHEET, params=None):
    return analyse(worksheet_from_dict(data), params, visit_date=VISIT)


def test_statements_and_pnl():
    a = run()
    assert (a.business.total_assets, a.business.total_liabilities, a.business.equity) == (130000, 30000, 100000)
    assert (a.household.total_assets, a.household.total_liabilities, a.household.equity) == (370000, 100000, 270000)
    typical = a.pnl["typical"]
    assert (typical.sales, typical.cogs, typical.gross_profit, typical.total_operating_expenses) == (
        40000, 31000, 9000, 4000)
    assert (typical.net_business_profit, typical.disposable_income) == (5000, 4000)
    assert a.pnl["good"].net_business_profit == 6000 and a.pnl["bad"].net_business_profit == 0
    # inventory + receivables − payables = 60000 + 10000 − 10000
    assert a.working_capital_need == 60000


def test_seasonality_factors():
    # good 50000 / typical 40000 = 1.25; bad 20000 / 40000 = 0.5
    assert run().seasonality_factors == (D("1.25"), D("0.5"), *[D(1)] * 9, D("1.25"))


def test_ratios():
    # instalment on 20000 over 12 at 0.0051: 20000 × 0.0051 × 1.0051^12 / (1.0051^12 − 1) = 1722.4319 → 1722.43
    a = run()
    assert a.new_instalment == D("1722.43")
    got = {r.code: (r.value, r.passed, r.judged) for r in a.ratios}
    # (1722.43 + 500) / 4000 = 0.5556075 → 0.5556 ≤ 0.70
    assert got["repayment_capacity"] == (D("0.5556"), True, True)
    # 1722.43 / 4000 = 0.4306 (shown, not judged by default)
    assert got["repayment_capacity_new_only"] == (D("0.4306"), True, False)
    # (30000 + 20000) / 100000 = 0.5
    assert got["debt_to_equity"] == (D("0.5000"), True, True)
    # 30000 / 130000 = 0.230769… → 0.2308
    assert got["debt_to_assets"] == (D("0.2308"), True, True)
    # (5000 + 15000 + 10000) / 30000 = 1.0 ≥ 1.0
    assert got["quick_ratio"] == (D("1.0000"), True, True)
    # 20000 / 100000
    assert got["loan_to_equity"] == (D("0.2000"), True, True)


def test_ratio_thresholds_come_from_parameters():
    params = AnalysisParameters(repayment_capacity_max=D("0.50"), capacity_includes_existing=False)
    got = {r.code: (r.passed, r.judged) for r in run(params=params).ratios}
    assert got["repayment_capacity"] == (False, False)
    assert got["repayment_capacity_new_only"] == (True, True)


def test_max_loan_by_annuity_inversion():
    # C = 0.70 × 4000 − 500 = 2300; (1 − 1.0051^−12) / 0.0051 = 11.611489484…; 2300 × 11.611489484 = 26706.4258…
    # → rounded down to 26706.42
    assert run().max_loan == D("26706.42")
    assert max_loan(D("4000"), D("500"), D("0.7"), D("0.0612"), 12) == D("26706.42")
    assert max_loan(D("4000"), D("500"), D("0.7"), D("0"), 10) == D("23000.00")  # zero rate: C × n
    assert max_loan(D("500"), D("500"), D("0.7"), D("0.06"), 12) == D("0.00")  # no capacity left


def test_cross_checks_hand_computed():
    checks = {c.type: c for c in run().cross_checks}
    assert set(checks) == set(CheckType)
    # 1500 × 26 = 39000, March is typical (factor 1): |40000 − 39000| / 39000 = 0.02564 → 0.0256
    c = checks[CheckType.SALES_VS_SAMPLE]
    assert (c.stated, c.derived, c.deviation, c.passed) == (40000, D("39000.00"), D("0.0256"), True)
    # margin 9000 / 40000 = 0.225; (33000 − 2000) / (1 − 0.225) = 31000 / 0.775 = 40000
    c = checks[CheckType.SALES_VS_PURCHASES]
    assert (c.derived, c.deviation, c.passed) == (D("40000.00"), D("0.0000"), True)
    # 20000 / 0.5 = 40000
    assert checks[CheckType.SALES_VS_BANK_FLOWS].derived == D("40000.00")
    # sampled (10 − 8) / 10 = 0.20 for rice, (10 − 7) / 10 = 0.30 for oil, weighted 30000:10000 → 0.225
    c = checks[CheckType.GROSS_MARGIN]
    assert (c.stated, c.derived, c.passed) == (D("0.2250"), D("0.2250"), True)
    # 60000 / 31000 = 1.9355 months of stock vs the sector's 1.5: 0.4355 / 1.5 = 0.2903 > 0.10
    c = checks[CheckType.INVENTORY_TURNOVER]
    assert (c.stated, c.derived, c.deviation, c.passed) == (D("1.9355"), D("1.5"), D("0.2903"), False)
    # expected 50000 + 70000 − 30000 = 90000 vs reconstructed 100000: 10000 / 90000 = 0.1111 > 0.10
    c = checks[CheckType.EQUITY_CHECK]
    assert (c.stated, c.derived, c.deviation, c.passed) == (100000, 90000, D("0.1111"), False)
    # 4 × 500 = 2000 = stated 1500 + 500
    assert checks[CheckType.HOUSEHOLD_EXPENSES].deviation == D("0.0000")
    # stated 20000 bank + 100000 mortgage = 120000 = bureau
    assert checks[CheckType.DEBT_VS_BUREAU].passed
    assert run().escalate


def test_tolerances_come_from_parameters():
    tolerances = {t: D("0.10") for t in CheckType} | {CheckType.EQUITY_CHECK: D("0.12"),
                                                      CheckType.INVENTORY_TURNOVER: D("0.30")}
    a = run(params=AnalysisParameters(tolerances=tolerances))
    assert all(c.passed for c in a.cross_checks) and not a.escalate


def test_sample_adjusted_for_season():
    data = copy.deepcopy(WORKSHEET)
    data["evidence"]["sample_month"] = 12  # December is good (factor 1.25): 39000 / 1.25 = 31200
    c = {c.type: c for c in run(data).cross_checks}[CheckType.SALES_VS_SAMPLE]
    # |40000 − 31200| / 31200 = 0.28205 → 0.2821
    assert (c.derived, c.deviation, c.passed) == (D("31200.00"), D("0.2821"), False)


def test_deviation_with_zero_derived():
    assert deviation(D(0), D(0)) is None
    assert deviation(D(5), D(4)) == D("0.2500")


def test_cash_flow_projection():
    # Opening cash 5000 + 15000 = 20000; the loan's 20000 goes straight into stock (planned use), so loan_in 0.
    # Months follow the due dates 2026-02-15 … 2027-01-15.
    # February is bad: 0 + 1000 − 2000 − 500 − 1722.43 = −3222.43 → cumulative 16777.57
    # March typical:  5000 + 1000 − 2000 − 500 − 1722.43 = 1777.57 → 18555.14
    flow = run().cash_flow
    assert [m.month for m in flow][:2] == [dt.date(2026, 2, 15), dt.date(2026, 3, 15)]
    assert (flow[0].scenario, flow[0].net, flow[0].cumulative) == ("bad", D("-3222.43"), D("16777.57"))
    assert (flow[1].scenario, flow[1].net, flow[1].cumulative) == ("typical", D("1777.57"), D("18555.14"))
    # December and January are good: 6000 + 1000 − 2000 − 500 − 1722.43 = 2777.57
    assert flow[10].scenario == "good" and flow[10].net == D("2777.57")
    assert run().cash_never_negative


def test_soft_information_scoring():
    s = score_soft_information(DEFAULT_QUESTIONNAIRE, ALL_GOOD)
    assert len(DEFAULT_QUESTIONNAIRE.indicators) == 15
    # 4 indicators top out at 3 (the year scales' "over 5 years" … two of them) and the rest at 2:
    best = sum(i.max_score for i in DEFAULT_QUESTIONNAIRE.indicators)
    assert best == 2 * 3 + 13 * 2 == 32
    assert (s.score, s.max_score, s.ratio, s.unanswered, s.red_flags) == (32, 32, D("1.0000"), (), ())
    s = score_soft_information(DEFAULT_QUESTIONNAIRE, {**ALL_GOOD, "litigation": "pending", "years_in_business": "lt1"})
    # 32 − 2 (litigation) − 3 (years) = 27; 27 / 32 = 0.84375 → 0.8438
    assert (s.score, s.ratio, s.red_flags) == (27, D("0.8438"), ("litigation",))
    s = score_soft_information(DEFAULT_QUESTIONNAIRE, {"health": "good"})
    assert len(s.unanswered) == 14


def test_questionnaire_is_configurable_data():
    custom = questionnaire_from_dict({"code": "tea-v1", "indicators": [
        {"code": "tea_garden_years", "label_zh": "茶园经营年限", "label_en": "Years running the tea garden",
         "weight": "2", "options": [{"code": "new", "label_zh": "新", "label_en": "New", "score": 0},
                                    {"code": "old", "label_zh": "老", "label_en": "Established", "score": 5}]}]})
    s = score_soft_information(custom, {"tea_garden_years": "old"})
    assert (s.score, s.max_score) == (10, 10)
    assert questionnaire_from_dict(DEFAULT_QUESTIONNAIRE.as_dict()) == DEFAULT_QUESTIONNAIRE
    with pytest.raises(QuestionnaireError, match="not an option"):
        score_soft_information(custom, {"tea_garden_years": "ancient"})
    with pytest.raises(QuestionnaireError, match="unknown indicator"):
        score_soft_information(custom, {"health": "good"})
    with pytest.raises(QuestionnaireError, match="malformed"):
        questionnaire_from_dict({"indicators": [{"code": "x"}]})


def test_completeness():
    ws = worksheet_from_dict(WORKSHEET)
    assert is_complete(ws, analyse(ws, visit_date=VISIT))
    partial = copy.deepcopy(WORKSHEET)
    partial["soft_answers"] = {"health": "good"}
    ws = worksheet_from_dict(partial)
    assert not is_complete(ws, analyse(ws, visit_date=VISIT))


@pytest.mark.parametrize("change, message", [
    ({"business_balance_sheet": {"cash_on_hand": "lots"}}, "business_balance_sheet.cash_on_hand must be a number"),
    ({"business_balance_sheet": {"cash_on_hand": "-1"}}, "non-negative"),
    ({"business_balance_sheet": {"gold": "1"}}, "unknown field"),
    ({"seasonality": ["good"] * 11}, "12 months"),
    ({"loan": {"amount": "1000"}}, "needs term_months and annual_rate"),
    ({"loan": {"amount": "1000", "term_months": 12, "annual_rate": "0.06", "method": "weekly"}}, "loan:"),
    ({"loan": {"amount": "1000", "term_months": 12, "annual_rate": "7"}}, "annual rate must be a fraction"),
    ({"pnl": {"typical": {"lines": [{"sales": "100", "gross_margin": "25"}]}}}, "is a fraction"),
])
def test_bad_worksheet_refused(change, message):
    with pytest.raises(WorksheetError, match=message):
        run({**WORKSHEET, **change})


def test_empty_worksheet_analyses_without_error():
    a = run({})
    assert a.cross_checks == () and a.max_loan == 0 and a.cash_flow == ()
    assert not any(r.passed for r in a.ratios if r.code.startswith("repayment"))
