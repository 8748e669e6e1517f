"""The tenant's general ledger: chart of accounts, journal entries and their lines (append-only).

Balance is enforced by the database itself, twice, so no code path (ORM, raw SQL in the close of business,
a psql session) can leave an unbalanced entry behind:

* ``journal_line_balanced``: a statement-level trigger with a transition table. Every INSERT into
  ``journal_line`` must be balanced per entry *within the statement*; since each statement's share of an
  entry balances, the entry as a whole always balances. Statement-level because the close of business
  inserts a million lines in one statement: one check per statement, not one per line.
* ``journal_entry_complete``: a deferred constraint trigger per entry, checked at COMMIT: the entry has
  lines and they balance. It catches an entry whose lines never came.

Lines and entries are never updated or deleted: a mistake is corrected by a reversing entry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Table, Text,
    event, func, text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import DDL

from ...db import TenantBase

#: Function bodies, kept identical in migration t0150 (tests/test_migrations.py compares them).
LINES_BALANCED_FUNCTION = """\
CREATE OR REPLACE FUNCTION %(schema)s.ledger_lines_balanced() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    bad bigint;
BEGIN
    SELECT entry_id INTO bad FROM new_lines GROUP BY entry_id
    HAVING sum(debit) <> sum(credit) LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unbalanced journal entry ' || bad || ': debits and credits differ',
            ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$body$"""

ENTRY_COMPLETE_FUNCTION = """\
CREATE OR REPLACE FUNCTION %(schema)s.ledger_entry_complete() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    n bigint;
    diff numeric;
BEGIN
    EXECUTE 'SELECT count(*), coalesce(sum(debit - credit), 0) FROM ' || quote_ident(TG_TABLE_SCHEMA)
            || '.journal_line WHERE entry_id = $1' INTO n, diff USING NEW.id;
    IF n = 0 OR diff <> 0 THEN
        RAISE EXCEPTION USING
            MESSAGE = 'journal entry ' || NEW.id || ' has no lines or does not balance at commit',
            ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$body$"""

APPEND_ONLY_FUNCTION = """\
CREATE OR REPLACE FUNCTION %(schema)s.ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'the ledger is append-only (post a reversing entry): ' || TG_OP || ' on ' || TG_TABLE_NAME
                  || ' refused',
        ERRCODE = 'insufficient_privilege';
END
$body$"""


class Account(TenantBase):
    """One account of the chart; ``normal`` is the side that increases it (D for assets and expenses)."""

    __tablename__ = "gl_account"
    __table_args__ = (
        CheckConstraint("normal IN ('D', 'C')", name="normal"),
        CheckConstraint("kind IN ('asset', 'liability', 'income', 'expense', 'off_balance')", name="kind"),
    )

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    normal: Mapped[str] = mapped_column(String(1))


class JournalEntry(TenantBase):
    """One balanced money movement (or one close-of-business step's postings for many loans)."""

    __tablename__ = "journal_entry"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)
    #: What moved: disbursement, repayment, reversal, waiver, accrual, penalty, non_accrual, provision, write_off.
    kind: Mapped[str] = mapped_column(String(30))
    #: The loan, for entries about one loan; NULL for batch entries (their lines name the loans).
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loan_account.id"), nullable=True, index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"), nullable=True, unique=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JournalLine(TenantBase):
    """One side of an entry; exactly one of ``debit`` and ``credit`` is positive."""

    __tablename__ = "journal_line"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0 AND (debit = 0) <> (credit = 0)", name="one_side"),
        Index("ix_journal_line_loan_id_account_code", "loan_id", "account_code"),
        # A loan's lines newest first (API postings, keyset by entry): read backwards, stops after a page.
        # Partial: the pooled income lines of COB batches have no loan and would double the index.
        Index("ix_journal_line_loan_entry", "loan_id", "entry_id", "id", postgresql_where=text("loan_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey(JournalEntry.id), index=True)
    account_code: Mapped[str] = mapped_column(ForeignKey(Account.code))
    #: The loan whose sub-ledger this line belongs to (NULL for pooled income lines of a batch).
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loan_account.id"), nullable=True)
    debit: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0"))
    credit: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0"))


def _guard(table: Table, statements: list[str]) -> None:
    for statement in statements:
        event.listen(table, "after_create", DDL(statement))


_guard(JournalLine.__table__, [
    LINES_BALANCED_FUNCTION,
    APPEND_ONLY_FUNCTION,
    "CREATE TRIGGER journal_line_balanced AFTER INSERT ON %(fullname)s REFERENCING NEW TABLE AS new_lines "
    "FOR EACH STATEMENT EXECUTE FUNCTION %(schema)s.ledger_lines_balanced()",
    "CREATE TRIGGER journal_line_refuse_changes BEFORE UPDATE OR DELETE ON %(fullname)s "
    "FOR EACH ROW EXECUTE FUNCTION %(schema)s.ledger_append_only()",
    "CREATE TRIGGER journal_line_refuse_truncate BEFORE TRUNCATE ON %(fullname)s "
    "FOR EACH STATEMENT EXECUTE FUNCTION %(schema)s.ledger_append_only()",
])
_guard(JournalEntry.__table__, [
    ENTRY_COMPLETE_FUNCTION,
    APPEND_ONLY_FUNCTION,
    "CREATE CONSTRAINT TRIGGER journal_entry_complete AFTER INSERT ON %(fullname)s "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %(schema)s.ledger_entry_complete()",
    "CREATE TRIGGER journal_entry_refuse_changes BEFORE UPDATE OR DELETE ON %(fullname)s "
    "FOR EACH ROW EXECUTE FUNCTION %(schema)s.ledger_append_only()",
    "CREATE TRIGGER journal_entry_refuse_truncate BEFORE TRUNCATE ON %(fullname)s "
    "FOR EACH STATEMENT EXECUTE FUNCTION %(schema)s.ledger_append_only()",
])
