"""The case's KPIs (DOMAIN §1.6, §3.2, §5.2), computed per tenant with set-based SQL and stored as aggregates.

Periods
    ``month``: the calendar month; flows (disbursements, decisions, turnaround) count inside the month up to the
    snapshot's ``as_of`` (a running month is partial and refreshed every day until it ends).
    ``day``: flows over the trailing 30 days ending that day (so a daily point is comparable with the monthly
    reference values), stocks at the end of the day.
Stocks (portfolio, NPL, PAR, provisions) are the loan book as it stands when the snapshot is taken: the loan
accounts keep no history of balances, so a snapshot is never recomputed for a past date; the daily job takes
one each business date and the history of snapshots is the trend.

Definitions and the case's reference values (the console draws the references as lines):

=================================  ==========================================================================
``loans_per_officer``              loans disbursed in the period with an officer / officers active in the
                                   period (officers of applications with any state change in the period).
                                   Case: 15 before → 25 after the micro-credit factory, per month.
``portfolio_per_officer``          outstanding principal of open loans with an officer / distinct officers of
                                   those loans, yuan. Case: 23M → 40M yuan.
``turnaround_median_days``         application (first state-history row) → DISBURSED, days, median over the
``turnaround_p90_days``            applications disbursed in the period; and the 90th percentile.
                                   Case (time to decision): 5 days → 1–2 days.
``online_approval_share``          approvals (APPROVED / APPROVED_WITH_CONDITIONS entered in the period) of
                                   applications from an online channel or made without a person / all
                                   approvals. Case: 30% → 50%.
``auto_decision_rate``             decisions (approve, reject, committee decisions, pre-screen fail) made
                                   without a person (``actor_id`` NULL: the decision engine, a job) / all.
``decline_review_days``            median days from entering IN_REVIEW to REJECTED, applications rejected in
                                   the period after a review.
``npl_ratio``                      (substandard + doubtful + loss) / gross loans (open loans' principal).
                                   Limit 5%; case: ≤ 0.72% head office, about 1% village banks.
``par30`` / ``par90``              principal of open loans with DPD > 30 (> 90) / gross loans (CGAP).
``provision_coverage``             loan-loss provisions (GL 1304 balance) / NPL. Floor 120–150%.
``loan_provision_ratio``           provisions / gross loans. Floor 1.5–2.5%.
``disbursed_volume`` / ``_count``  disbursements and credit-line draws posted in the period, not reversed.
``customers_served``               distinct customers with a disbursement or draw in the period.
``cold_visit_success_rate``        NULL until the marketing capability exists (absent, not zero).
=================================  ==========================================================================

A ratio whose denominator is empty is NULL. No personal data leaves the tenant schema: every figure is a count,
a sum, a ratio or a percentile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Channels where the customer applies without meeting staff.
ONLINE_CHANNELS = ("wechat_mini", "mobile_banking", "online_banking", "partner")
OPEN_STATES = ("active", "overdue", "restructured", "in_litigation")
NPL_CLASSES = ("substandard", "doubtful", "loss")
DECISION_EVENTS = ("approve", "reject", "committee_approve", "committee_approve_with_conditions",
                   "committee_reject", "prescreen_fail")

METRICS = (
    "loans_per_officer", "portfolio_per_officer", "officers", "turnaround_median_days", "turnaround_p90_days",
    "online_approval_share", "auto_decision_rate", "decline_review_days", "gross_loans", "npl_balance",
    "npl_ratio", "par30", "par90", "provisions", "provision_coverage", "loan_provision_ratio",
    "disbursed_volume", "disbursed_count", "customers_served", "cold_visit_success_rate",
)


@dataclass(frozen=True)
class Reference:
    """A before/after value of the case (DOMAIN §1.6) or a regulatory bound (§3.2), drawn as a line."""

    label: str
    value: Decimal


#: Reference lines per KPI (the console and docs/reporting.md show them).
REFERENCES: dict[str, tuple[Reference, ...]] = {
    "loans_per_officer": (Reference("before", Decimal(15)), Reference("after", Decimal(25))),
    "portfolio_per_officer": (Reference("before", Decimal(23_000_000)), Reference("after", Decimal(40_000_000))),
    "turnaround_median_days": (Reference("before", Decimal(5)), Reference("after", Decimal(2))),
    "online_approval_share": (Reference("before", Decimal("0.30")), Reference("after", Decimal("0.50"))),
    "npl_ratio": (Reference("head office", Decimal("0.0072")), Reference("village banks", Decimal("0.01")),
                  Reference("limit", Decimal("0.05"))),
    "provision_coverage": (Reference("floor", Decimal("1.20")), Reference("floor (before 2018)", Decimal("1.50"))),
    "loan_provision_ratio": (Reference("floor", Decimal("0.015")), Reference("floor (before 2018)", Decimal("0.025"))),
}

_FLOWS = """
WITH
hist AS (
    SELECT h.application_id, h.to_state, h.event, h.actor_id,
           h.entered_at, (h.entered_at AT TIME ZONE :tz)::date AS day
    FROM application_state_history h
),
officers AS (
    SELECT DISTINCT a.officer_id FROM hist JOIN loan_application a ON a.id = hist.application_id
    WHERE hist.day BETWEEN :start AND :end AND a.officer_id IS NOT NULL
),
disbursements AS (
    SELECT t.loan_id, t.amount, l.customer_id, l.application_id
    FROM loan_transaction t JOIN loan_account l ON l.id = t.loan_id
    WHERE t.kind IN ('disbursement', 'draw') AND NOT t.reversed AND t.reverses_id IS NULL
      AND t.business_date BETWEEN :start AND :end
),
officer_loans AS (
    SELECT count(*) AS n FROM loan_account l JOIN loan_application a ON a.id = l.application_id
    WHERE a.officer_id IS NOT NULL AND l.disbursed_on BETWEEN :start AND :end
),
turnaround AS (
    SELECT extract(epoch FROM d.entered_at - f.first_at) / 86400.0 AS days
    FROM hist d
    JOIN (SELECT application_id, min(entered_at) AS first_at FROM hist GROUP BY application_id) f
      ON f.application_id = d.application_id
    WHERE d.to_state = 'DISBURSED' AND d.day BETWEEN :start AND :end
),
approvals AS (
    SELECT (a.channel = ANY(CAST(:online AS text[])) OR hist.actor_id IS NULL) AS online
    FROM hist JOIN loan_application a ON a.id = hist.application_id
    WHERE hist.to_state IN ('APPROVED', 'APPROVED_WITH_CONDITIONS') AND hist.day BETWEEN :start AND :end
),
decisions AS (
    SELECT actor_id IS NULL AS automatic FROM hist
    WHERE hist.event = ANY(CAST(:decision_events AS text[])) AND hist.day BETWEEN :start AND :end
),
declines AS (
    SELECT extract(epoch FROM r.entered_at - rv.review_at) / 86400.0 AS days
    FROM hist r
    JOIN (SELECT application_id, min(entered_at) AS review_at FROM hist WHERE to_state = 'IN_REVIEW'
          GROUP BY application_id) rv ON rv.application_id = r.application_id
    WHERE r.to_state = 'REJECTED' AND r.day BETWEEN :start AND :end AND rv.review_at <= r.entered_at
)
SELECT
    (SELECT count(*) FROM officers) AS officers,
    (SELECT n FROM officer_loans) AS officer_loans,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FROM turnaround) AS turnaround_median_days,
    (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY days) FROM turnaround) AS turnaround_p90_days,
    (SELECT count(*) FILTER (WHERE online) FROM approvals) AS online_approvals,
    (SELECT count(*) FROM approvals) AS approvals,
    (SELECT count(*) FILTER (WHERE automatic) FROM decisions) AS automatic_decisions,
    (SELECT count(*) FROM decisions) AS decisions,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FROM declines) AS decline_review_days,
    (SELECT coalesce(sum(amount), 0) FROM disbursements) AS disbursed_volume,
    (SELECT count(*) FROM disbursements) AS disbursed_count,
    (SELECT count(DISTINCT customer_id) FROM disbursements) AS customers_served
"""

_STOCKS = """
WITH open_loans AS (
    SELECT l.principal_outstanding AS balance, l.dpd, l.risk_class, a.officer_id
    FROM loan_account l LEFT JOIN loan_application a ON a.id = l.application_id
    WHERE l.state = ANY(CAST(:open_states AS text[]))
)
SELECT
    coalesce(sum(balance), 0) AS gross_loans,
    coalesce(sum(balance) FILTER (WHERE risk_class = ANY(CAST(:npl_classes AS text[]))), 0) AS npl_balance,
    coalesce(sum(balance) FILTER (WHERE dpd > 30), 0) AS par30_balance,
    coalesce(sum(balance) FILTER (WHERE dpd > 90), 0) AS par90_balance,
    coalesce(sum(balance) FILTER (WHERE officer_id IS NOT NULL), 0) AS officer_portfolio,
    count(DISTINCT officer_id) AS portfolio_officers,
    (SELECT coalesce(sum(credit - debit), 0) FROM journal_line WHERE account_code = '1304') AS provisions
FROM open_loans
"""


def _ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"))


def _days(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"))


def period_window(kind: str, period_start: dt.date, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The dates whose flows a snapshot counts (see the module docstring)."""
    if kind == "day":
        return period_start - dt.timedelta(days=29), period_start
    if kind == "month":
        nxt = (period_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return period_start, min(as_of, nxt - dt.timedelta(days=1))
    raise ValueError(f"unknown period kind {kind!r}")


def compute(session: Session, *, start: dt.date, end: dt.date, timezone: str = "Asia/Shanghai") -> dict[str, Decimal | None]:
    """Every KPI of the session's tenant: flows over ``start..end`` (inclusive), stocks as they stand now."""
    flows = session.execute(text(_FLOWS), {
        "start": start, "end": end, "tz": timezone, "online": list(ONLINE_CHANNELS),
        "decision_events": list(DECISION_EVENTS)}).mappings().one()
    stocks = session.execute(text(_STOCKS), {"open_states": list(OPEN_STATES), "npl_classes": list(NPL_CLASSES)}).mappings().one()
    gross, npl, provisions = stocks["gross_loans"], stocks["npl_balance"], stocks["provisions"]
    return {
        "loans_per_officer": _ratio(flows["officer_loans"], flows["officers"]),
        "portfolio_per_officer": _ratio(stocks["officer_portfolio"], stocks["portfolio_officers"]),
        "officers": Decimal(flows["officers"]),
        "turnaround_median_days": _days(flows["turnaround_median_days"]),
        "turnaround_p90_days": _days(flows["turnaround_p90_days"]),
        "online_approval_share": _ratio(flows["online_approvals"], flows["approvals"]),
        "auto_decision_rate": _ratio(flows["automatic_decisions"], flows["decisions"]),
        "decline_review_days": _days(flows["decline_review_days"]),
        "gross_loans": Decimal(gross),
        "npl_balance": Decimal(npl),
        "npl_ratio": _ratio(npl, gross),
        "par30": _ratio(stocks["par30_balance"], gross),
        "par90": _ratio(stocks["par90_balance"], gross),
        "provisions": Decimal(provisions),
        "provision_coverage": _ratio(provisions, npl),
        "loan_provision_ratio": _ratio(provisions, gross),
        "disbursed_volume": Decimal(flows["disbursed_volume"]),
        "disbursed_count": Decimal(flows["disbursed_count"]),
        "customers_served": Decimal(flows["customers_served"]),
        # Absent until the marketing capability records visits: NULL, never 0.
        "cold_visit_success_rate": None,
    }
