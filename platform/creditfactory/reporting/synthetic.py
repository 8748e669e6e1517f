"""Set-based synthetic origination and credit history on top of ``lending.cob.synthetic`` loans.

For the ``reports`` benchmark and ``creditfactory demo seed``, where going through the services (one customer,
application, state change and COB day at a time) would take hours for 34 × 30,000 loans. What it writes is
**synthetic**, not the outcome of the services, and says so in every memo:

* one ``loan_application`` per loan (state DISBURSED, the loan's amount, 12 months), ``officer_id`` drawn from
  the officers' user ids with skewed productivity (the ``1 + floor(n × u^1.6)``-th of the ``n``: a few officers
  carry many loans, as in a real branch), channel online (WeChat mini programme, mobile banking) for about 45%.
  The demo paths (``creditfactory demo seed``, ``up --demo``) pass real loan officers' user ids, who are employees
  of the bank's organisation (``talent/demo.py``), so scorecards and 360 portfolio signals are theirs; the
  ``reports`` benchmark passes a count and gets ids 1..n that name no one;
* its state history: APPLIED → IN_REVIEW → APPROVED (without a person for the online ones, ``actor_id`` NULL) →
  DISBURSED on the loan's disbursement date, the application made 0.3–6 days earlier (uniform);
* about 1% of loans non-performing (DPD 95–450: substandard, doubtful, loss by the §3.1 thresholds, non-accrual),
  about 1.5% more 31–90 days late (special mention), at 11–18% a year with a 24% tail;
* one balanced provisioning entry (Dr 6701 / Cr 1304, Σ principal × rate(class) with the default rates).

The loan book stays internally consistent for reports (balances, classes, provisions in the ledger). It is *not*
consistent with instalment statuses for the late and NPL loans (their instalments were paid by the base
generator), so COB run afterwards would re-derive their DPD from the instalments: reports should be taken before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

_STATEMENTS = [
    "SELECT setseed(:seed)",
    """INSERT INTO product (code, version, name_zh, name_en)
       SELECT 'synthetic', 1, '合成数据产品', 'Synthetic product'
       WHERE NOT EXISTS (SELECT 1 FROM product WHERE code = 'synthetic')""",
    """CREATE TEMPORARY TABLE synthetic_case ON COMMIT DROP AS
       SELECT l.id AS loan_id, l.reference, l.customer_id, l.principal_amount, l.disbursed_on,
              (CAST(:officer_ids AS integer[]))[
                  1 + floor(cardinality(CAST(:officer_ids AS integer[])) * power(random(), 1.6))::int] AS officer_id,
              random() < 0.45 AS online,
              0.3 + random() * 5.7 AS turnaround_days,
              random() AS risk
       FROM loan_account l WHERE l.application_id IS NULL""",
    """INSERT INTO loan_application (reference, customer_id, product_id, amount, term_months, channel, state,
                                     officer_id, assignee_id, created_at, updated_at, state_entered_at)
       SELECT 'S' || c.reference, c.customer_id, p.id, c.principal_amount, 12,
              CASE WHEN c.online THEN (CASE WHEN c.loan_id % 2 = 0 THEN 'wechat_mini' ELSE 'mobile_banking' END)
                   ELSE 'branch' END,
              'DISBURSED', c.officer_id, c.officer_id,
              c.disbursed_on - make_interval(secs => c.turnaround_days * 86400),
              CAST(c.disbursed_on AS timestamptz), CAST(c.disbursed_on AS timestamptz)
       FROM synthetic_case c, (SELECT id FROM product WHERE code = 'synthetic') p""",
    """UPDATE loan_account l SET application_id = a.id
       FROM loan_application a WHERE a.reference = 'S' || l.reference AND l.application_id IS NULL""",
    """INSERT INTO application_state_history (application_id, from_state, to_state, event, actor_id, actor, reason,
                                              entered_at, left_at)
       SELECT a.id, s.from_state, s.to_state, s.event,
              CASE WHEN s.to_state = 'APPROVED' AND c.online THEN NULL ELSE a.officer_id END,
              CASE WHEN s.to_state = 'APPROVED' AND c.online THEN 'system' ELSE 'synthetic' END,
              'synthetic history', a.created_at + (CAST(a.updated_at AS timestamptz) - a.created_at) * s.at, NULL
       FROM synthetic_case c JOIN loan_application a ON a.reference = 'S' || c.reference
       CROSS JOIN (VALUES (NULL, 'APPLIED', 'apply', 0.0), ('APPLIED', 'IN_REVIEW', 'submit', 0.5),
                          ('IN_REVIEW', 'APPROVED', 'approve', 0.8), ('APPROVED', 'DISBURSED', 'disburse', 1.0))
                  AS s(from_state, to_state, event, at)""",
    # Credit history: ~1% NPL, ~1.5% special mention; rates 11-18% with a 24% tail.
    """UPDATE loan_account l SET
           dpd = CASE WHEN c.risk < 0.010 THEN 95 + floor(c.risk * 35500)::int
                      WHEN c.risk < 0.025 THEN 31 + floor((c.risk - 0.010) * 4000)::int ELSE l.dpd END,
           state = CASE WHEN c.risk < 0.025 THEN 'overdue' ELSE l.state END,
           non_accrual = c.risk < 0.010,
           risk_class = CASE WHEN c.risk < 0.010 THEN
                                 CASE WHEN 95 + floor(c.risk * 35500) > 360 THEN 'loss'
                                      WHEN 95 + floor(c.risk * 35500) > 270 THEN 'doubtful' ELSE 'substandard' END
                             WHEN c.risk < 0.025 OR l.dpd > 0 THEN 'special_mention' ELSE 'normal' END,
           annual_rate = CASE WHEN c.risk > 0.97 THEN 0.24 ELSE 0.11 + round(CAST(c.risk * 0.07 AS numeric), 4) END
       FROM synthetic_case c WHERE c.loan_id = l.id""",
    """WITH target AS (
           SELECT sum(principal_outstanding * CASE risk_class WHEN 'normal' THEN 0.01 WHEN 'special_mention' THEN 0.02
                      WHEN 'substandard' THEN 0.25 WHEN 'doubtful' THEN 0.50 ELSE 1.00 END) AS amount
           FROM loan_account WHERE state NOT IN ('settled', 'written_off')
       ), missing AS (
           SELECT round(t.amount - coalesce((SELECT sum(credit - debit) FROM journal_line
                                            WHERE account_code = '1304'), 0), 2) AS amount FROM target t
       ), entry AS (
           INSERT INTO journal_entry (business_date, kind, memo)
           SELECT CAST(:d0 AS date) - 1, 'provision', 'provisions of the synthetic credit history'
           FROM missing WHERE amount > 0 RETURNING id
       )
       INSERT INTO journal_line (entry_id, account_code, loan_id, debit, credit)
       SELECT entry.id, '6701', CAST(NULL AS integer), amount, 0 FROM entry, missing WHERE amount > 0
       UNION ALL SELECT entry.id, '1304', CAST(NULL AS integer), 0, amount FROM entry, missing WHERE amount > 0""",
]


def enrich(session: Session, *, business_date: dt.date, officers: int | Sequence[int] = 20,
           seed: float = 0.42) -> None:
    """Give every loan of the session's tenant without an application a synthetic origination and credit history
    (see the module docstring). ``officers``: the loan officers' user ids, or a count for ids 1..n (benchmarks).
    Flushes; the caller commits. Deterministic for a given ``seed`` in [-1, 1] and officers."""
    officer_ids = list(range(1, officers + 1)) if isinstance(officers, int) else [int(i) for i in officers]
    if not officer_ids:
        raise ValueError("the synthetic book needs at least one loan officer")
    params = {"d0": business_date, "officer_ids": officer_ids, "seed": seed}
    for statement in _STATEMENTS:
        session.execute(text(statement), params)


def seed_tenant(tenant, *, loans: int, officers: int | Sequence[int] = 20, seed: float = 0.42) -> bool:
    """Give ``tenant`` a synthetic book of ``loans`` loans (``lending.cob.synthetic.build``, then ``enrich``) in one
    transaction; False, changing nothing, when it has loans already (so repeating it is harmless)."""
    from ..db import tenant_session
    from ..lending.cob import synthetic as base
    from ..lending.cob.dates import business_date

    with tenant_session(tenant) as session, session.begin():
        if session.execute(text("SELECT EXISTS (SELECT 1 FROM loan_account)")).scalar():
            return False
        day = business_date(session)
        # The base generator numbers its customers from the lowest customer id: build before any other customer.
        base.build(session, loans=loans, business_date=day)
        enrich(session, business_date=day, officers=officers, seed=seed)
    return True
