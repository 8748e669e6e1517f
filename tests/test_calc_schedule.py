"""Repayment calculator: hand-computed schedules to the fen, properties, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from creditfactory.cli import cli
from creditfactory.lending.calc import (
    DayCount, Grace, Method, RevolvingEvent, ScheduleError, ScheduleTerms, build_schedule, revolving_schedule,
)

JAN15 = dt.date(2026, 1, 15)


def rows(schedule):
    return [(p.due_date.isoformat(), str(p.principal), str(p.interest), str(p.total), str(p.balance))
            for p in schedule.periods]


def test_equal_installment_hand_computed():
    # r = 0.0612 / 12 = 0.0051; (1.0051)^12 = 1.06294618...
    # A = 100000 × 0.0051 × 1.06294618 / 0.06294618 = 8612.1595... → 8612.16
    # k=1: interest 100000 × 0.0051 = 510.00, principal 8612.16 − 510.00 = 8102.16, balance 91897.84
    # k=2: interest 91897.84 × 0.0051 = 468.6789.. → 468.68, principal 8143.48, balance 83754.36
    # k=12: interest 8568.46 × 0.0051 = 43.6991.. → 43.70, principal = the balance 8568.46, total 8612.16
    s = build_schedule(ScheduleTerms(Method.EQUAL_INSTALLMENT, D("100000"), D("0.0612"), 12, JAN15))
    r = rows(s)
    assert r[0] == ("2026-02-15", "8102.16", "510.00", "8612.16", "91897.84")
    assert r[1] == ("2026-03-15", "8143.48", "468.68", "8612.16", "83754.36")
    assert r[11] == ("2027-01-15", "8568.46", "43.70", "8612.16", "0.00")
    assert {p.total for p in s.periods} == {D("8612.16")}
    # Totals: 12 × 8612.16 = 103345.92, interest 3345.92.
    assert (s.total_principal, s.total_interest, s.total_payment) == (D("100000.00"), D("3345.92"), D("103345.92"))


def test_equal_principal_hand_computed():
    # P/n = 12000 / 12 = 1000.00; r = 0.06 / 12 = 0.005; interest_k = (12000 − (k−1)·1000) × 0.005 = 60, 55, …, 5
    # total interest = 5 × (12 + 11 + … + 1) = 5 × 78 = 390.00
    s = build_schedule(ScheduleTerms(Method.EQUAL_PRINCIPAL, D("12000"), D("0.06"), 12, JAN15))
    assert [p.interest for p in s.periods] == [D(60 - 5 * k).quantize(D("0.01")) for k in range(12)]
    assert {p.principal for p in s.periods} == {D("1000.00")}
    assert s.periods[0].total == D("1060.00") and s.periods[-1].total == D("1005.00")
    assert s.total_interest == D("390.00")


def test_equal_principal_last_instalment_absorbs_rounding():
    # 10000 / 3 = 3333.333… → 3333.33, 3333.33, and the last takes 10000 − 6666.66 = 3333.34
    s = build_schedule(ScheduleTerms(Method.EQUAL_PRINCIPAL, D("10000"), D("0.06"), 3, JAN15))
    assert [p.principal for p in s.periods] == [D("3333.33"), D("3333.33"), D("3333.34")]
    # interest: 10000 × 0.005 = 50.00; 6666.67 × 0.005 = 33.33335 → 33.33; 3333.34 × 0.005 = 16.6667 → 16.67
    assert [p.interest for p in s.periods] == [D("50.00"), D("33.33"), D("16.67")]


def test_monthly_interest_act360_and_act365():
    # days: 01-15→02-15 31, →03-15 28, →04-15 31
    # ACT/360: 100000 × 0.0612 × 31 / 360 = 6120 × 31 / 360 = 527.00; × 28 / 360 = 476.00
    s = build_schedule(ScheduleTerms(Method.MONTHLY_INTEREST, D("100000"), D("0.0612"), 3, JAN15))
    assert rows(s) == [("2026-02-15", "0.00", "527.00", "527.00", "100000.00"),
                       ("2026-03-15", "0.00", "476.00", "476.00", "100000.00"),
                       ("2026-04-15", "100000.00", "527.00", "100527.00", "0.00")]
    # ACT/365: 6120 × 31 / 365 = 519.7808… → 519.78; 6120 × 28 / 365 = 469.4794… → 469.48
    s = build_schedule(ScheduleTerms(Method.MONTHLY_INTEREST, D("100000"), D("0.0612"), 3, JAN15, DayCount.ACT365))
    assert [p.interest for p in s.periods] == [D("519.78"), D("469.48"), D("519.78")]
    assert s.total_interest == D("1509.04")


def test_bullet_hand_computed():
    # 2026-01-15 → 2026-07-15 is 181 days; 50000 × 0.0612 × 181 / 360 = 3060 × 181 / 360 = 1538.50
    s = build_schedule(ScheduleTerms(Method.BULLET, D("50000"), D("0.0612"), 6, JAN15))
    assert rows(s) == [("2026-07-15", "50000.00", "1538.50", "51538.50", "0.00")]
    assert s.periods[0].days == 181


def test_broken_first_period_accrues_by_the_day():
    # Start 2026-01-10, due on the 15th: first period 01-10 → 02-15 = 36 days.
    # interest = 100000 × 0.0612 × 36 / 360 = 612.00; the principal part stays the regular 8102.16
    s = build_schedule(ScheduleTerms(Method.EQUAL_INSTALLMENT, D("100000"), D("0.0612"), 12, dt.date(2026, 1, 10),
                                     due_day=15))
    first = s.periods[0]
    assert (first.due_date, first.days, first.principal, first.interest, first.total) == (
        dt.date(2026, 2, 15), 36, D("8102.16"), D("612.00"), D("8714.16"))
    assert s.periods[1].total == D("8612.16")
    # A short first period (start 01-20, due on the 5th: 01-20 → 02-05 = 16 days):
    # 100000 × 0.0612 × 16 / 360 = 272.00
    s = build_schedule(ScheduleTerms(Method.EQUAL_INSTALLMENT, D("100000"), D("0.0612"), 12, dt.date(2026, 1, 20),
                                     due_day=5))
    assert (s.periods[0].days, s.periods[0].interest) == (16, D("272.00"))


def test_due_day_clamped_to_month_end():
    s = build_schedule(ScheduleTerms(Method.MONTHLY_INTEREST, D("1000"), D("0.06"), 3, dt.date(2026, 1, 31)))
    assert [p.due_date for p in s.periods] == [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]


def test_interest_only_grace():
    # 12000 at 6 %: r = 0.005; grace 1 month: interest 60.00 only; then 12000 / 3 = 4000 a month with
    # interest 60.00, 40.00, 20.00
    s = build_schedule(ScheduleTerms(Method.EQUAL_PRINCIPAL, D("12000"), D("0.06"), 4, JAN15, grace_months=1))
    assert [(str(p.principal), str(p.interest)) for p in s.periods] == [
        ("0.00", "60.00"), ("4000.00", "60.00"), ("4000.00", "40.00"), ("4000.00", "20.00")]


def test_full_grace_defers_interest_without_compounding():
    # Full grace: nothing paid in period 1; its 60.00 interest is paid with period 2 (60.00 + 60.00 = 120.00)
    s = build_schedule(ScheduleTerms(Method.EQUAL_PRINCIPAL, D("12000"), D("0.06"), 4, JAN15, grace_months=1,
                                     grace=Grace.FULL))
    assert [(str(p.principal), str(p.interest), str(p.total)) for p in s.periods] == [
        ("0.00", "0.00", "0.00"), ("4000.00", "120.00", "4120.00"), ("4000.00", "40.00", "4040.00"),
        ("4000.00", "20.00", "4020.00")]
    assert s.total_interest == D("180.00")  # 120.00 + 40.00 + 20.00, as with interest-only grace


def test_equal_installment_grace_amortises_over_the_rest():
    # grace 2 of 14 months: the annuity runs over 12 periods, the same 8612.16 as without grace
    s = build_schedule(ScheduleTerms(Method.EQUAL_INSTALLMENT, D("100000"), D("0.0612"), 14, JAN15, grace_months=2))
    assert [p.total for p in s.periods[:2]] == [D("510.00"), D("510.00")]
    assert {p.total for p in s.periods[2:]} == {D("8612.16")}


def test_balloon_hand_computed():
    # Notional 36 months: (1.0051)^36 = 1.20097461…; A = 100000 × 0.0051 × 1.20097461 / 0.20097461 = 3047.6339 → 3047.63
    # k=1: interest 510.00, principal 2537.63; the 12th period pays the remaining 71363.28 + 363.95 interest
    # (71363.28 × 0.0051 = 363.9527 → 363.95)
    s = build_schedule(ScheduleTerms(Method.BALLOON, D("100000"), D("0.0612"), 12, JAN15, amortization_months=36))
    assert rows(s)[0] == ("2026-02-15", "2537.63", "510.00", "3047.63", "97462.37")
    assert {p.total for p in s.periods[:11]} == {D("3047.63")}
    assert rows(s)[11] == ("2027-01-15", "71363.28", "363.95", "71727.23", "0.00")


def test_revolving_hand_computed():
    # Limit 100000 at 6.12 % ACT/360: a day on 50000 costs 50000 × 0.0612 / 360 = 8.50, on 30000 5.10.
    # Period 1 (01-15 → 02-15): drawn 50000 on 01-20, 26 days × 8.50 = 221.00
    # Period 2 (02-15 → 03-15): 14 days × 8.50 (to 02-28) + 14 days × 5.10 (03-01 → 03-14, after repaying 20000)
    #   = 119.00 + 71.40 = 190.40
    # Period 3 (03-15 → 04-15): 31 × 5.10 = 158.10, and the 30000 still drawn falls due at maturity
    s = revolving_schedule(D("100000"), D("0.0612"), JAN15, 3, [
        RevolvingEvent(dt.date(2026, 1, 20), D("50000")), RevolvingEvent(dt.date(2026, 3, 1), D("-20000"))])
    assert [(str(p.principal), str(p.interest), str(p.balance), str(p.available)) for p in s.periods] == [
        ("0.00", "221.00", "50000.00", "50000.00"), ("20000.00", "190.40", "30000.00", "70000.00"),
        ("30000.00", "158.10", "0.00", "100000.00")]
    assert s.total_principal == D("50000.00") and s.total_interest == D("569.50")


def test_revolving_same_day_draw_and_repay_costs_nothing():
    s = revolving_schedule(D("1000"), D("0.06"), JAN15, 1, [
        RevolvingEvent(dt.date(2026, 1, 20), D("500")), RevolvingEvent(dt.date(2026, 1, 20), D("-500"))])
    assert s.total_interest == D("0.00")


@pytest.mark.parametrize("events, message", [
    ([RevolvingEvent(dt.date(2026, 1, 20), D("100000.01"))], "exceeds the available"),
    ([RevolvingEvent(dt.date(2026, 1, 20), D("-1"))], "more than the"),
    ([RevolvingEvent(dt.date(2026, 3, 1), D("1"))], "outside the line's term"),
])
def test_revolving_refuses_bad_events(events, message):
    with pytest.raises(ScheduleError, match=message):
        revolving_schedule(D("100000"), D("0.06"), JAN15, 1, events)


@pytest.mark.parametrize("terms, message", [
    (dict(principal=D("0")), "principal must be a positive"),
    (dict(principal=D("100.001")), "at most 2 decimals"),
    (dict(annual_rate=D("6.12")), "annual rate must be a fraction"),
    (dict(months=0), "term must be"),
    (dict(method=Method.BULLET, months=13), "at most 12 months"),
    (dict(method=Method.MONTHLY_INTEREST, grace_months=1), "amortising methods only"),
    (dict(grace_months=12), "at least one repayment period"),
    (dict(method=Method.BALLOON), "amortisation term longer"),
    (dict(method=Method.REVOLVING), "revolving_schedule"),
])
def test_bad_terms_refused(terms, message):
    base = dict(method=Method.EQUAL_INSTALLMENT, principal=D("1000"), annual_rate=D("0.06"), months=12, start=JAN15)
    with pytest.raises(ScheduleError, match=message):
        build_schedule(ScheduleTerms(**{**base, **terms}))


amounts = st.decimals(min_value=D("100"), max_value=D("5000000"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("0.36"), places=4)


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.MONTHLY_INTEREST,
                               Method.BULLET, Method.BALLOON]),
       principal=amounts, rate=rates, months=st.integers(1, 120), grace=st.integers(0, 6),
       grace_kind=st.sampled_from(list(Grace)), start=st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)),
       due_day=st.none() | st.integers(1, 31), day_count=st.sampled_from(list(DayCount)))
def test_schedule_properties(method, principal, rate, months, grace, grace_kind, start, due_day, day_count):
    if method is Method.BULLET:
        months = min(months, 12)
    amortising = method in (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.BALLOON)
    grace = grace if amortising and grace < months else 0
    terms = ScheduleTerms(method, principal, rate, months, start, day_count, due_day, grace, grace_kind,
                          months * 2 if method is Method.BALLOON else None)
    s = build_schedule(terms)
    assert s.total_principal == principal
    assert s.periods[-1].balance == 0
    for previous, period in zip((None, *s.periods), s.periods):
        assert period.balance >= 0 and period.principal >= 0 and period.interest >= 0
        assert period.total == period.principal + period.interest
        assert period.principal == period.principal.quantize(D("0.01"))
        if previous is not None:
            assert period.due_date > previous.due_date
            assert period.balance == previous.balance - period.principal


@settings(max_examples=150, deadline=None)
@given(limit=amounts, rate=rates, months=st.integers(1, 6),
       moves=st.lists(st.tuples(st.integers(0, 150), st.decimals(D("0.01"), D("1"), places=2)), max_size=12))
def test_revolving_properties(limit, rate, months, moves):
    # Build a feasible sequence: alternate draws and repayments of fractions of what is available/drawn.
    events, drawn = [], D(0)
    for offset, fraction in sorted(moves):
        on = JAN15 + dt.timedelta(days=offset)
        if on >= JAN15 + dt.timedelta(days=28 * months):
            continue
        amount = (limit - drawn) * fraction if len(events) % 2 == 0 else -(drawn * fraction)
        amount = amount.quantize(D("0.01"))
        if amount:
            events.append(RevolvingEvent(on, amount))
            drawn += amount
    s = revolving_schedule(limit, rate, JAN15, months, events)
    assert s.total_principal == sum((e.amount for e in events if e.amount > 0), D("0.00"))
    assert all(D(0) <= p.balance <= limit and p.available == limit - p.balance for p in s.periods)
    assert s.periods[-1].balance == 0


def test_cli_table_and_json():
    args = ["calc", "schedule", "--method", "equal_installment", "--principal", "100000", "--annual-rate", "0.0612",
            "--months", "12", "--start", "2026-01-15"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2026-02-15" in result.output and "8,102.16" in result.output and "510.00" in result.output
    assert "100,000.00" in result.output and "3,345.92" in result.output and "103,345.92" in result.output
    result = CliRunner().invoke(cli, [*args, "--day-count", "act365", "--json"])
    data = json.loads(result.output)
    assert data["periods"][0] == {"number": 1, "due_date": "2026-02-15", "days": 31, "principal": "8102.16",
                                  "interest": "510.00", "total": "8612.16", "balance": "91897.84"}
    assert data["totals"] == {"principal": "100000.00", "interest": "3345.92", "total": "103345.92"}


def test_cli_revolving():
    result = CliRunner().invoke(cli, ["calc", "schedule", "--method", "revolving", "--principal", "100000",
                                      "--annual-rate", "0.0612", "--months", "3", "--start", "2026-01-15",
                                      "--draw", "2026-01-20:50000", "--repay", "2026-03-01:20000", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["interest"] == "569.50"


@pytest.mark.parametrize("change, message", [
    (["--principal", "abc"], "principal must be a number"),
    (["--annual-rate", "-0.1"], "annual rate must be a fraction"),
    (["--months", "0"], "term must be"),
    (["--method", "weekly"], "Invalid value for '--method'"),
    (["--start", "2026-13-01"], "Invalid value for '--start'"),
    (["--draw", "2026-01-20:5"], "apply to --method revolving only"),
])
def test_cli_bad_input_exits_2(change, message):
    base = {"--method": "equal_installment", "--principal": "100000", "--annual-rate": "0.0612", "--months": "12",
            "--start": "2026-01-15"}
    base.pop(change[0], None)
    args = ["calc", "schedule", *[x for kv in base.items() for x in kv], *change]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output
