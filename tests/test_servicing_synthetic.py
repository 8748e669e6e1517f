"""The benchmark's synthetic portfolio is consistent before and after a COB day (so the figure measures real work)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from creditfactory.bench import BENCHES
from creditfactory.db import SystemContext
from creditfactory.lending.cob import synthetic
from creditfactory.lending.cob.dates import business_date
from creditfactory.lending.ledger import services as ledger

from servicing_helpers import close_days


def test_synthetic_portfolio_closes_a_day_with_balanced_books(tenant_db, tenant_factory):
    tenant = tenant_factory()
    with SystemContext("test: synthetic"):
        session = tenant_db(tenant)
        synthetic.build(session, loans=400, business_date=dt.date(2026, 11, 28))
        assert ledger.problems(session) == []
        overdue = session.execute(text("SELECT count(*) FROM loan_account WHERE state = 'overdue'")).scalar()
        # every 20th loan, unless its first instalment is not due yet
        assert overdue == session.execute(text(
            "SELECT count(*) FROM loan_account WHERE id % 20 = 0 AND disbursed_on + interval '1 month' < '2026-11-28'"
        )).scalar() > 0
        [result] = close_days(session, 1)
        assert result.steps_run == ["accrue", "penalty", "mark_due", "dpd", "classify", "provision", "advance"]
        assert business_date(session) == dt.date(2026, 11, 29)
        assert ledger.problems(session) == []
        accrued = session.execute(text("SELECT count(*) FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id "
                                       "WHERE e.kind = 'accrual' AND l.loan_id IS NOT NULL")).scalar()
        # every loan in a running period accrues one day (one disbursed today starts tomorrow)
        assert accrued == session.execute(text(
            "SELECT count(*) FROM loan_account WHERE disbursed_on < '2026-11-28' AND maturity_date >= '2026-11-28'"
        )).scalar()
    assert "cob" in BENCHES
