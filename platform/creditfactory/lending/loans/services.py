"""Loan accounts: opening from an explicit schedule, repayments (idempotent), reversals, payoff, waivers,
revolving draws, restructuring, litigation and write-off. Every money movement is one balanced journal entry.

Functions take a Session, flush, and leave the commit to the caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ... import audit
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ..cob.dates import business_date as current_business_date
from ..ledger import accounts as acc
from ..ledger.services import Line, ensure_chart, post, reverse
from . import states
from .models import ZERO, Allocation, Installment, LoanAccount, LoanTransaction, ScheduleVersion

CENT = Decimal("0.01")
#: DOMAIN §2.5 default allocation order for partial payments.
ALLOCATION_BUCKETS = ("penalty", "overdue_interest", "overdue_principal", "current_interest", "current_principal")
OPEN_STATUSES = ("due", "partial", "overdue")


class LoanError(DomainError):
    """Refused servicing input (amounts, schedules, keys)."""


def _money(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except Exception:
        raise LoanError(f"{what} must be an amount in yuan") from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise LoanError(f"{what} must be an amount in yuan with at most two decimals, not {value}")
    return amount.quantize(CENT)


def _row(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def validate_allocation_order(order: Iterable[str] | None) -> list[str]:
    order = list(order or ALLOCATION_BUCKETS)
    if sorted(order) != sorted(ALLOCATION_BUCKETS):
        raise LoanError(f"the allocation order must name each of {', '.join(ALLOCATION_BUCKETS)} once")
    return order


def get_loan(session: Session, loan_id: int, *, lock: bool = False) -> LoanAccount:
    query = select(LoanAccount).where(LoanAccount.id == loan_id)
    if lock:
        query = query.with_for_update()
    loan = session.scalars(query).first()
    if loan is None:
        raise NotFound(f"no loan {loan_id}")
    if lock:
        session.refresh(loan)
    return loan


def _validate_schedule(principal: Decimal, start: dt.date, rows: list[Any]) -> list[tuple[dt.date, Decimal, Decimal]]:
    if not rows:
        raise LoanError("a schedule needs at least one instalment")
    parsed, previous = [], start
    for k, row in enumerate(rows, 1):
        due = _row(row, "due_date")
        if isinstance(due, str):
            due = dt.date.fromisoformat(due)
        p, i = _money(_row(row, "principal"), f"principal of instalment {k}"), _money(_row(row, "interest"),
                                                                                    f"interest of instalment {k}")
        if p < 0 or i < 0:
            raise LoanError(f"instalment {k} has a negative amount")
        if due <= previous:
            raise LoanError(f"instalment {k} is due {due}, not after {previous}")
        parsed.append((due, p, i))
        previous = due
    total = sum((p for _, p, _ in parsed), ZERO)
    if total != principal:
        raise LoanError(f"the schedule repays {total}, not the principal {principal}")
    return parsed


def _add_schedule(session: Session, loan: LoanAccount, version: int, start: dt.date,
                  parsed: list[tuple[dt.date, Decimal, Decimal]], *, reason: str, note: str, day: dt.date) -> None:
    session.add(ScheduleVersion(loan_id=loan.id, version=version, reason=reason, note=note, business_date=day))
    previous = start
    for k, (due, p, i) in enumerate(parsed, 1):
        session.add(Installment(loan_id=loan.id, version=version, seq=k, start_date=previous, due_date=due,
                                principal_due=p, interest_due=i, interest_accrued=ZERO, principal_paid=ZERO,
                                interest_paid=ZERO, status="due"))
        previous = due


def open_loan(session: Session, *, reference: str, customer_id: int, principal: Any, annual_rate: Any,
              installments: list[Any], penalty_rate: Any = None, product_id: int | None = None,
              application_id: int | None = None, day_count: int = 360, grace_days: int = 0,
              allocation_order: Iterable[str] | None = None, retail: bool = True) -> LoanAccount:
    """Open a term loan disbursed today from the calculator's rows (``due_date, principal, interest``...).

    Posts the disbursement (Dr principal receivable, Cr cash/clearing). ``penalty_rate`` defaults to the contract
    rate + 50% (DOMAIN §2.5).
    """
    authorize(Permission.LOAN_DISBURSE, allow_system=True)
    principal = _money(principal, "principal")
    if principal <= 0:
        raise LoanError("the principal must be positive")
    rate = Decimal(str(annual_rate))
    penalty = Decimal(str(penalty_rate)) if penalty_rate is not None else (rate * Decimal("1.5"))
    if rate < 0 or penalty < 0:
        raise LoanError("rates cannot be negative")
    if day_count not in (360, 365):
        raise LoanError("the day count is 360 or 365")
    order = validate_allocation_order(allocation_order)
    day = current_business_date(session)
    parsed = _validate_schedule(principal, day, list(installments))
    ensure_chart(session)
    loan = LoanAccount(reference=reference, kind="term", customer_id=customer_id, product_id=product_id,
                       application_id=application_id, state=states.ACTIVE, retail=retail, principal_amount=principal,
                       credit_limit=ZERO, annual_rate=rate, penalty_rate=penalty, day_count=day_count,
                       grace_days=grace_days, allocation_order=order, disbursed_on=day, maturity_date=parsed[-1][0],
                       schedule_version=1, principal_outstanding=principal, interest_receivable=ZERO,
                       penalty_receivable=ZERO, interest_suspended=ZERO, dpd=0, non_accrual=False,
                       risk_class="normal", npl_at_restructuring=False, row_version=1)
    session.add(loan)
    session.flush()
    _add_schedule(session, loan, 1, day, parsed, reason="disbursement", note="", day=day)
    entry = post(session, business_date=day, kind="disbursement", loan_id=loan.id, memo=f"disbursement {reference}",
                 lines=[Line(acc.PRINCIPAL, debit=principal, loan_id=loan.id), Line(acc.CASH, credit=principal)])
    session.add(LoanTransaction(loan_id=loan.id, kind="disbursement", business_date=day, amount=principal,
                                principal=principal, entry_id=entry.id))
    session.flush()
    audit.record(session, "loan.open", object_type="loan", object_id=loan.id,
                 after={"reference": reference, "principal": principal, "annual_rate": rate,
                        "installments": len(parsed)})
    return loan


def open_credit_line(session: Session, *, reference: str, customer_id: int, credit_limit: Any, annual_rate: Any,
                     expires_on: dt.date, penalty_rate: Any = None, product_id: int | None = None,
                     day_count: int = 360, retail: bool = True) -> LoanAccount:
    """Open a revolving line (随借随还): draws and repayments any time within the limit, interest daily."""
    authorize(Permission.LOAN_DISBURSE, allow_system=True)
    limit = _money(credit_limit, "credit limit")
    rate = Decimal(str(annual_rate))
    day = current_business_date(session)
    if limit <= 0 or expires_on <= day:
        raise LoanError("a credit line needs a positive limit and an expiry after today")
    ensure_chart(session)
    loan = LoanAccount(reference=reference, kind="revolving", customer_id=customer_id, product_id=product_id,
                       state=states.ACTIVE, retail=retail, principal_amount=ZERO, credit_limit=limit,
                       annual_rate=rate, penalty_rate=Decimal(str(penalty_rate)) if penalty_rate is not None
                       else rate * Decimal("1.5"), day_count=day_count, grace_days=0,
                       allocation_order=["penalty", "overdue_interest", "overdue_principal", "current_interest",
                                         "current_principal"],
                       disbursed_on=day, maturity_date=expires_on, schedule_version=0, principal_outstanding=ZERO,
                       interest_receivable=ZERO, penalty_receivable=ZERO, interest_suspended=ZERO,
                       dpd=0, non_accrual=False, risk_class="normal", npl_at_restructuring=False, row_version=1)
    session.add(loan)
    session.flush()
    audit.record(session, "loan.open_line", object_type="loan", object_id=loan.id,
                 after={"reference": reference, "credit_limit": limit, "annual_rate": rate})
    return loan


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _replay(session: Session, key: str | None, digest: str) -> LoanTransaction | None:
    """The transaction already posted under ``key`` (same request), or None; a different request is a 409."""
    if not key:
        raise LoanError("money-moving requests need an Idempotency-Key")
    if len(key) > 100:
        raise LoanError("the Idempotency-Key is at most 100 characters")
    # Same-key requests take turns (also across loans), so the second sees the first's committed row.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 5150))"), {"k": key})
    found = session.scalars(select(LoanTransaction).where(LoanTransaction.idempotency_key == key)).first()
    if found is not None and found.request_digest != digest:
        raise Conflict(f"the Idempotency-Key {key!r} was already used for a different request")
    return found


def draw(session: Session, loan_id: int, amount: Any, *, idempotency_key: str) -> tuple[LoanTransaction, bool]:
    """Draw on a revolving line; refuses beyond the available amount (limit - drawn)."""
    authorize(Permission.LOAN_DISBURSE, allow_system=True)
    amount = _money(amount, "amount")
    if amount <= 0:
        raise LoanError("the amount must be positive")
    digest = _digest({"op": "draw", "loan": loan_id, "amount": amount})
    found = _replay(session, idempotency_key, digest)
    if found is not None:
        return found, True
    loan = get_loan(session, loan_id, lock=True)
    day = current_business_date(session)
    if loan.kind != "revolving" or loan.state not in (states.ACTIVE,) or day >= loan.maturity_date:
        raise Conflict("only an active, unexpired credit line in good standing can be drawn")
    if loan.principal_outstanding + amount > loan.credit_limit:
        raise LoanError(f"the draw exceeds the available amount {loan.credit_limit - loan.principal_outstanding}")
    entry = post(session, business_date=day, kind="draw", loan_id=loan.id, memo=f"draw {loan.reference}",
                 lines=[Line(acc.PRINCIPAL, debit=amount, loan_id=loan.id), Line(acc.CASH, credit=amount)])
    loan.principal_outstanding += amount
    loan.row_version += 1
    txn = LoanTransaction(loan_id=loan.id, kind="draw", business_date=day, amount=amount, principal=amount,
                          idempotency_key=idempotency_key, request_digest=digest, entry_id=entry.id)
    session.add(txn)
    session.flush()
    audit.record(session, "loan.draw", object_type="loan", object_id=loan.id, after={"amount": amount})
    return txn, False


@dataclass
class _Portion:
    installment: Installment | None
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    penalty: Decimal = ZERO


def _open_installments(session: Session, loan: LoanAccount) -> list[Installment]:
    return list(session.scalars(select(Installment).where(
        Installment.loan_id == loan.id, Installment.version == loan.schedule_version,
        Installment.status.in_(OPEN_STATUSES)).order_by(Installment.seq).with_for_update()))


@dataclass(frozen=True)
class PayoffQuote:
    loan_id: int
    business_date: dt.date
    principal: Decimal
    interest: Decimal
    penalty: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.penalty


def payoff_quote(session: Session, loan_id: int) -> PayoffQuote:
    """What settles the loan today: all principal, interest accrued to date (incl. suspended), penalty."""
    authorize(Permission.LOAN_READ, allow_system=True)
    loan = get_loan(session, loan_id)
    if loan.kind == "revolving":
        interest = loan.interest_receivable + loan.interest_suspended
    else:
        interest = session.execute(select(
            Installment.interest_accrued - Installment.interest_paid).where(
            Installment.loan_id == loan.id, Installment.version == loan.schedule_version)).scalars().all()
        interest = sum(interest, ZERO)
    return PayoffQuote(loan.id, current_business_date(session), loan.principal_outstanding, interest,
                       loan.penalty_receivable)


def _allocate(loan: LoanAccount, open_rows: list[Installment], amount: Decimal, day: dt.date, *,
              accelerate: bool) -> list[_Portion]:
    """Split ``amount`` over the buckets in the loan's allocation order; raises if it exceeds what is owed.

    ``accelerate``: the current period's whole interest is payable (a borrower paying the instalment a few days
    early pays the instalment, not accrued interest plus some of next month's principal); the part not yet
    accrued is accrued at posting. A payoff pays only interest accrued to date.
    """
    portions: dict[int | None, _Portion] = {}

    def portion(inst: Installment | None) -> _Portion:
        key = inst.id if inst is not None else None
        if key not in portions:
            portions[key] = _Portion(inst)
        return portions[key]

    left = amount
    overdue = [i for i in open_rows if i.due_date < day]
    current = [i for i in open_rows if i.due_date >= day]
    pending = {i.id: (i.principal_due - i.principal_paid, i.interest_accrued - i.interest_paid) for i in open_rows}
    if accelerate and current:
        head = current[0]
        pending[head.id] = (pending[head.id][0], head.interest_due - head.interest_paid)
    for bucket in loan.allocation_order:
        if left <= 0:
            break
        if bucket == "penalty":
            take = min(left, loan.penalty_receivable)
            if take:
                portion(None).penalty += take
                left -= take
            continue
        if loan.kind == "revolving":
            if bucket.endswith("interest"):
                owed = loan.interest_receivable + loan.interest_suspended - portion(None).interest
                take = min(left, owed)
                portion(None).interest += take
            else:
                owed = loan.principal_outstanding - portion(None).principal
                take = min(left, owed)
                portion(None).principal += take
            left -= take
            continue
        rows = overdue if bucket.startswith("overdue") else current
        for inst in rows:
            if left <= 0:
                break
            principal_left, interest_left = pending[inst.id]
            if bucket.endswith("interest"):
                take = min(left, interest_left)
                portion(inst).interest += take
                pending[inst.id] = (principal_left, interest_left - take)
            else:
                take = min(left, principal_left)
                portion(inst).principal += take
                pending[inst.id] = (principal_left - take, interest_left)
            left -= take
    if left > 0:
        raise LoanError(f"the payment exceeds what is owed today by {left}; ask for a payoff quote")
    return [p for p in portions.values() if p.principal or p.interest or p.penalty]


def refresh(session: Session, loan: LoanAccount, day: dt.date, *, reason: str) -> None:
    """Recompute instalment statuses, DPD and the DPD-driven state after a posting (COB does the same in SQL)."""
    session.flush()
    if loan.kind == "term":
        session.execute(text("""
            UPDATE loan_installment SET
                status = CASE
                    WHEN principal_paid = principal_due AND interest_paid = interest_due THEN 'paid'
                    WHEN due_date < :d THEN 'overdue'
                    WHEN principal_paid > 0 OR interest_paid > 0 THEN 'partial'
                    ELSE 'due' END,
                paid_on = CASE WHEN principal_paid = principal_due AND interest_paid = interest_due
                               THEN coalesce(paid_on, :d) END
            WHERE loan_id = :loan AND version = :v AND status <> 'superseded' AND status <> 'waived'"""),
            {"d": day, "loan": loan.id, "v": loan.schedule_version})
        oldest = session.execute(text("""
            SELECT min(due_date) FROM loan_installment
            WHERE loan_id = :loan AND version = :v AND status = 'overdue'"""),
            {"loan": loan.id, "v": loan.schedule_version}).scalar()
    else:
        oldest = loan.maturity_date if (loan.maturity_date < day and loan.principal_outstanding > 0) else None
    loan.dpd = (day - oldest).days if oldest is not None else 0
    owed = loan.principal_outstanding + loan.penalty_receivable + loan.interest_receivable + loan.interest_suspended
    if loan.kind == "term" and owed == 0:
        owed = session.execute(text("SELECT coalesce(sum(interest_accrued - interest_paid), 0) FROM loan_installment "
                                    "WHERE loan_id = :loan AND version = :v"),
                               {"loan": loan.id, "v": loan.schedule_version}).scalar()
    if loan.kind == "term" and owed == 0 and loan.state != states.SETTLED:
        # Interest of the current period not yet accrued is not owed after an early payoff.
        session.execute(text("UPDATE loan_installment SET status = 'paid', paid_on = coalesce(paid_on, :d) "
                             "WHERE loan_id = :loan AND version = :v AND status IN ('due', 'partial', 'overdue')"),
                        {"d": day, "loan": loan.id, "v": loan.schedule_version})
        states.move(session, loan, states.SETTLED, reason=reason, business_date=day)
        loan.settled_on = day
    elif loan.state == states.SETTLED and owed > 0:
        states.move(session, loan, states.OVERDUE if loan.dpd > 0 else states.ACTIVE, reason=reason,
                    business_date=day)
        loan.settled_on = None
    elif loan.state == states.ACTIVE and loan.dpd > 0:
        states.move(session, loan, states.OVERDUE, reason=reason, business_date=day)
    elif loan.state == states.OVERDUE and loan.dpd == 0:
        states.move(session, loan, states.ACTIVE, reason=reason, business_date=day)


def _on_balance_interest(loan: LoanAccount, open_rows: list[Installment]) -> Decimal:
    if loan.kind == "revolving":
        return loan.interest_receivable
    return sum((i.interest_accrued - i.interest_paid for i in open_rows), ZERO) - loan.interest_suspended


def post_repayment(session: Session, loan_id: int, amount: Any, *, idempotency_key: str, note: str = "",
                   payoff: bool = False) -> tuple[LoanTransaction, bool]:
    """Post a repayment once per Idempotency-Key; returns ``(transaction, replayed)``.

    The amount is allocated in the loan's allocation order (current period's interest included); more than is
    owed is refused. ``payoff``: the amount must equal today's payoff quote and settles the loan.
    """
    authorize(Permission.LOAN_SERVICE, allow_system=True)
    amount = _money(amount, "amount")
    if amount <= 0:
        raise LoanError("the amount must be positive")
    digest = _digest({"op": "payoff" if payoff else "repayment", "loan": loan_id, "amount": amount})
    found = _replay(session, idempotency_key, digest)
    if found is not None:
        return found, True
    loan = get_loan(session, loan_id, lock=True)
    if loan.state in (states.SETTLED, states.WRITTEN_OFF):
        raise Conflict(f"a {loan.state} loan takes no repayments")
    day = current_business_date(session)
    open_rows = _open_installments(session, loan) if loan.kind == "term" else []
    if payoff:
        quote = payoff_quote(session, loan.id)
        if amount != quote.total:
            raise LoanError(f"a payoff today is {quote.total}, not {amount}")
    on_balance = _on_balance_interest(loan, open_rows)
    portions = _allocate(loan, open_rows, amount, day, accelerate=not payoff and not loan.non_accrual)
    accelerated: dict[int, Decimal] = {}
    for p in portions:
        if p.installment is not None and p.interest > p.installment.interest_accrued - p.installment.interest_paid:
            accelerated[p.installment.id] = p.interest - (p.installment.interest_accrued - p.installment.interest_paid)
    early = sum(accelerated.values(), ZERO)
    on_balance += early
    principal = sum((p.principal for p in portions), ZERO)
    interest = sum((p.interest for p in portions), ZERO)
    penalty = sum((p.penalty for p in portions), ZERO)
    # Interest is paid from the on-balance receivable first, then from suspended (non-accrual) interest, which
    # becomes income only now that it is received.
    from_suspended = max(ZERO, interest - on_balance)
    from_receivable = interest - from_suspended
    lines = [Line(acc.INTEREST_RECEIVABLE, debit=early, loan_id=loan.id),
             Line(acc.INTEREST_INCOME, credit=early, loan_id=loan.id),
             Line(acc.CASH, debit=amount),
             Line(acc.PENALTY_RECEIVABLE, credit=penalty, loan_id=loan.id),
             Line(acc.INTEREST_RECEIVABLE, credit=from_receivable, loan_id=loan.id),
             Line(acc.INTEREST_INCOME, credit=from_suspended, loan_id=loan.id),
             Line(acc.OFF_INTEREST_CONTRA, debit=from_suspended, loan_id=loan.id),
             Line(acc.OFF_INTEREST, credit=from_suspended, loan_id=loan.id),
             Line(acc.PRINCIPAL, credit=principal, loan_id=loan.id)]
    entry = post(session, business_date=day, kind="repayment", loan_id=loan.id, lines=lines,
                 memo=f"repayment {loan.reference}")
    txn = LoanTransaction(loan_id=loan.id, kind="payoff" if payoff else "repayment", business_date=day,
                          amount=amount, principal=principal,
                          interest=interest, penalty=penalty, idempotency_key=idempotency_key,
                          request_digest=digest, reason=note, entry_id=entry.id)
    session.add(txn)
    session.flush()
    suspended_left = from_suspended
    for p in portions:
        share = ZERO
        if p.interest and suspended_left:
            share = min(p.interest, suspended_left)
            suspended_left -= share
        session.add(Allocation(transaction_id=txn.id, installment_id=p.installment.id if p.installment else None,
                               principal=p.principal, interest=p.interest, interest_suspended=share,
                               interest_accelerated=accelerated.get(p.installment.id if p.installment else -1, ZERO),
                               penalty=p.penalty))
        if p.installment is not None:
            p.installment.interest_accrued += accelerated.get(p.installment.id, ZERO)
            p.installment.principal_paid += p.principal
            p.installment.interest_paid += p.interest
    loan.principal_outstanding -= principal
    loan.penalty_receivable -= penalty
    loan.interest_suspended -= from_suspended
    if loan.kind == "revolving":
        loan.interest_receivable -= from_receivable
    loan.row_version += 1
    refresh(session, loan, day, reason="repayment")
    audit.record(session, "loan.repayment", object_type="loan", object_id=loan.id,
                 after={"transaction": txn.id, "amount": amount, "principal": principal, "interest": interest,
                        "penalty": penalty})
    return txn, False


def reverse_transaction(session: Session, transaction_id: int, *, reason: str,
                        idempotent: bool = False) -> LoanTransaction:
    """Reverse a repayment or waiver: mirror journal entry, allocations undone, state and DPD recomputed.

    ``idempotent``: reversing an already reversed posting returns its reversal (a retried request) instead of
    refusing with 409.
    """
    authorize(Permission.LOAN_SERVICE, allow_system=True)
    if not reason or not reason.strip():
        raise LoanError("a reversal needs a reason")
    txn = session.scalars(select(LoanTransaction).where(LoanTransaction.id == transaction_id)
                          .with_for_update()).first()
    if txn is None:
        raise NotFound(f"no transaction {transaction_id}")
    if txn.kind not in ("repayment", "payoff", "waiver"):
        raise Conflict(f"a {txn.kind} cannot be reversed here")
    if txn.reversed and idempotent:
        return session.scalars(select(LoanTransaction).where(LoanTransaction.reverses_id == txn.id)).one()
    if txn.reversed:
        raise Conflict(f"transaction {transaction_id} is already reversed")
    if session.execute(text("""SELECT 1 FROM loan_allocation a JOIN loan_installment i ON i.id = a.installment_id
                               WHERE a.transaction_id = :t AND i.status = 'superseded' LIMIT 1"""),
                       {"t": txn.id}).first():
        # A prepayment re-amortised the schedule (or a restructuring followed): undoing the allocations would
        # reopen instalments of a superseded version.
        raise Conflict(f"transaction {transaction_id} paid instalments of a superseded schedule version")
    loan = get_loan(session, txn.loan_id, lock=True)
    if loan.state == states.WRITTEN_OFF:
        raise Conflict("postings of a written-off loan are not reversed")
    day = current_business_date(session)
    entry = reverse(session, txn.entry_id, business_date=day, memo=f"reversal of transaction {txn.id}: {reason}")
    allocations = session.scalars(select(Allocation).where(Allocation.transaction_id == txn.id)).all()
    suspended = ZERO
    for a in allocations:
        if a.installment_id is not None:
            inst = session.get(Installment, a.installment_id, with_for_update=True)
            if txn.kind in ("repayment", "payoff"):
                inst.principal_paid -= a.principal
                inst.interest_paid -= a.interest
                inst.interest_accrued -= a.interest_accelerated
            else:  # a waiver reduced what was due
                inst.interest_due += a.interest
                inst.interest_accrued += a.interest
        suspended += a.interest_suspended
    if txn.kind in ("repayment", "payoff"):
        loan.principal_outstanding += txn.principal
        loan.penalty_receivable += txn.penalty
        loan.interest_suspended += suspended
        if loan.kind == "revolving":
            loan.interest_receivable += txn.interest - suspended
    else:
        loan.penalty_receivable += txn.penalty
        loan.interest_suspended += suspended
        if loan.kind == "revolving":
            loan.interest_receivable += txn.interest - suspended
    txn.reversed = True
    reversal = LoanTransaction(loan_id=loan.id, kind="reversal", business_date=day, amount=txn.amount,
                               principal=txn.principal, interest=txn.interest, penalty=txn.penalty,
                               reverses_id=txn.id, reason=reason.strip(), entry_id=entry.id)
    session.add(reversal)
    loan.row_version += 1
    refresh(session, loan, day, reason=f"reversal: {reason.strip()}")
    audit.record(session, "loan.reversal", object_type="loan", object_id=loan.id,
                 before={"transaction": txn.id}, after={"reason": reason.strip()})
    return reversal


def _waive(session: Session, loan_id: int, interest: Decimal, penalty: Decimal, reason: str) -> LoanTransaction:
    """Apply an approved waiver: reduce penalty and accrued interest owed (oldest first); an expense, not cash."""
    loan = get_loan(session, loan_id, lock=True)
    if loan.state in (states.SETTLED, states.WRITTEN_OFF):
        raise Conflict(f"a {loan.state} loan takes no waivers")
    day = current_business_date(session)
    if penalty > loan.penalty_receivable:
        raise LoanError(f"the penalty owed is only {loan.penalty_receivable}")
    open_rows = _open_installments(session, loan) if loan.kind == "term" else []
    owed = (sum((i.interest_accrued - i.interest_paid for i in open_rows), ZERO) if loan.kind == "term"
            else loan.interest_receivable + loan.interest_suspended)
    if interest > owed:
        raise LoanError(f"the accrued interest owed is only {owed}")
    on_balance = owed - loan.interest_suspended
    from_suspended = max(ZERO, interest - on_balance)
    from_receivable = interest - from_suspended
    entry = post(session, business_date=day, kind="waiver", loan_id=loan.id, memo=f"waiver {loan.reference}: {reason}",
                 lines=[Line(acc.WAIVER_EXPENSE, debit=penalty + from_receivable, loan_id=loan.id),
                        Line(acc.PENALTY_RECEIVABLE, credit=penalty, loan_id=loan.id),
                        Line(acc.INTEREST_RECEIVABLE, credit=from_receivable, loan_id=loan.id),
                        Line(acc.OFF_INTEREST_CONTRA, debit=from_suspended, loan_id=loan.id),
                        Line(acc.OFF_INTEREST, credit=from_suspended, loan_id=loan.id)])
    txn = LoanTransaction(loan_id=loan.id, kind="waiver", business_date=day, amount=interest + penalty,
                          interest=interest, penalty=penalty, reason=reason, entry_id=entry.id)
    session.add(txn)
    session.flush()
    left, suspended_left = interest, from_suspended
    if penalty:
        session.add(Allocation(transaction_id=txn.id, installment_id=None, penalty=penalty))
    if loan.kind == "revolving" and interest:
        session.add(Allocation(transaction_id=txn.id, installment_id=None, interest=interest,
                               interest_suspended=from_suspended))
        loan.interest_receivable -= from_receivable
        left = ZERO
    for inst in open_rows:
        if left <= 0:
            break
        take = min(left, inst.interest_accrued - inst.interest_paid)
        if take:
            share = min(take, suspended_left)
            suspended_left -= share
            inst.interest_due -= take
            inst.interest_accrued -= take
            session.add(Allocation(transaction_id=txn.id, installment_id=inst.id, interest=take,
                                   interest_suspended=share))
            left -= take
    loan.penalty_receivable -= penalty
    loan.interest_suspended -= from_suspended
    loan.row_version += 1
    refresh(session, loan, day, reason="waiver")
    audit.record(session, "loan.waiver", object_type="loan", object_id=loan.id,
                 after={"interest": interest, "penalty": penalty, "reason": reason})
    return txn


def _validate_waiver(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    if not target.startswith("loan:") or not target[5:].isdigit():
        raise LoanError("a waiver targets loan:<id>")
    interest = _money(payload.get("interest", "0"), "interest")
    penalty = _money(payload.get("penalty", "0"), "penalty")
    reason = str(payload.get("reason", "")).strip()
    if interest < 0 or penalty < 0 or interest + penalty <= 0:
        raise LoanError("a waiver needs a positive interest or penalty amount")
    if not reason:
        raise LoanError("a waiver needs a reason")
    return {"interest": str(interest), "penalty": str(penalty), "reason": reason}


def _apply_waiver(session: Session, target: str, payload: dict[str, Any]) -> None:
    _waive(session, int(target[5:]), Decimal(payload["interest"]), Decimal(payload["penalty"]), payload["reason"])


def _register_waiver_kind() -> None:
    from ...identity.changes import ChangeKind, change_kinds, register_change_kind

    if "loan.waiver" not in change_kinds():
        register_change_kind(ChangeKind(code="loan.waiver", permission=Permission.LOAN_SERVICE,
                                        validate=_validate_waiver, apply=_apply_waiver))


_register_waiver_kind()


def _person_maker(what: str) -> None:
    from ...identity.errors import AccessDenied
    from ...identity.principal import CurrentPrincipal

    authorize(Permission.LOAN_SERVICE)
    if CurrentPrincipal.get().user_id is None:
        # The change request names the person who proposed it, whom the checker can ask why.
        raise AccessDenied(f"a {what} is proposed by a person (maker-checker 双人复核), not a machine client")


def propose_waiver(session: Session, loan_id: int, *, interest: Any = "0", penalty: Any = "0", reason: str):
    """Maker: propose waiving interest and/or penalty; a different person with ``config.approve`` applies it."""
    from ...identity import changes

    _person_maker("waiver")
    get_loan(session, loan_id)
    return changes.propose(session, "loan.waiver", f"loan:{loan_id}",
                           {"interest": str(interest), "penalty": str(penalty), "reason": reason})


def restructure(session: Session, loan_id: int, *, installments: list[Any], reason: str,
                financial_difficulty: bool = True) -> LoanAccount:
    """Replace the open schedule by a new version (old versions kept) for the outstanding principal.

    Arrears of interest and penalty stay owed on the loan; with ``financial_difficulty`` the loan enters the
    restructured state and the observation period of DOMAIN §3.1 (≥ 2 periods and ≥ 1 year).
    """
    authorize(Permission.LOAN_SERVICE, allow_system=True)
    if not reason.strip():
        raise LoanError("a restructuring needs a reason")
    loan = get_loan(session, loan_id, lock=True)
    if loan.kind != "term" or loan.state not in (states.ACTIVE, states.OVERDUE, states.RESTRUCTURED):
        raise Conflict(f"a {loan.state} {loan.kind} loan cannot be restructured")
    day = current_business_date(session)
    parsed = _validate_schedule(loan.principal_outstanding, day, list(installments))
    unpaid_interest = session.execute(text("""
        SELECT coalesce(sum(interest_accrued - interest_paid), 0) FROM loan_installment
        WHERE loan_id = :l AND version = :v"""), {"l": loan.id, "v": loan.schedule_version}).scalar()
    if unpaid_interest:
        raise Conflict(f"collect or waive the {unpaid_interest} of accrued interest before restructuring")
    session.execute(text("UPDATE loan_installment SET status = 'superseded' "
                         "WHERE loan_id = :l AND version = :v AND status IN ('due', 'partial', 'overdue')"),
                    {"l": loan.id, "v": loan.schedule_version})
    version = loan.schedule_version + 1
    _add_schedule(session, loan, version, day, parsed, reason="restructuring", note=reason.strip(), day=day)
    from ..classification.models import NPL_CLASSES

    loan.schedule_version = version
    loan.maturity_date = parsed[-1][0]
    loan.dpd = 0
    if financial_difficulty:
        loan.npl_at_restructuring = loan.risk_class in NPL_CLASSES
        loan.restructured_on = day
        second_due = parsed[min(1, len(parsed) - 1)][0]
        loan.observation_until = max(second_due, day + dt.timedelta(days=365))
        states.move(session, loan, states.RESTRUCTURED, reason=reason.strip(), business_date=day,
                    details={"version": version})
    loan.row_version += 1
    session.flush()
    audit.record(session, "loan.restructure", object_type="loan", object_id=loan.id,
                 after={"version": version, "installments": len(parsed), "reason": reason.strip()})
    return loan


def file_litigation(session: Session, loan_id: int, *, reason: str) -> LoanAccount:
    authorize(Permission.LOAN_SERVICE, allow_system=True)
    loan = get_loan(session, loan_id, lock=True)
    states.move(session, loan, states.IN_LITIGATION, reason=reason, business_date=current_business_date(session))
    audit.record(session, "loan.litigation", object_type="loan", object_id=loan.id, after={"reason": reason})
    return loan


def write_off(session: Session, loan_id: int, *, reason: str) -> LoanAccount:
    """Write off an overdue or litigated loan (after approval): off the balance sheet, recovery still tracked.

    People go through ``propose_write_off`` (maker-checker); this direct call is for the approved change and
    for unattended work that carries its own approval."""
    authorize(Permission.LOAN_SERVICE, allow_system=True)
    return _write_off(session, loan_id, reason=reason)


def _write_off(session: Session, loan_id: int, *, reason: str) -> LoanAccount:
    loan = get_loan(session, loan_id, lock=True)
    day = current_business_date(session)
    if states.WRITTEN_OFF not in states.TRANSITIONS[loan.state]:
        raise Conflict(f"a {loan.state} loan cannot be written off")
    interest = sum(session.execute(select(Installment.interest_accrued - Installment.interest_paid).where(
        Installment.loan_id == loan.id, Installment.version == loan.schedule_version)).scalars().all(), ZERO)
    on_balance = interest + loan.interest_receivable - loan.interest_suspended
    total = loan.principal_outstanding + on_balance + loan.penalty_receivable
    post(session, business_date=day, kind="write_off", loan_id=loan.id, memo=f"write-off {loan.reference}: {reason}",
         lines=[Line(acc.PROVISION_EXPENSE, debit=total, loan_id=loan.id),
                Line(acc.PRINCIPAL, credit=loan.principal_outstanding, loan_id=loan.id),
                Line(acc.INTEREST_RECEIVABLE, credit=on_balance, loan_id=loan.id),
                Line(acc.PENALTY_RECEIVABLE, credit=loan.penalty_receivable, loan_id=loan.id),
                Line(acc.OFF_INTEREST_CONTRA, debit=loan.interest_suspended, loan_id=loan.id),
                Line(acc.OFF_INTEREST, credit=loan.interest_suspended, loan_id=loan.id),
                Line(acc.OFF_WRITTEN_OFF, debit=total + loan.interest_suspended, loan_id=loan.id),
                Line(acc.OFF_WRITTEN_OFF_CONTRA, credit=total + loan.interest_suspended, loan_id=loan.id)])
    states.move(session, loan, states.WRITTEN_OFF, reason=reason, business_date=day,
                details={"principal": str(loan.principal_outstanding), "interest": str(interest),
                         "penalty": str(loan.penalty_receivable)})
    audit.record(session, "loan.write_off", object_type="loan", object_id=loan.id,
                 before={"principal": loan.principal_outstanding}, after={"reason": reason})
    return loan


def _loan_target(target: str) -> int:
    if not target.startswith("loan:") or not target[5:].isdigit():
        raise LoanError("a loan change targets loan:<id>")
    return int(target[5:])


def _validate_write_off(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    _loan_target(target)
    reason = str(payload.get("reason", "")).strip()
    if not reason:
        raise LoanError("a write-off needs a reason")
    return {"reason": reason}


def _apply_write_off(session: Session, target: str, payload: dict[str, Any]) -> None:
    # The checker (config.approve) need not hold loan.service: the maker's permission was checked at proposal.
    _write_off(session, _loan_target(target), reason=payload["reason"])


def _register_write_off_kind() -> None:
    from ...identity.changes import ChangeKind, change_kinds, register_change_kind

    if "loan.write_off" not in change_kinds():
        register_change_kind(ChangeKind(code="loan.write_off", permission=Permission.LOAN_SERVICE,
                                        validate=_validate_write_off, apply=_apply_write_off))


_register_write_off_kind()


def propose_write_off(session: Session, loan_id: int, *, reason: str):
    """Maker: ask to write the loan off; a different person with ``config.approve`` approves and applies it.

    Refused at once (409) when the loan's state allows no write-off, so no request waits for a checker in vain."""
    from ...identity import changes

    _person_maker("write-off")
    loan = get_loan(session, loan_id)
    if states.WRITTEN_OFF not in states.TRANSITIONS[loan.state]:
        raise Conflict(f"a {loan.state} loan cannot be written off")
    return changes.propose(session, "loan.write_off", f"loan:{loan_id}", {"reason": reason})


#: Change kinds that act on one loan (target ``loan:<id>``): shown and decided on the loan's own page.
LOAN_CHANGE_KINDS = ("loan.waiver", "loan.write_off")


def pending_changes(session: Session, loan_id: int) -> list[Any]:
    """The loan's waivers and write-offs waiting for a second person, oldest first."""
    from ...identity.models import ChangeRequest, ChangeStatus

    authorize(Permission.LOAN_READ)
    return list(session.scalars(select(ChangeRequest).where(
        ChangeRequest.kind.in_(LOAN_CHANGE_KINDS), ChangeRequest.target == f"loan:{loan_id}",
        ChangeRequest.status == ChangeStatus.PENDING.value).order_by(ChangeRequest.id)))


def schedule_from_terms(session: Session, loan: LoanAccount, *, months: int,
                        method: str = "equal_installment") -> list[dict[str, Any]]:
    """New instalments for the outstanding principal at the loan's rate, monthly from today (the calculator's
    schedule), for a restructuring given as terms rather than explicit rows."""
    from ..calc.schedule import DayCount, Method, ScheduleTerms, build_schedule

    if method not in ("equal_installment", "equal_principal"):
        raise LoanError("method is one of equal_installment, equal_principal")
    if loan.principal_outstanding <= 0:
        raise Conflict("nothing is outstanding to re-schedule")
    schedule = build_schedule(ScheduleTerms(
        method=Method(method), principal=loan.principal_outstanding, annual_rate=loan.annual_rate, months=months,
        start=current_business_date(session),
        day_count=DayCount.ACT360 if loan.day_count == 360 else DayCount.ACT365))
    return [{"due_date": p.due_date, "principal": p.principal, "interest": p.interest} for p in schedule.periods]
