"""Posting to the ledger, the trial balance, and the check that the books and the loans' sub-ledgers agree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ...errors import DomainError
from . import accounts
from .models import Account, JournalEntry, JournalLine

ZERO = Decimal("0.00")


class LedgerError(DomainError):
    """An entry that would not balance, or a negative or empty amount."""


class LedgerOutOfBalance(RuntimeError):
    """The books disagree with themselves or with a loan's sub-ledger: never expected, always loud."""


@dataclass(frozen=True)
class Line:
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    loan_id: int | None = None


def ensure_chart(session: Session) -> None:
    """Create the lending chart of accounts in this tenant (idempotent)."""
    rows = [{"code": code, "name_zh": zh, "name_en": en, "kind": kind, "normal": normal}
            for code, (zh, en, kind, normal) in accounts.CHART.items()]
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    session.execute(pg_insert(Account).values(rows).on_conflict_do_nothing())


def post(session: Session, *, business_date: dt.date, kind: str, lines: Iterable[Line], loan_id: int | None = None,
         memo: str = "", reverses_id: int | None = None) -> JournalEntry:
    """Post one balanced entry; all its lines go in one INSERT (the database checks each statement balances)."""
    kept = [line for line in lines if line.debit or line.credit]
    for line in kept:
        if line.debit < 0 or line.credit < 0 or (line.debit and line.credit):
            raise LedgerError(f"a line is one positive side, not {line}")
    if not kept:
        raise LedgerError("an entry needs at least one line")
    debits = sum((line.debit for line in kept), ZERO)
    credits = sum((line.credit for line in kept), ZERO)
    if debits != credits:
        raise LedgerError(f"unbalanced entry: debits {debits} != credits {credits}")
    entry = JournalEntry(business_date=business_date, kind=kind, loan_id=loan_id, memo=memo, reverses_id=reverses_id)
    session.add(entry)
    session.flush()
    session.execute(insert(JournalLine).values([
        {"entry_id": entry.id, "account_code": line.account, "loan_id": line.loan_id,
         "debit": line.debit, "credit": line.credit} for line in kept
    ]))
    return entry


def reverse(session: Session, entry_id: int, *, business_date: dt.date, memo: str) -> JournalEntry:
    """Post the mirror image of entry ``entry_id`` (debits become credits); an entry is reversed at most once."""
    original = session.get(JournalEntry, entry_id)
    lines = session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id)).all()
    return post(session, business_date=business_date, kind="reversal", loan_id=original.loan_id, memo=memo,
                reverses_id=entry_id,
                lines=[Line(line.account_code, debit=line.credit, credit=line.debit, loan_id=line.loan_id)
                       for line in lines])


@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    name_en: str
    name_zh: str
    kind: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Balance on the account's own side is not stored here; debit - credit, signed."""
        return self.debit - self.credit


def trial_balance(session: Session, *, as_of: dt.date | None = None) -> list[TrialBalanceRow]:
    """Total debits and credits per account (up to ``as_of`` inclusive)."""
    rows = session.execute(text("""
        SELECT a.code, a.name_en, a.name_zh, a.kind,
               coalesce(sum(l.debit), 0) AS debit, coalesce(sum(l.credit), 0) AS credit
        FROM gl_account a
        LEFT JOIN journal_line l ON l.account_code = a.code
        LEFT JOIN journal_entry e ON e.id = l.entry_id
        WHERE l.id IS NULL OR CAST(:as_of AS date) IS NULL OR e.business_date <= :as_of
        GROUP BY a.code ORDER BY a.code"""), {"as_of": as_of}).all()
    return [TrialBalanceRow(*row) for row in rows]


#: Per loan: what each account's balance must be, from the loan's own columns and schedule.
_SUBLEDGER_SQL = """
WITH gl AS (
    SELECT loan_id,
           sum(CASE WHEN account_code = '1301' THEN debit - credit ELSE 0 END) AS principal,
           sum(CASE WHEN account_code = '1302' THEN debit - credit ELSE 0 END) AS interest,
           sum(CASE WHEN account_code = '1303' THEN debit - credit ELSE 0 END) AS penalty,
           sum(CASE WHEN account_code = '9101' THEN debit - credit ELSE 0 END) AS suspended
    FROM journal_line WHERE loan_id IS NOT NULL GROUP BY loan_id
), sched AS (
    SELECT i.loan_id, sum(i.interest_accrued - i.interest_paid) AS interest
    FROM loan_installment i JOIN loan_account a ON a.id = i.loan_id AND a.schedule_version = i.version
    GROUP BY i.loan_id
)
SELECT a.id, a.reference,
       a.principal_outstanding, coalesce(gl.principal, 0),
       a.interest_receivable + coalesce(sched.interest, 0) - a.interest_suspended, coalesce(gl.interest, 0),
       a.penalty_receivable, coalesce(gl.penalty, 0),
       a.interest_suspended, coalesce(gl.suspended, 0)
FROM loan_account a LEFT JOIN gl ON gl.loan_id = a.id LEFT JOIN sched ON sched.loan_id = a.id
WHERE a.state <> 'written_off' AND (
      a.principal_outstanding <> coalesce(gl.principal, 0)
   OR a.interest_receivable + coalesce(sched.interest, 0) - a.interest_suspended <> coalesce(gl.interest, 0)
   OR a.penalty_receivable <> coalesce(gl.penalty, 0)
   OR a.interest_suspended <> coalesce(gl.suspended, 0))
LIMIT 20
"""


def problems(session: Session) -> list[str]:
    """Everything wrong with the books, as sentences; empty when all is well."""
    found: list[str] = []
    for entry_id, diff, n in session.execute(text("""
            SELECT e.id, coalesce(sum(l.debit - l.credit), 0), count(l.id)
            FROM journal_entry e LEFT JOIN journal_line l ON l.entry_id = e.id
            GROUP BY e.id HAVING coalesce(sum(l.debit - l.credit), 0) <> 0 OR count(l.id) = 0 LIMIT 20""")):
        found.append(f"journal entry {entry_id} is unbalanced by {diff} ({n} lines)")
    debit, credit = session.execute(text("SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0) "
                                         "FROM journal_line")).one()
    if debit != credit:
        found.append(f"trial balance: debits {debit} != credits {credit}")
    for row in session.execute(text(_SUBLEDGER_SQL)):
        (loan_id, reference, p_sub, p_gl, i_sub, i_gl, pen_sub, pen_gl, s_sub, s_gl) = row
        found.append(f"loan {reference} (id {loan_id}): sub-ledger principal {p_sub} / interest {i_sub} / penalty "
                     f"{pen_sub} / suspended {s_sub} but ledger {p_gl} / {i_gl} / {pen_gl} / {s_gl}")
    for loan_id, reference in session.execute(text("""
            SELECT id, reference FROM loan_account
            WHERE principal_outstanding < 0 OR penalty_receivable < 0 OR interest_receivable < 0 LIMIT 20""")):
        found.append(f"loan {reference} (id {loan_id}) has a negative balance")
    return found


def check(session: Session) -> None:
    """Raise :class:`LedgerOutOfBalance` listing every problem, if there is any."""
    found = problems(session)
    if found:
        raise LedgerOutOfBalance("the ledger does not balance:\n  " + "\n  ".join(found))
