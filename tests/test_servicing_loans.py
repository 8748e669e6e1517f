"""Loan accounts, repayments and COB with hand-computed figures (see servicing_helpers.SCHEDULE)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from creditfactory.db import SystemContext, tenant_session
from creditfactory.errors import Conflict
from creditfactory.lending.cob import services as cob
from creditfactory.lending.cob.dates import business_date
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.loans import services as loans
from creditfactory.lending.loans.models import Installment, LoanEvent, LoanTransaction

from servicing_helpers import START, close_days, customer, open_standard

D = Decimal


@pytest.fixture
def session(tenant_db, tenant_a):
    with SystemContext("test: servicing"):
        yield tenant_db(tenant_a)


def installments(session, loan):
    return session.scalars(select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq)).all()


def test_open_loan_posts_disbursement_and_schedule(session):
    loan = open_standard(session)
    assert loan.state == "active" and loan.principal_outstanding == D("12000.00")
    assert [i.interest_due for i in installments(session, loan)] == [D("120.00"), D("80.00"), D("40.00")]
    assert ledger.problems(session) == []


def test_schedule_must_repay_the_principal(session):
    with pytest.raises(loans.LoanError, match="repays"):
        loans.open_loan(session, reference="bad", customer_id=customer(session).id, principal="100.00",
                        annual_rate="0.1", installments=[{"due_date": dt.date(2099, 1, 1), "principal": "99.00",
                                                          "interest": "1.00"}])


def test_daily_accrual_adds_up_to_the_schedule_interest(session):
    loan = open_standard(session)
    close_days(session, 10)
    # 120.00 over the 30 days (01-01, 01-31]: 4.00 a day; closing 01-01 .. 01-10 accrues 01-02 .. 01-10.
    assert installments(session, loan)[0].interest_accrued == D("36.00")
    assert loans.payoff_quote(session, loan.id).total == D("12036.00")
    close_days(session, 21)
    first = installments(session, loan)[0]
    assert first.interest_accrued == D("120.00") and first.status == "overdue"
    session.refresh(loan)
    assert loan.state == "overdue" and loan.dpd == 1
    assert business_date(session) == dt.date(2026, 1, 31) + dt.timedelta(days=1)
    assert ledger.problems(session) == []


def test_allocation_order_penalty_and_cure(session):
    loan = open_standard(session)
    close_days(session, 31)  # closes 2026-01-31: instalment 1 (4,120.00) unpaid -> overdue, DPD 1 on 02-01
    txn, replayed = loans.post_repayment(session, loan.id, "2000.00", idempotency_key=f"k-{uuid.uuid4()}")
    assert not replayed
    # overdue interest first (120.00), then overdue principal (1,880.00)
    assert (txn.penalty, txn.interest, txn.principal) == (D("0.00"), D("120.00"), D("1880.00"))
    close_days(session, 1)  # closes 02-01: penalty on 2,120.00 overdue principal at 18%/360 = 1.06
    session.refresh(loan)
    assert loan.penalty_receivable == D("1.06") and loan.dpd == 2
    txn, _ = loans.post_repayment(session, loan.id, "2121.06", idempotency_key=f"k-{uuid.uuid4()}")
    assert (txn.penalty, txn.interest, txn.principal) == (D("1.06"), D("0.00"), D("2120.00"))
    session.refresh(loan)
    assert loan.state == "active" and loan.dpd == 0
    events = session.scalars(select(LoanEvent.to_state).where(LoanEvent.loan_id == loan.id)
                             .order_by(LoanEvent.id)).all()
    assert events == ["overdue", "active"]
    assert ledger.problems(session) == []


def test_paying_an_instalment_early_pays_its_whole_interest(session):
    loan = open_standard(session)
    close_days(session, 28)  # 01-02 .. 01-28 accrued: 108.00
    txn, _ = loans.post_repayment(session, loan.id, "4120.00", idempotency_key=f"k-{uuid.uuid4()}")
    assert (txn.interest, txn.principal) == (D("120.00"), D("4000.00"))
    assert installments(session, loan)[0].status == "paid"
    close_days(session, 5)
    session.refresh(loan)
    assert loan.state == "active" and loan.dpd == 0
    assert installments(session, loan)[0].interest_accrued == D("120.00")
    assert ledger.problems(session) == []


def test_idempotency_key_replays_and_refuses_another_request(session):
    loan = open_standard(session)
    key = f"k-{uuid.uuid4()}"
    first, replayed1 = loans.post_repayment(session, loan.id, "100.00", idempotency_key=key)
    second, replayed2 = loans.post_repayment(session, loan.id, "100.00", idempotency_key=key)
    assert first.id == second.id and (replayed1, replayed2) == (False, True)
    with pytest.raises(Conflict):
        loans.post_repayment(session, loan.id, "200.00", idempotency_key=key)
    assert session.scalar(select(func.count()).select_from(LoanTransaction)
                          .where(LoanTransaction.loan_id == loan.id, LoanTransaction.kind == "repayment")) == 1


def test_overpayment_refused(session):
    loan = open_standard(session)
    with pytest.raises(loans.LoanError, match="exceeds"):
        loans.post_repayment(session, loan.id, "12120.01", idempotency_key=f"k-{uuid.uuid4()}")


def test_reversal_restores_balances_once(session):
    loan = open_standard(session)
    close_days(session, 31)
    txn, _ = loans.post_repayment(session, loan.id, "4120.00", idempotency_key=f"k-{uuid.uuid4()}")
    session.refresh(loan)
    assert loan.state == "active"
    loans.reverse_transaction(session, txn.id, reason="bounced transfer")
    session.refresh(loan)
    assert loan.state == "overdue" and loan.principal_outstanding == D("12000.00")
    assert installments(session, loan)[0].status == "overdue"
    with pytest.raises(Conflict):
        loans.reverse_transaction(session, txn.id, reason="again")
    assert ledger.problems(session) == []


def test_payoff_settles_and_reversal_reopens(session):
    loan = open_standard(session)
    close_days(session, 46)  # to 02-15: inst 1 overdue since 01-31; inst 2 accrued 15 of 30 days of 80.00 = 40.00
    quote = loans.payoff_quote(session, loan.id)
    assert quote.interest == D("160.00") and quote.principal == D("12000.00") and quote.penalty > 0
    with pytest.raises(loans.LoanError, match="payoff today"):
        loans.post_repayment(session, loan.id, "1.00", idempotency_key=f"k-{uuid.uuid4()}", payoff=True)
    txn, _ = loans.post_repayment(session, loan.id, quote.total, idempotency_key=f"k-{uuid.uuid4()}", payoff=True)
    session.refresh(loan)
    assert loan.state == "settled" and loan.principal_outstanding == 0
    close_days(session, 2)  # nothing accrues on a settled loan
    assert ledger.problems(session) == []
    loans.reverse_transaction(session, txn.id, reason="payment recalled")
    session.refresh(loan)
    assert loan.state == "overdue"
    assert ledger.problems(session) == []


def test_revolving_line_daily_interest_and_limit(session):
    from creditfactory.lending.cob.dates import set_business_date

    set_business_date(session, START)
    line = loans.open_credit_line(session, reference="R-1", customer_id=customer(session).id,
                                  credit_limit="50000.00", annual_rate=D("0.072"), expires_on=dt.date(2027, 1, 1))
    loans.draw(session, line.id, "36000.00", idempotency_key=f"k-{uuid.uuid4()}")
    with pytest.raises(loans.LoanError, match="available"):
        loans.draw(session, line.id, "14000.01", idempotency_key=f"k-{uuid.uuid4()}")
    close_days(session, 3)  # 36,000.00 x 7.2% / 360 = 7.20 a day
    session.refresh(line)
    assert line.interest_receivable == D("21.60")
    txn, _ = loans.post_repayment(session, line.id, "10021.60", idempotency_key=f"k-{uuid.uuid4()}")
    assert (txn.interest, txn.principal) == (D("21.60"), D("10000.00"))
    loans.draw(session, line.id, "24000.00", idempotency_key=f"k-{uuid.uuid4()}")  # limit restored
    assert ledger.problems(session) == []


def test_cob_resumes_after_a_kill_without_double_accrual(session):
    a = open_standard(session, "L-A")
    b = open_standard(session, "L-B", customer_id=a.customer_id)
    close_days(session, 30)

    def killed(step):
        if step == "penalty":
            raise cob.CobInterrupted(step)

    with pytest.raises(cob.CobInterrupted):
        close_days(session, 1, after_step=killed)
    results = close_days(session, 1)
    assert results[0].steps_skipped == ["accrue", "penalty"]
    assert [i.interest_accrued for i in installments(session, a)] == [i.interest_accrued for i in installments(session, b)]
    assert installments(session, a)[0].interest_accrued == D("120.00")
    # The same date again changes nothing.
    before = session.scalar(text("SELECT count(*) FROM journal_line"))
    assert cob.close_day(session.tenant, bind=session.connection(), expected=dt.date(2026, 1, 31)) is None
    assert session.scalar(text("SELECT count(*) FROM journal_line")) == before
    assert ledger.problems(session) == []


def test_concurrent_retries_post_once(tenant_factory):
    tenant = tenant_factory()
    with SystemContext("test: servicing"):
        with tenant_session(tenant) as s, s.begin():
            loan_id = open_standard(s).id
        key = f"k-{uuid.uuid4()}"
        barrier = threading.Barrier(6)
        results, errors = [], []

        def post():
            with SystemContext("test: retry"):
                try:
                    barrier.wait()
                    with tenant_session(tenant) as s, s.begin():
                        txn, replayed = loans.post_repayment(s, loan_id, "500.00", idempotency_key=key)
                        results.append((txn.id, replayed))
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

        threads = [threading.Thread(target=post) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len({txn_id for txn_id, _ in results}) == 1
        assert sorted(replayed for _, replayed in results) == [False] + [True] * 5
        with tenant_session(tenant) as s, s.begin():
            assert s.scalar(select(func.count()).select_from(LoanTransaction)
                            .where(LoanTransaction.kind == "repayment")) == 1
            assert ledger.problems(s) == []
