"""Close of business (COB) for one tenant: set-based SQL steps over the whole portfolio, one transaction each.

For business date D the steps are, in order (each commits with its marker in ``cob_step``; a step whose marker
exists is skipped, so a worker killed halfway resumes at the first unfinished step and nothing is counted twice):

1. ``accrue``        interest for day D: term loans to the cumulative share of the current period's interest
                      (so accrued interest equals the schedule's exactly on the due date); revolving lines on the
                      drawn balance at annual_rate / day_count. Non-accrual loans accrue off balance sheet.
2. ``penalty``        overdue interest for day D on principal overdue before D, at the penalty rate (not for
                      non-accrual loans: policy, the claim is pursued in collections).
3. ``mark_due``       instalments due on or before D and not paid become overdue (unpaid at end of due date).
4. ``dpd``            days past due as of D+1, and the DPD-driven moves active <-> overdue (``states.COB_TRANSITIONS``).
5. ``classify``       five-tier classification proposals (``classification.services.propose_all``) and the
                      non-accrual flag.
6. ``provision``      provisions to the target Σ balance × rate(class), one entry for the difference.
7. ``advance``        the business date becomes D+1.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from ...db import tenant_session
from ...db.context import TenantRef
from ..classification import policy
from ..classification import services as classification
from ..ledger.services import ensure_chart
from .dates import business_date
from .models import CobStep

STEPS = ("accrue", "penalty", "mark_due", "dpd", "classify", "provision", "advance")

_ACCRUE_TERM = """
WITH target AS (
    SELECT i.id, i.loan_id, a.non_accrual,
           round(i.interest_due * least(CAST(:d AS date) - i.start_date, i.due_date - i.start_date)
                 / (i.due_date - i.start_date), 2) - i.interest_accrued AS amount
    FROM loan_installment i JOIN loan_account a ON a.id = i.loan_id AND a.schedule_version = i.version
    WHERE daterange(i.start_date, i.due_date, '(]') @> CAST(:d AS date)
      AND i.status IN ('due', 'partial', 'overdue')
      AND a.state IN ('active', 'overdue', 'restructured', 'in_litigation') AND a.kind = 'term'
), accrued AS (
    UPDATE loan_installment i SET interest_accrued = i.interest_accrued + t.amount
    FROM target t WHERE i.id = t.id AND t.amount > 0
    RETURNING t.loan_id, t.amount, t.non_accrual
), suspended AS (
    UPDATE loan_account a SET interest_suspended = a.interest_suspended + s.amount
    FROM (SELECT loan_id, sum(amount) AS amount FROM accrued WHERE non_accrual GROUP BY loan_id) s
    WHERE a.id = s.loan_id
    RETURNING a.id
), entry AS (
    INSERT INTO journal_entry (business_date, kind, memo)
    SELECT CAST(:d AS date), 'accrual', 'COB interest accrual (term loans)' WHERE EXISTS (SELECT 1 FROM accrued)
    RETURNING id
)
INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
SELECT entry.id, CASE WHEN non_accrual THEN '9101' ELSE '1302' END, loan_id, amount, 0 FROM accrued, entry
UNION ALL
SELECT entry.id, '5011', CAST(NULL AS integer), 0, sum(amount) FROM accrued, entry WHERE NOT non_accrual GROUP BY entry.id
UNION ALL
SELECT entry.id, '9102', CAST(NULL AS integer), 0, sum(amount) FROM accrued, entry WHERE non_accrual GROUP BY entry.id
"""

_ACCRUE_REVOLVING = """
WITH accrued AS (
    UPDATE loan_account a SET
        interest_receivable = a.interest_receivable + CASE WHEN a.non_accrual THEN 0 ELSE x.amount END,
        interest_suspended = a.interest_suspended + CASE WHEN a.non_accrual THEN x.amount ELSE 0 END
    FROM (SELECT id, round(principal_outstanding * annual_rate / day_count, 2) AS amount
          FROM loan_account WHERE kind = 'revolving' AND principal_outstanding > 0
            AND state IN ('active', 'overdue', 'restructured', 'in_litigation')) x
    WHERE a.id = x.id AND x.amount > 0
    RETURNING a.id AS loan_id, x.amount, a.non_accrual
), entry AS (
    INSERT INTO journal_entry (business_date, kind, memo)
    SELECT CAST(:d AS date), 'accrual', 'COB interest accrual (credit lines)' WHERE EXISTS (SELECT 1 FROM accrued)
    RETURNING id
)
INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
SELECT entry.id, CASE WHEN non_accrual THEN '9101' ELSE '1302' END, loan_id, amount, 0 FROM accrued, entry
UNION ALL
SELECT entry.id, '5011', CAST(NULL AS integer), 0, sum(amount) FROM accrued, entry WHERE NOT non_accrual GROUP BY entry.id
UNION ALL
SELECT entry.id, '9102', CAST(NULL AS integer), 0, sum(amount) FROM accrued, entry WHERE non_accrual GROUP BY entry.id
"""

_PENALTY = """
WITH overdue AS (
    SELECT i.loan_id, sum(i.principal_due - i.principal_paid) AS principal
    FROM loan_installment i WHERE i.status = 'overdue' AND i.due_date < :d GROUP BY i.loan_id
), charged AS (
    UPDATE loan_account a SET penalty_receivable = a.penalty_receivable + x.amount
    FROM (SELECT a.id, round(o.principal * a.penalty_rate / a.day_count, 2) AS amount
          FROM overdue o JOIN loan_account a ON a.id = o.loan_id
          WHERE NOT a.non_accrual AND a.state IN ('overdue', 'restructured', 'in_litigation', 'active')
          UNION ALL
          SELECT id, round(principal_outstanding * penalty_rate / day_count, 2) FROM loan_account
          WHERE kind = 'revolving' AND NOT non_accrual AND maturity_date < :d AND principal_outstanding > 0
            AND state IN ('overdue', 'in_litigation', 'active')) x
    WHERE a.id = x.id AND x.amount > 0
    RETURNING a.id AS loan_id, x.amount
), entry AS (
    INSERT INTO journal_entry (business_date, kind, memo)
    SELECT CAST(:d AS date), 'penalty', 'COB overdue (penalty) interest' WHERE EXISTS (SELECT 1 FROM charged) RETURNING id
)
INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
SELECT entry.id, '1303', loan_id, amount, 0 FROM charged, entry
UNION ALL
SELECT entry.id, '5012', CAST(NULL AS integer), 0, sum(amount) FROM charged, entry GROUP BY entry.id
"""

_MARK_DUE = """
UPDATE loan_installment SET status = 'overdue'
WHERE due_date <= :d AND status IN ('due', 'partial')
  AND NOT (principal_paid = principal_due AND interest_paid = interest_due)
"""

# DPD as of the next business date; only loans whose DPD or state changes are written. The FROM subquery reads
# the state before the update, so the events name the old state.
_DPD = """
WITH oldest AS (
    SELECT loan_id, min(due_date) AS due FROM loan_installment WHERE status = 'overdue' GROUP BY loan_id
), computed AS (
    SELECT a.id, a.state AS old_state,
           CASE WHEN a.kind = 'term' THEN coalesce(CAST(:n AS date) - o.due, 0)
                WHEN a.maturity_date <= :d AND a.principal_outstanding > 0 THEN CAST(:n AS date) - a.maturity_date
                ELSE 0 END AS dpd
    FROM loan_account a LEFT JOIN oldest o ON o.loan_id = a.id
    WHERE a.state IN ('active', 'overdue', 'restructured', 'in_litigation')
      AND (o.loan_id IS NOT NULL OR a.dpd > 0 OR (a.kind = 'revolving' AND a.maturity_date <= :d))
), moved AS (
    UPDATE loan_account a SET
        dpd = c.dpd,
        state = CASE WHEN c.old_state = 'active' AND c.dpd > 0 THEN 'overdue'
                     WHEN c.old_state = 'overdue' AND c.dpd = 0 THEN 'active'
                     ELSE c.old_state END,
        row_version = a.row_version + 1
    FROM computed c WHERE a.id = c.id AND (a.dpd <> c.dpd
        OR (c.old_state = 'active' AND c.dpd > 0) OR (c.old_state = 'overdue' AND c.dpd = 0))
    RETURNING a.id, c.old_state, a.state, a.dpd
)
INSERT INTO loan_event (loan_id, from_state, to_state, reason, business_date, details)
SELECT id, old_state, state, 'cob: days past due', CAST(:d AS date), jsonb_build_object('dpd', dpd)
FROM moved WHERE old_state <> state
"""

_PROVISION = """
WITH target AS (
    SELECT coalesce(sum(round(principal_outstanding * CASE risk_class
        WHEN 'normal' THEN CAST(:normal AS numeric) WHEN 'special_mention' THEN CAST(:special_mention AS numeric)
        WHEN 'substandard' THEN CAST(:substandard AS numeric) WHEN 'doubtful' THEN CAST(:doubtful AS numeric)
        ELSE CAST(:loss AS numeric) END, 2)), 0) AS amount
    FROM loan_account WHERE state IN ('active', 'overdue', 'restructured', 'in_litigation')
), booked AS (
    SELECT coalesce(sum(credit - debit), 0) AS amount FROM journal_line WHERE account_code = '1304'
), delta AS (
    SELECT target.amount - booked.amount AS amount FROM target, booked
), entry AS (
    INSERT INTO journal_entry (business_date, kind, memo)
    SELECT CAST(:d AS date), 'provision', 'COB loan-loss provisions to target' FROM delta WHERE amount <> 0 RETURNING id
)
INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
SELECT entry.id, '6701', CAST(NULL AS integer), greatest(amount, 0), greatest(-amount, 0) FROM delta, entry
UNION ALL
SELECT entry.id, '1304', CAST(NULL AS integer), greatest(-amount, 0), greatest(amount, 0) FROM delta, entry
"""


@dataclass
class DayResult:
    business_date: dt.date
    steps_run: list[str]
    steps_skipped: list[str]
    rows: dict[str, int]


class CobInterrupted(RuntimeError):
    """Raised by the test hook to simulate a worker killed between steps."""


def _run_step(session: Session, step: str, day: dt.date) -> int:
    params = {"d": day, "n": day + dt.timedelta(days=1)}
    if step == "accrue":
        return (session.execute(text(_ACCRUE_TERM), params).rowcount
                + session.execute(text(_ACCRUE_REVOLVING), params).rowcount)
    if step == "penalty":
        return session.execute(text(_PENALTY), params).rowcount
    if step == "mark_due":
        return session.execute(text(_MARK_DUE), params).rowcount
    if step == "dpd":
        return session.execute(text(_DPD), params).rowcount
    if step == "classify":
        return classification.propose_all(session, day)
    if step == "provision":
        values = policy.load(session)
        return session.execute(text(_PROVISION), {**params, **{k: str(v) for k, v in
                                                                policy.provision_rates(values).items()}}).rowcount
    if step == "advance":
        session.execute(text("UPDATE cob_state SET business_date = :n, updated_at = now() WHERE id = 1"), params)
        return 1
    raise ValueError(step)


def close_day(tenant: TenantRef, *, expected: dt.date | None = None, bind=None,
              after_step: Callable[[str], None] | None = None) -> DayResult | None:
    """Close the tenant's current business date (resuming a half-done close). None if ``expected`` is past."""
    result: DayResult | None = None
    for step in STEPS:
        with tenant_session(tenant, bind=bind) as session, session.begin():
            day = business_date(session, lock=True)  # the row lock serialises concurrent COB runs of a tenant
            if expected is not None and day != expected:
                return result
            if result is None:
                result = DayResult(day, [], [], {})
                ensure_chart(session)
            if session.get(CobStep, (day, step)) is not None:
                result.steps_skipped.append(step)
                continue
            started = time.perf_counter()
            rows = _run_step(session, step, day)
            session.add(CobStep(business_date=day, step=step, rows=max(rows, 0),
                                millis=int((time.perf_counter() - started) * 1000)))
            result.steps_run.append(step)
            result.rows[step] = rows
        if after_step is not None:
            after_step(step)
    if bind is None and result is not None:  # a test's outer transaction is not published to the registry
        _publish_business_date(tenant, result.business_date + dt.timedelta(days=1))
    return result


def _publish_business_date(tenant: TenantRef, day: dt.date) -> None:
    """Mirror the advanced date into the tenant registry (best effort; cob_state is authoritative)."""
    from ...db import SystemContext, shared_session

    try:
        with SystemContext("cob: publish business date"), shared_session() as shared, shared.begin():
            shared.execute(text("UPDATE cf_shared.tenant SET business_date = :d WHERE slug = :s AND business_date < :d"),
                           {"d": day, "s": tenant.slug})
    except Exception:  # noqa: BLE001 - the registry lags at worst; the next run publishes again
        pass


def run_until(tenant: TenantRef, until: dt.date, *, bind=None,
              progress: Callable[[DayResult], None] | None = None) -> list[DayResult]:
    """Close business dates until the business date is ``until`` (the day ``until`` itself stays open)."""
    done = []
    while True:
        with tenant_session(tenant, bind=bind) as session, session.begin():
            day = business_date(session)
        if day >= until:
            return done
        result = close_day(tenant, bind=bind)
        done.append(result)
        if progress is not None:
            progress(result)


def status(session: Session) -> dict:
    day = business_date(session)
    steps = session.execute(text("SELECT step, rows, millis, done_at FROM cob_step WHERE business_date = :d "
                                 "ORDER BY done_at"), {"d": day - dt.timedelta(days=1)}).all()
    return {"business_date": day, "last_closed": day - dt.timedelta(days=1),
            "last_steps": [{"step": s, "rows": r, "millis": m, "done_at": at} for s, r, m, at in steps]}
