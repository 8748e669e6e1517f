"""Collections, post-loan inspections and prepayment with hand-computed figures (servicing_helpers.SCHEDULE)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from creditfactory.db import CurrentTenant, SystemContext
from creditfactory.errors import Conflict
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.lending.classification.models import ClassificationEvent
from creditfactory.lending.collections import services as collections
from creditfactory.lending.collections.models import CollectionCase, Inspection, PromiseToPay, Reminder
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.loans import prepayment, services as loans
from creditfactory.lending.loans.models import Installment

from servicing_helpers import close_days, customer, open_standard

D = Decimal
ALL = (Permission.COLLECTION_MANAGE, Permission.LOAN_SERVICE, Permission.LOAN_READ)


@contextlib.contextmanager
def acting(tenant, *perms, user_id=41, name="collector1"):
    principal = Principal(user_id=user_id, username=name, context=Context.TENANT, tenant_slug=tenant.slug,
                          permissions=frozenset(perms or ALL), roles=frozenset())
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal):
        yield


@pytest.fixture
def session(tenant_db, tenant_a):
    with SystemContext("test: collections"):
        yield tenant_db(tenant_a)


def overdue_loan(session, reference="C-1", days=31):
    """12,000.00 opened 2026-01-01; after 31 closes (01-01..01-31) the first instalment (4,000 + 120) is 1 day
    past due on business date 02-01."""
    loan = open_standard(session, reference)
    close_days(session, days)
    session.refresh(loan)
    return loan


def case_of(session, loan):
    return session.scalars(select(CollectionCase).where(CollectionCase.loan_id == loan.id)
                           .order_by(CollectionCase.id.desc())).first()


def test_review_opens_a_case_by_dpd_and_is_idempotent(session, tenant_a):
    loan = overdue_loan(session)
    assert loan.dpd == 1
    with acting(tenant_a):
        first = collections.review(session)
        again = collections.review(session)
        assert (first.business_date, again.cases_opened) == (dt.date(2026, 1, 31), 0)
        [row] = [r for r in collections.work_list(session) if r["loan_id"] == loan.id]
    assert (row["reference"], row["stage"], row["dpd"]) == ("C-1", "early", 1)
    assert (row["arrear_principal"], row["arrear_interest"]) == (D("4000.00"), D("120.00"))
    assert row["next_actions"] == ["call", "visit"]


def test_stage_thresholds_are_tenant_parameters(session, tenant_a):
    session.execute(text("INSERT INTO tenant_parameter (key, value) VALUES ('collections.stage.mid_dpd', '0'), "
                         "('collections.actions.mid', '[\"visit\"]')"))
    loan = overdue_loan(session)
    with acting(tenant_a):
        collections.review(session)
        [row] = [r for r in collections.work_list(session) if r["loan_id"] == loan.id]
    assert (row["stage"], row["next_actions"]) == ("mid", ["visit"])


def test_action_promise_kept_closes_the_case(session, tenant_a):
    loan = overdue_loan(session)
    with acting(tenant_a):
        collections.review(session)
        case = case_of(session, loan)
        action = collections.log_action(session, case.id, kind="call", arrear_reason="harvest sold late",
                                        result_note="will pay on Thursday")
        assert (action.dpd, action.arrear_principal, action.arrear_interest) == (1, D("4000.00"), D("120.00"))
        promise = collections.promise(session, case.id, amount="4120.00", promised_date=dt.date(2026, 2, 5))
        with pytest.raises(Conflict):
            collections.promise(session, case.id, amount="1.00", promised_date=dt.date(2026, 2, 6))
        loans.post_repayment(session, loan.id, "4120.00", idempotency_key="ptp-1")
    close_days(session, 1)  # closes 02-01
    with acting(tenant_a):
        result = collections.review(session)
    session.refresh(promise)
    session.refresh(case)
    assert (promise.status, promise.paid, promise.resolved_on) == ("kept", D("4120.00"), dt.date(2026, 2, 1))
    assert (case.status, case.closed_on) == ("closed", dt.date(2026, 2, 1)) and result.cases_closed >= 1
    with acting(tenant_a), pytest.raises(Conflict):
        collections.log_action(session, case.id, kind="call", result_note="too late")


def test_promise_broken_when_the_date_passes_unpaid(session, tenant_a):
    loan = overdue_loan(session)
    with acting(tenant_a):
        collections.review(session)
        case = case_of(session, loan)
        promise = collections.promise(session, case.id, amount="500.00", promised_date=dt.date(2026, 2, 2))
        loans.post_repayment(session, loan.id, "100.00", idempotency_key="ptp-part")
    close_days(session, 2)  # 02-01, 02-02: still within the promise
    with acting(tenant_a):
        collections.review(session)
    session.refresh(promise)
    assert promise.status == "open"
    close_days(session, 1)  # 02-03: the promised date has passed with 100.00 of 500.00 paid
    with acting(tenant_a):
        collections.review(session)
    session.refresh(promise)
    assert (promise.status, promise.paid) == ("broken", D("100.00"))


def test_signed_notice_verifies_and_detects_tampering(session, tenant_a):
    loan = overdue_loan(session)
    with acting(tenant_a):
        collections.review(session)
        case = case_of(session, loan)
        notice = collections.issue_notice(session, case.id, language="zh")
        assert "逾期本金：4000.00 元" in notice.body and "C-1" in notice.body
        assert "合计：4120.00 元" in notice.body
        import hashlib

        assert notice.sha256 == hashlib.sha256(notice.body.encode()).hexdigest()
        assert collections.verify_notice(session, notice)
        with pytest.raises(Exception):
            collections.record_receipt(session, notice.id, signed_on=dt.date(2026, 1, 1))
        collections.record_receipt(session, notice.id, signed_on=dt.date(2026, 2, 1), note="本人签收")
        with pytest.raises(Conflict):
            collections.record_receipt(session, notice.id, signed_on=dt.date(2026, 2, 1))
        detail = collections.case_detail(session, case.id)
        assert [a.kind for a in detail["actions"]] == ["notice"]
        notice.body = notice.body.replace("4000.00", "400.00")
        assert not collections.verify_notice(session, notice)


def test_assignment_needs_a_user_of_this_bank(session, tenant_a, make_user):
    loan = overdue_loan(session)
    username = make_user("loan_officer", tenant_a)
    user_id = session.execute(text("SELECT id FROM cf_shared.user_account WHERE username = :u"),
                              {"u": username}).scalar()
    with acting(tenant_a):
        collections.review(session)
        case = case_of(session, loan)
        with pytest.raises(collections.CollectionError):
            collections.assign(session, case.id, 987654321)
        assert collections.assign(session, case.id, user_id).collector_id == user_id
        assert [r["id"] for r in collections.work_list(session, collector_id=user_id)] == [case.id]
        assert case.id not in [r["id"] for r in collections.work_list(session, unassigned=True)]


def test_collections_need_the_collection_permission(session, tenant_a):
    overdue_loan(session)
    with acting(tenant_a, Permission.LOAN_READ), pytest.raises(AccessDenied):
        collections.work_list(session)


def test_pre_due_reminders_are_queued_once(session, tenant_a):
    loan = open_standard(session, "R-1")
    close_days(session, 27)  # business date 01-28; reviews 01-27 and looks at dues 01-28 .. 01-31
    with acting(tenant_a):
        assert collections.review(session).reminders_queued >= 1
        assert collections.review(session).reminders_queued == 0
    [reminder] = session.scalars(select(Reminder).where(Reminder.loan_id == loan.id)).all()
    assert (reminder.due_date, reminder.amount) == (dt.date(2026, 1, 31), D("4120.00"))


def test_inspections_first_check_outcome_feeds_classification(session, tenant_a):
    loan = open_standard(session, "I-1")
    with acting(tenant_a):
        collections.review(session, dt.date(2026, 1, 1))
        [pending] = [r for r in collections.inspection_list(session) if r["loan_id"] == loan.id]
        assert (pending["type"], pending["due_date"]) == ("first_check", dt.date(2026, 1, 16))
        with pytest.raises(collections.CollectionError):
            collections.record_inspection(session, pending["id"], method="on_site", outcome="risk")
        done = collections.record_inspection(session, pending["id"], method="on_site", outcome="risk",
                                             funds_use_verified=False,
                                             business_status="funds diverted to a relative's house purchase")
        assert done.proposed_risk_class == "substandard"
    session.refresh(loan)
    assert loan.class_floor == "substandard"
    close_days(session, 1)
    event = session.scalars(select(ClassificationEvent).where(ClassificationEvent.loan_id == loan.id)).one()
    assert (event.to_class, event.trigger) == ("substandard", "manual_floor")
    with acting(tenant_a):
        collections.review(session)
        [routine] = [r for r in collections.inspection_list(session) if r["loan_id"] == loan.id]
    # Still classified normal until a reviewer confirms: routine interval 90 days, capped 15 days before maturity.
    assert routine["type"] in ("routine", "pre_maturity")
    assert routine["due_date"] == min(dt.date(2026, 1, 1) + dt.timedelta(days=90), dt.date(2026, 4, 1) - dt.timedelta(days=15))


def test_dpd_triggers_an_inspection(session, tenant_a):
    loan = overdue_loan(session)
    with acting(tenant_a):
        collections.review(session)
    pending = session.scalars(select(Inspection).where(Inspection.loan_id == loan.id)).one()
    # The first check (due 01-16) was never done; the early-warning signal makes it a triggered one (still due
    # 01-16: already late), not a second pending inspection.
    assert (pending.type, pending.due_date, pending.early_warning_hits) == ("triggered", dt.date(2026, 1, 16),
                                                                            ["dpd>0"])


# ----------------------------------------------------------------------------------------------- prepayment
def _open_annuity(session):
    """10,000.00 at 12% over 4 monthly periods from 2026-01-01, built by the calculator (equal instalments)."""
    from creditfactory.lending.calc.schedule import Method, ScheduleTerms, build_schedule
    from creditfactory.lending.cob.dates import set_business_date

    set_business_date(session, dt.date(2026, 1, 1))
    schedule = build_schedule(ScheduleTerms(method=Method.EQUAL_INSTALLMENT, principal=D("10000.00"),
                                            annual_rate=D("0.12"), months=4, start=dt.date(2026, 1, 1)))
    rows = [{"due_date": p.due_date, "principal": p.principal, "interest": p.interest} for p in schedule.periods]
    return loans.open_loan(session, reference="P-1", customer_id=customer(session).id, principal="10000.00",
                           annual_rate=D("0.12"), installments=rows), schedule


def _version(session, loan):
    return session.scalars(select(Installment).where(Installment.loan_id == loan.id,
                                                     Installment.version == loan.schedule_version)
                           .order_by(Installment.seq)).all()


@pytest.mark.parametrize("mode, periods", [("reamortise", 4), ("shorten_term", 3)])
def test_partial_prepayment_reschedules_through_a_new_version(session, tenant_a, mode, periods):
    loan, original = _open_annuity(session)
    close_days(session, 10)  # business date 01-11, inside the first period
    first_interest = original.periods[0].interest
    with acting(tenant_a):
        txn, replayed = prepayment.prepay(session, loan.id, first_interest + D("3000.00"), mode=mode,
                                          idempotency_key=f"pre-{mode}")
        again, replayed_again = prepayment.prepay(session, loan.id, first_interest + D("3000.00"), mode=mode,
                                                  idempotency_key=f"pre-{mode}")
    assert (replayed, replayed_again, again.id) == (False, True, txn.id)
    session.refresh(loan)
    assert loan.schedule_version == 2 and loan.state == "active" and loan.observation_until is None
    assert loan.principal_outstanding == D("7000.00")
    rows = _version(session, loan)
    assert len(rows) == periods
    assert sum(r.principal_due for r in rows) == D("7000.00")
    # The current period's interest was paid in full by the prepayment: the new first instalment has none.
    assert rows[0].interest_due == D("0.00") and rows[0].due_date == original.periods[0].due_date
    assert [r.due_date for r in rows] == [p.due_date for p in original.periods][:periods]
    if mode == "shorten_term":
        assert rows[1].principal_due + rows[1].interest_due <= original.periods[0].total
    else:
        assert rows[1].principal_due + rows[1].interest_due < original.periods[0].total
    assert ledger.problems(session) == []
    with pytest.raises(Conflict):
        loans.reverse_transaction(session, txn.id, reason="bounced")


def test_prepayment_refuses_arrears_and_full_payoff(session, tenant_a):
    loan, original = _open_annuity(session)
    close_days(session, 10)
    with acting(tenant_a), pytest.raises(loans.LoanError, match="payoff"):
        prepayment.prepay(session, loan.id, "20000.00", mode="reamortise", idempotency_key="pre-big")
    close_days(session, 25)
    with acting(tenant_a), pytest.raises(Conflict, match="arrears"):
        prepayment.prepay(session, loan.id, "3000.00", mode="reamortise", idempotency_key="pre-late")
