"""The ledger: balanced entries enforced by the database, append-only, trial balance and the loud check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from creditfactory.db import SystemContext
from creditfactory.lending.ledger import accounts as acc
from creditfactory.lending.ledger import services as ledger

from servicing_helpers import open_standard

D = Decimal


@pytest.fixture
def books(tenant_db, tenant_a):
    with SystemContext("test: servicing"):
        session = tenant_db(tenant_a)
        ledger.ensure_chart(session)
        yield session


def test_posting_balanced_entry_and_trial_balance(books):
    ledger.post(books, business_date=dt.date(2026, 1, 1), kind="test",
                lines=[ledger.Line(acc.CASH, debit=D("10.00")), ledger.Line(acc.INTEREST_INCOME, credit=D("10.00"))])
    books.flush()
    rows = {r.code: r for r in ledger.trial_balance(books)}
    assert sum(r.debit for r in rows.values()) == sum(r.credit for r in rows.values())
    assert ledger.problems(books) == []


def test_unbalanced_entry_refused_by_service(books):
    with pytest.raises(ledger.LedgerError):
        ledger.post(books, business_date=dt.date(2026, 1, 1), kind="test",
                    lines=[ledger.Line(acc.CASH, debit=D("10.00")), ledger.Line(acc.INTEREST_INCOME, credit=D("9.99"))])


def test_database_refuses_unbalanced_lines_and_changes(books):
    entry_id = books.execute(text("INSERT INTO journal_entry (business_date, kind, memo) "
                                  "VALUES ('2026-01-01', 'test', '') RETURNING id")).scalar()
    with pytest.raises(DBAPIError, match="unbalanced journal entry"), books.begin_nested():
        books.execute(text("INSERT INTO journal_line (entry_id, account_code, debit, credit) VALUES "
                           "(:e, '1001', 5, 0), (:e, '5011', 0, 4)"), {"e": entry_id})
    with pytest.raises(DBAPIError, match="has no lines"), books.begin_nested():
        books.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    books.execute(text("INSERT INTO journal_line (entry_id, account_code, debit, credit) VALUES "
                       "(:e, '1001', 5, 0), (:e, '5011', 0, 5)"), {"e": entry_id})
    with pytest.raises(DBAPIError, match="append-only"), books.begin_nested():
        books.execute(text("UPDATE journal_line SET debit = 6 WHERE entry_id = :e AND debit = 5"), {"e": entry_id})
    with pytest.raises(DBAPIError, match="append-only"), books.begin_nested():
        books.execute(text("DELETE FROM journal_entry WHERE id = :e"), {"e": entry_id})


def test_check_fails_loudly_when_a_loan_disagrees_with_the_ledger(books):
    loan = open_standard(books)
    books.flush()
    ledger.check(books)
    books.execute(text("UPDATE loan_account SET principal_outstanding = principal_outstanding - 1 WHERE id = :l"),
                  {"l": loan.id})
    with pytest.raises(ledger.LedgerOutOfBalance, match="L-0001"):
        ledger.check(books)
