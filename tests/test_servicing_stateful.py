"""Property-based, stateful: random disbursements, repayments, reversals and COB days keep the books right."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select, text

from creditfactory.db import SystemContext, engine_for, tenant_session
from creditfactory.errors import DomainError
from creditfactory.lending.cob import services as cob
from creditfactory.lending.cob.dates import business_date, set_business_date
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.loans import services as loans
from creditfactory.lending.loans.models import LoanTransaction

from servicing_helpers import customer


@pytest.fixture(scope="module")
def stateful_tenant(tenant_factory):
    return tenant_factory()


def test_random_servicing_keeps_the_books(stateful_tenant, cf_settings):
    tenant = stateful_tenant

    class Servicing(RuleBasedStateMachine):
        loans_ = Bundle("loans")
        postings = Bundle("postings")

        def __init__(self):
            super().__init__()
            self.system = SystemContext("test: stateful")
            self.system.__enter__()
            self.conn = engine_for(tenant.cluster).connect()
            self.outer = self.conn.begin()
            self.session = tenant_session(tenant, bind=self.conn)
            set_business_date(self.session, dt.date(2026, 3, 1))
            self.customer_id = customer(self.session).id
            self.keys: list[tuple[str, int]] = []

        def teardown(self):
            self.session.close()
            self.outer.rollback()
            self.conn.close()
            self.system.__exit__(None, None, None)

        @rule(target=loans_, principal=st.integers(1, 500).map(lambda x: Decimal(x * 100)),
              periods=st.integers(1, 4), rate=st.sampled_from(["0.06", "0.12", "0.2"]))
        def disburse(self, principal, periods, rate):
            day = business_date(self.session)
            share = (principal / periods).quantize(Decimal("0.01"))
            rows = []
            for k in range(1, periods + 1):
                p = share if k < periods else principal - share * (periods - 1)
                interest = ((principal - share * (k - 1)) * Decimal(rate) / 12).quantize(Decimal("0.01"))
                rows.append({"due_date": day + dt.timedelta(days=30 * k), "principal": p, "interest": interest})
            loan = loans.open_loan(self.session, reference=f"P-{uuid.uuid4().hex[:10]}", customer_id=self.customer_id,
                                   principal=principal, annual_rate=Decimal(rate), installments=rows)
            return loan.id

        @rule(target=postings, loan_id=loans_, cents=st.integers(1, 3_000_000), retry=st.booleans())
        def repay(self, loan_id, cents, retry):
            key = f"k-{uuid.uuid4()}"
            amount = Decimal(cents) / 100
            try:
                txn, replayed = loans.post_repayment(self.session, loan_id, amount, idempotency_key=key)
            except DomainError:
                return -1
            assert not replayed
            if retry:
                again, replayed = loans.post_repayment(self.session, loan_id, amount, idempotency_key=key)
                assert replayed and again.id == txn.id
            self.keys.append((key, txn.id))
            return txn.id

        @rule(loan_id=loans_)
        def pay_off(self, loan_id):
            try:
                quote = loans.payoff_quote(self.session, loan_id)
                loans.post_repayment(self.session, loan_id, quote.total, idempotency_key=f"k-{uuid.uuid4()}",
                                     payoff=True)
            except DomainError:
                pass

        @rule(txn_id=postings)
        def reverse(self, txn_id):
            if txn_id < 0:
                return
            try:
                loans.reverse_transaction(self.session, txn_id, reason="random reversal")
            except DomainError:
                pass

        @rule(days=st.integers(1, 8))
        def close_days(self, days):
            self.session.flush()
            for _ in range(days):
                cob.close_day(tenant, bind=self.session.connection())
            self.session.expire_all()

        @invariant()
        def books_balance_and_nothing_negative(self):
            self.session.flush()
            assert ledger.problems(self.session) == []
            negatives = self.session.execute(text(
                "SELECT count(*) FROM loan_installment WHERE principal_paid < 0 OR interest_paid < 0 "
                "OR interest_accrued < 0 OR principal_paid > principal_due OR interest_paid > interest_accrued"
            )).scalar()
            assert negatives == 0

        @invariant()
        def no_posting_duplicated(self):
            per_key = self.session.execute(text(
                "SELECT count(*) FROM (SELECT idempotency_key FROM loan_transaction WHERE idempotency_key IS NOT NULL "
                "GROUP BY idempotency_key HAVING count(*) > 1) d")).scalar()
            assert per_key == 0
            entries = self.session.execute(text(
                "SELECT count(*) FROM (SELECT entry_id FROM loan_transaction GROUP BY entry_id HAVING count(*) > 1) d"
            )).scalar()
            assert entries == 0

    run = settings(max_examples=8, stateful_step_count=12, deadline=None,
                   suppress_health_check=list(HealthCheck))(Servicing).TestCase
    run().runTest()
