"""The rest of the life cycle on the back-office pages (Flask client): prepayment, reversal with a reason,
restructuring to a new schedule version, the classification review queue (confirm a downgrade, request an upgrade
that a second person approves), a waiver and a write-off each approved by a second person, litigation."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from creditfactory.db import SystemContext, tenant_session
from creditfactory.lending.cob import services as cob
from creditfactory.lending.loans.models import Installment, LoanAccount, LoanTransaction

from servicing_helpers import open_standard
from creditfactory.testing.staff import csrf_token
from test_products_api import HTML, log_in_person

D = Decimal


@pytest.fixture
def bank(tenant_factory):
    return tenant_factory(name_en="Life Cycle Village Bank")


def open_loan(bank, *, close: int = 0) -> str:
    reference = f"L-{uuid.uuid4().hex[:8]}"
    with SystemContext("test: life cycle pages"), tenant_session(bank) as db, db.begin():
        open_standard(db, reference)
    for _ in range(close):
        cob.close_day(bank)
    return reference


def open_monthly(bank, *, close: int) -> str:
    """12,000.00 at 12% in three monthly instalments from 2026-01-01 (the calculator's equal principal): a
    prepayment re-schedules monthly loans only. The first period's interest is 12,000 x 12% x 31/360 = 124.00."""
    import datetime as dt

    from creditfactory.lending.calc.schedule import Method, ScheduleTerms, build_schedule
    from creditfactory.lending.loans import services as loans

    reference = f"M-{uuid.uuid4().hex[:8]}"
    schedule = build_schedule(ScheduleTerms(method=Method.EQUAL_PRINCIPAL, principal=D("12000.00"),
                                            annual_rate=D("0.12"), months=3, start=dt.date(2026, 1, 1)))
    with SystemContext("test: life cycle pages"), tenant_session(bank) as db, db.begin():
        customer_id = open_standard(db, f"{reference}-0").customer_id
        loans.open_loan(db, reference=reference, customer_id=customer_id, principal="12000.00",
                        annual_rate=D("0.12"), installments=[
                            {"due_date": p.due_date, "principal": p.principal, "interest": p.interest}
                            for p in schedule.periods])
    for _ in range(close):
        cob.close_day(bank)
    return reference


def person(app, bank, make_user, role):
    client = app.test_client()
    log_in_person(client, bank, make_user(role, bank))
    client.get(f"/t/{bank.slug}/lang/en")
    return client


def fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]+)"', page))


def loan_row(bank, reference) -> LoanAccount:
    with tenant_session(bank) as db, db.begin():
        loan = db.scalars(select(LoanAccount).where(LoanAccount.reference == reference)).one()
        db.expunge(loan)
        return loan


def test_prepay_reverse_and_restructure(app, bank, make_user):
    reference = open_monthly(bank, close=10)  # 2026-01-11: inside the first period
    staff = person(app, bank, make_user, "operations")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    assert "Prepayment" in page and "Restructure" in page and "Request a write-off" not in page
    assert "Request an upgrade" not in page  # normal already
    refused = staff.post(f"{url}/prepayments", headers=HTML, data={**fields(page), "amount": "50.00",
                                                                    "mode": "reamortise"})
    assert refused.status_code == 422 and 'role="alert"' in refused.get_data(as_text=True)
    done = staff.post(f"{url}/prepayments", headers=HTML, data={**fields(page), "amount": "3124.00",
                                                                 "mode": "shorten_term"})
    assert done.status_code == 302 and "done=prepaid" in done.headers["Location"], done.get_data(as_text=True)
    again = staff.post(f"{url}/prepayments", headers=HTML, data={**fields(page), "amount": "3124.00",
                                                                  "mode": "shorten_term"})
    assert again.status_code == 302  # the same form again: replayed, no second prepayment
    loan = loan_row(bank, reference)
    with tenant_session(bank) as db, db.begin():
        prepaid = db.scalars(select(LoanTransaction).where(LoanTransaction.loan_id == loan.id,
                                                           LoanTransaction.kind == "repayment")).one()
        assert prepaid.amount == prepaid.interest + prepaid.principal == D("3124.00")
    assert loan.schedule_version == 2 and loan.principal_outstanding == D("12000.00") - prepaid.principal
    page = staff.get(done.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "Prepayment posted" in page and "Version 2" in page

    # A reversal needs a reason; a repayment of the new schedule can be reversed.
    repaid = staff.post(f"{url}/repayments", headers=HTML, data={**fields(page), "amount": "5.00"})
    assert repaid.status_code == 302
    with tenant_session(bank) as db, db.begin():
        txn = db.scalars(select(LoanTransaction.id).where(LoanTransaction.loan_id == loan.id,
                                                          LoanTransaction.idempotency_key.is_not(None))
                         .order_by(LoanTransaction.id.desc())).first()
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    no_reason = staff.post(f"{url}/reversals", headers=HTML, data={**fields(page), "transaction_id": txn})
    assert no_reason.status_code == 422
    reversed_ = staff.post(f"{url}/reversals", headers=HTML,
                           data={**fields(page), "transaction_id": txn, "reason": "cheque bounced"})
    assert reversed_.status_code == 302 and "done=reversed" in reversed_.headers["Location"]
    assert loan_row(bank, reference).principal_outstanding == D("12000.00") - prepaid.principal

    # Restructuring: new terms for the outstanding principal make a new version; the old one is kept.
    fresh = open_loan(bank)
    furl = f"/t/{bank.slug}/back-office/loans/{fresh}"
    page = staff.get(furl, headers=HTML).get_data(as_text=True)
    no_terms = staff.post(f"{furl}/restructuring", headers=HTML, data={**fields(page), "reason": "drought"})
    assert no_terms.status_code == 422
    made = staff.post(f"{furl}/restructuring", headers=HTML,
                      data={**fields(page), "months": "12", "method": "equal_principal", "reason": "drought",
                            "financial_difficulty": "1"})
    assert made.status_code == 302, made.get_data(as_text=True)
    restructured = loan_row(bank, fresh)
    assert (restructured.state, restructured.schedule_version) == ("restructured", 2)
    with tenant_session(bank) as db, db.begin():
        versions = db.execute(select(Installment.version, Installment.status).where(
            Installment.loan_id == restructured.id)).all()
    assert {s for v, s in versions if v == 1} == {"superseded"} and sum(v == 2 for v, _ in versions) == 12


def test_review_queue_waiver_write_off_and_upgrade(app, bank, make_user):
    overdue = open_loan(bank)
    litigated = open_loan(bank, close=33)  # 2026-02-03: both overdue since 01-31, downgrades proposed
    staff = person(app, bank, make_user, "operations")
    checker = person(app, bank, make_user, "risk_manager")
    queue_url = f"/t/{bank.slug}/back-office/classification-reviews"
    queue = staff.get(queue_url, headers=HTML).get_data(as_text=True)
    event_id = int(re.search(rf'id="review-(\d+)" data-loan="{overdue}"', queue)[1])
    assert "Confirm downgrade" in queue and "Days past due" in queue
    csrf = fields(queue)["csrf_token"]
    # The risk manager lacks loan.service: a downgrade is not theirs to confirm.
    assert checker.post(f"{queue_url}/{event_id}", headers=HTML,
                        data={"csrf_token": csrf_token(checker, f"/t/{bank.slug}/account/password"),
                              "decision": "confirm"}).status_code == 403
    confirmed = staff.post(f"{queue_url}/{event_id}", headers=HTML, data={"csrf_token": csrf, "decision": "confirm"})
    assert confirmed.status_code == 302 and loan_row(bank, overdue).risk_class == "special_mention"

    # A waiver: requested by one person, applied only when a second approves it on the loan page.
    url = f"/t/{bank.slug}/back-office/loans/{overdue}"
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    penalty = loan_row(bank, overdue).penalty_receivable
    asked = staff.post(f"{url}/waivers", headers=HTML, data={**fields(page), "penalty": str(penalty),
                                                              "reason": "hail damage"})
    assert asked.status_code == 302 and "done=waiver_requested" in asked.headers["Location"]
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    change_id = int(re.search(r'data-change="(\d+)"', page)[1])
    assert f"changes/{change_id}" not in page  # the maker sees the request, not the decision buttons
    assert loan_row(bank, overdue).penalty_receivable == penalty
    seen = checker.get(url, headers=HTML).get_data(as_text=True)
    approved = checker.post(f"{url}/changes/{change_id}", headers=HTML,
                            data={**fields(seen), "decision": "approve"})
    assert approved.status_code == 302 and "done=approved" in approved.headers["Location"]
    assert loan_row(bank, overdue).penalty_receivable == D("0.00")

    # An upgrade: requested on the loan page, approved by the second person in the queue once the rules allow.
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    staff.post(f"{url}/repayments", headers=HTML, data={**fields(page), "amount": "4120.00"})
    page = staff.get(url, headers=HTML).get_data(as_text=True)
    assert loan_row(bank, overdue).dpd == 0 and "Request an upgrade" in page
    requested = staff.post(f"{url}/upgrade-requests", headers=HTML,
                           data={**fields(page), "to_class": "normal", "reason": "harvest sold",
                                 "evidence": "receipt R-17"})
    assert requested.status_code == 302, requested.get_data(as_text=True)
    queue = checker.get(queue_url, headers=HTML).get_data(as_text=True)
    upgrade_id = int(re.search(rf'id="review-(\d+)" data-loan="{overdue}"', queue)[1])
    assert "Approve upgrade" in queue and "receipt R-17" in queue
    mine = staff.post(f"{queue_url}/{upgrade_id}", headers=HTML, data={"csrf_token": csrf, "decision": "confirm"})
    assert mine.status_code == 403  # the maker never approves their own request
    done = checker.post(f"{queue_url}/{upgrade_id}", headers=HTML,
                        data={**fields(queue), "decision": "confirm"})
    assert done.status_code == 302 and loan_row(bank, overdue).risk_class == "normal"

    # Litigation, then a write-off that a second person approves.
    lurl = f"/t/{bank.slug}/back-office/loans/{litigated}"
    page = staff.get(lurl, headers=HTML).get_data(as_text=True)
    assert "Move to litigation" in page and "Request a write-off" in page
    moved = staff.post(f"{lurl}/litigation", headers=HTML, data={**fields(page), "reason": "county court"})
    assert moved.status_code == 302 and loan_row(bank, litigated).state == "in_litigation"
    page = staff.get(lurl, headers=HTML).get_data(as_text=True)
    asked = staff.post(f"{lurl}/write-off", headers=HTML, data={**fields(page), "reason": "no assets"})
    assert asked.status_code == 302
    seen = checker.get(lurl, headers=HTML).get_data(as_text=True)
    change_id = int(re.search(r'data-change="(\d+)"', seen)[1])
    rejected = checker.post(f"{lurl}/changes/{change_id}", headers=HTML, data={**fields(seen), "decision": "reject"})
    assert rejected.status_code == 422  # a rejection needs a reason
    approved = checker.post(f"{lurl}/changes/{change_id}", headers=HTML,
                            data={**fields(seen), "decision": "approve"})
    assert approved.status_code == 302 and loan_row(bank, litigated).state == "written_off"
    page = staff.get(lurl, headers=HTML).get_data(as_text=True)
    assert "Written off" in page and "Servicing" not in page


def test_actions_need_their_permissions(app, bank, make_user):
    reference = open_loan(bank)
    officer = person(app, bank, make_user, "loan_officer")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    page = officer.get(url, headers=HTML).get_data(as_text=True)
    assert "Restructure" not in page
    csrf = csrf_token(officer, f"/t/{bank.slug}/account/password")
    for tail, data in (("restructuring", {"months": "6", "reason": "x"}), ("write-off", {"reason": "x"}),
                       ("waivers", {"penalty": "1.00", "reason": "x"}), ("changes/1", {"decision": "approve"})):
        assert officer.post(f"{url}/{tail}", headers=HTML, data={"csrf_token": csrf, **data}).status_code == 403
    assert loan_row(bank, reference).schedule_version == 1
