"""Partial prepayment (提前还款) with re-amortisation or term reduction, through a new schedule version.

The payment is posted as an ordinary repayment (Idempotency-Key, allocation order: the current period's interest
in full, then principal from the front); then the open instalments are replaced by a schedule the calculator
(``lending.calc``) builds for the principal still outstanding, keeping the current period's due date and due
day: ``reamortise`` keeps the number of remaining instalments (smaller instalments), ``shorten_term`` keeps the
instalment (at most the current one) and needs fewer periods. The current period's interest was paid in full by
the prepayment, so the new version's first instalment carries no interest. The new version is a
``restructure(..., financial_difficulty=False)``: no restructured state, no observation period.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import Conflict
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ..calc.schedule import DayCount, Method, ScheduleTerms, annuity_payment, build_schedule
from ..cob.dates import business_date as current_business_date
from . import services, states
from .models import ZERO, Installment, LoanTransaction

MODES = ("reamortise", "shorten_term")
METHODS = (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL)


def _periods_for(method: Method, principal: Decimal, annual_rate: Decimal, instalment: Decimal,
                 principal_part: Decimal, most: int) -> int:
    """Fewest periods whose instalment does not exceed the current one (term reduction)."""
    if method is Method.EQUAL_PRINCIPAL:
        return max(1, min(most, math.ceil(principal / principal_part)))
    for months in range(1, most + 1):
        if annuity_payment(principal, annual_rate / 12, months) <= instalment:
            return months
    return most


def prepay(session: Session, loan_id: int, amount: Any, *, mode: str, idempotency_key: str,
           method: str = "equal_installment", note: str = "") -> tuple[LoanTransaction, bool]:
    """Post a partial prepayment and re-schedule the rest; returns ``(transaction, replayed)``."""
    authorize(Permission.LOAN_SERVICE)
    if mode not in MODES:
        raise services.LoanError(f"mode is one of {', '.join(MODES)}")
    try:
        calc_method = Method(method)
    except ValueError:
        raise services.LoanError(f"method is one of {', '.join(m.value for m in METHODS)}") from None
    if calc_method not in METHODS:
        raise services.LoanError(f"method is one of {', '.join(m.value for m in METHODS)}")
    amount = services._money(amount, "amount")
    # Same digest as post_repayment's, taken first: the advisory lock then covers the re-scheduling too, so a
    # concurrent retry waits and replays instead of re-scheduling twice.
    found = services._replay(session, idempotency_key,
                             services._digest({"op": "repayment", "loan": loan_id, "amount": amount}))
    if found is not None:
        return found, True
    loan = services.get_loan(session, loan_id, lock=True)
    if loan.dpd > 0 or loan.state == states.OVERDUE or loan.penalty_receivable > 0:
        raise Conflict("clear the arrears before a prepayment")
    if loan.kind != "term" or loan.state not in (states.ACTIVE, states.RESTRUCTURED):
        raise Conflict(f"a {loan.state} {loan.kind} loan takes no partial prepayment")
    day = current_business_date(session)
    rows = list(session.scalars(select(Installment).where(
        Installment.loan_id == loan.id, Installment.version == loan.schedule_version,
        Installment.status.in_(("due", "partial", "overdue"))).order_by(Installment.seq)))
    if loan.dpd > 0 or loan.penalty_receivable > 0 or any(r.status == "overdue" for r in rows):
        raise Conflict("clear the arrears before a prepayment")
    current = rows[0]
    if not current.start_date < day < current.due_date:
        raise Conflict("a prepayment is made inside a period, not on its first day or its due date")
    interest_now = current.interest_due - current.interest_paid
    if amount <= interest_now:
        raise services.LoanError(f"a prepayment must exceed this period's interest ({interest_now})")
    if amount >= loan.principal_outstanding + interest_now:
        raise services.LoanError("that repays the whole loan: ask for the payoff quote")
    instalment = current.principal_due + current.interest_due
    txn, replayed = services.post_repayment(session, loan.id, amount, idempotency_key=idempotency_key,
                                            note=note or f"prepayment ({mode})")
    session.refresh(loan)
    remaining = loan.principal_outstanding
    months = len(rows) if mode == "reamortise" else _periods_for(
        calc_method, remaining, loan.annual_rate, instalment, current.principal_due, len(rows))
    schedule = build_schedule(ScheduleTerms(
        method=calc_method, principal=remaining, annual_rate=loan.annual_rate, months=months,
        start=current.start_date, day_count=DayCount.ACT360 if loan.day_count == 360 else DayCount.ACT365,
        due_day=current.due_date.day))
    if schedule.periods[0].due_date != current.due_date:
        raise Conflict("the loan's schedule is not monthly on a due day: re-schedule it by restructuring")
    new_rows = [{"due_date": p.due_date, "principal": p.principal, "interest": ZERO if k == 0 else p.interest}
                for k, p in enumerate(schedule.periods)]
    services.restructure(session, loan.id, installments=new_rows, financial_difficulty=False,
                         reason=f"prepayment {txn.id} ({mode}, {calc_method.value}): {amount}")
    return txn, replayed
