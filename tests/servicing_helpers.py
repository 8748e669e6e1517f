"""Helpers of the servicing tests: a customer, a hand-computed loan, closing days inside the test's transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from creditfactory.lending.cob import services as cob
from creditfactory.lending.cob.dates import set_business_date
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.loans import services as loans

START = dt.date(2026, 1, 1)

#: 12,000.00 at 12% a year in three 30-day periods, equal principal; interest = balance x 1% per period.
SCHEDULE = [
    {"due_date": dt.date(2026, 1, 31), "principal": "4000.00", "interest": "120.00"},
    {"due_date": dt.date(2026, 3, 2), "principal": "4000.00", "interest": "80.00"},
    {"due_date": dt.date(2026, 4, 1), "principal": "4000.00", "interest": "40.00"},
]


def customer(session, kind="individual"):
    c = Customer(kind=kind, name="王芳")
    session.add(c)
    session.flush()
    return c


def open_standard(session, reference="L-0001", *, start=START, customer_id=None, **terms):
    set_business_date(session, start)
    if customer_id is None:
        customer_id = customer(session).id
    return loans.open_loan(session, reference=reference, customer_id=customer_id, principal="12000.00",
                           annual_rate=Decimal("0.12"), penalty_rate=Decimal("0.18"), installments=SCHEDULE,
                           **terms)


def close_days(session, n, **kw):
    """Close ``n`` business days inside the test's transaction (COB joins the session's connection)."""
    session.flush()
    results = []
    for _ in range(n):
        results.append(cob.close_day(session.tenant, bind=session.connection(), **kw))
    session.expire_all()
    return results
