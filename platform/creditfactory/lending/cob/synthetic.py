"""A synthetic portfolio built set-based in SQL (no Python loop per loan), for the COB benchmark.

Per tenant: ``n`` term loans of 10,000–59,000 yuan at 12% a year, 12 monthly equal-principal instalments,
disbursed over the last 330 days; instalments due before the business date are paid, except on every 20th
loan, whose latest due instalment is unpaid (overdue). Interest is accrued up to the day before the business
date. The books open with one balanced "opening balances" entry (as a migration from a legacy system would),
so ``ledger.check`` holds before and after COB.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..ledger.services import ensure_chart
from .dates import set_business_date

_STATEMENTS = [
    """INSERT INTO customer (kind, name)
       SELECT CASE WHEN g % 10 = 0 THEN 'micro_enterprise' ELSE 'individual' END, 'bench customer ' || g
       FROM generate_series(1, :customers) g""",
    """INSERT INTO loan_account (reference, kind, customer_id, state, retail, principal_amount, credit_limit,
                                annual_rate, penalty_rate, day_count, grace_days, allocation_order, disbursed_on,
                                maturity_date, schedule_version, principal_outstanding, interest_receivable,
                                penalty_receivable, interest_suspended, dpd, non_accrual, risk_class,
                                npl_at_restructuring, row_version)
       SELECT 'B' || lpad(g::text, 9, '0'), 'term', c.first + 1 + (g % :customers), 'active', g % 10 <> 0,
              10000 + (g % 50) * 1000, 0, 0.12, 0.18, 360, 0,
              '["penalty", "overdue_interest", "overdue_principal", "current_interest", "current_principal"]',
              CAST(:d0 AS date) - (g % 330), CAST(CAST(:d0 AS date) - (g % 330) + interval '12 months' AS date),
              1, 10000 + (g % 50) * 1000, 0, 0, 0, 0, false, 'normal', false, 1
       FROM generate_series(1, :n) g, (SELECT min(id) - 1 AS first FROM customer) c""",
    # Instalments with what COB would have done up to the day before: interest accrued, past ones paid except
    # the latest due one of every 20th loan. One INSERT, no second pass over the rows.
    """INSERT INTO loan_installment (loan_id, version, seq, start_date, due_date, principal_due, interest_due,
                                    interest_accrued, principal_paid, interest_paid, status, paid_on)
       SELECT id, 1, k, start_date, due_date, principal_due, interest_due,
              CASE WHEN start_date < CAST(:d0 AS date) - 1
                   THEN round(interest_due * least(CAST(:d0 AS date) - 1 - start_date, due_date - start_date)
                              / (due_date - start_date), 2) ELSE 0 END,
              CASE WHEN due_date < CAST(:d0 AS date) AND NOT unpaid THEN principal_due ELSE 0 END,
              CASE WHEN due_date < CAST(:d0 AS date) AND NOT unpaid THEN interest_due ELSE 0 END,
              CASE WHEN due_date >= CAST(:d0 AS date) THEN 'due' WHEN unpaid THEN 'overdue' ELSE 'paid' END,
              CASE WHEN due_date < CAST(:d0 AS date) AND NOT unpaid THEN due_date END
       FROM (
           SELECT x.*, (x.id % 20 = 0 AND x.due_date = max(x.due_date) FILTER (WHERE x.due_date < CAST(:d0 AS date))
                        OVER (PARTITION BY x.id)) AS unpaid
           FROM (
               SELECT a.id, k,
                      CAST(a.disbursed_on + (k - 1) * interval '1 month' AS date) AS start_date,
                      CAST(a.disbursed_on + k * interval '1 month' AS date) AS due_date,
                      CASE WHEN k < 12 THEN round(a.principal_amount / 12, 2)
                           ELSE a.principal_amount - 11 * round(a.principal_amount / 12, 2) END AS principal_due,
                      round((a.principal_amount - (k - 1) * round(a.principal_amount / 12, 2)) * 0.01, 2)
                        AS interest_due
               FROM loan_account a, generate_series(1, 12) k) x
       ) y""",
    """UPDATE loan_account a SET principal_outstanding = a.principal_amount - x.paid,
           dpd = coalesce(CAST(:d0 AS date) - x.oldest, 0),
           state = CASE WHEN x.oldest IS NULL THEN 'active' ELSE 'overdue' END
       FROM (SELECT loan_id, sum(principal_paid) AS paid, min(due_date) FILTER (WHERE status = 'overdue') AS oldest
             FROM loan_installment GROUP BY loan_id) x
       WHERE a.id = x.loan_id""",
    """WITH entry AS (
           INSERT INTO journal_entry (business_date, kind, memo)
           VALUES (CAST(:d0 AS date) - 1, 'opening', 'opening balances (synthetic portfolio)') RETURNING id
       ), per_loan AS (
           SELECT a.id, a.principal_outstanding AS principal, sum(i.interest_accrued - i.interest_paid) AS interest,
                  a.principal_amount - sum(i.principal_paid) - sum(i.interest_paid) AS cash_out,
                  sum(i.interest_accrued) AS income
           FROM loan_account a JOIN loan_installment i ON i.loan_id = a.id GROUP BY a.id
       ), totals AS (SELECT sum(cash_out) AS cash_out, sum(income) AS income FROM per_loan)
       INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
       SELECT entry.id, '1301', per_loan.id, principal, 0 FROM per_loan, entry WHERE principal > 0
       UNION ALL SELECT entry.id, '1302', per_loan.id, interest, 0 FROM per_loan, entry WHERE interest > 0
       UNION ALL SELECT entry.id, '1001', CAST(NULL AS integer), greatest(-cash_out, 0), greatest(cash_out, 0)
                 FROM totals, entry WHERE cash_out <> 0
       UNION ALL SELECT entry.id, '5011', CAST(NULL AS integer), 0, income FROM totals, entry WHERE income > 0""",
]


def build(session: Session, *, loans: int, business_date: dt.date) -> None:
    """Add ``loans`` synthetic loans to the tenant of ``session`` (flushes; the caller commits)."""
    ensure_chart(session)
    set_business_date(session, business_date)
    params = {"n": loans, "customers": max(1, loans // 3), "d0": business_date}
    for statement in _STATEMENTS:
        session.execute(text(statement), params)
