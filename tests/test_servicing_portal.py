"""Back-office servicing pages through the Flask client: the loan view and its paging, the repayment form (a
resubmitted form posts once), collections case work, inspections, and the ten-grade sub-class on the loan page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from creditfactory.db import SystemContext, tenant_session
from creditfactory.lending.cob import services as cob
from creditfactory.lending.collections import services as collections
from creditfactory.lending.collections.models import CollectionAction, CollectionCase, Inspection, PromiseToPay
from creditfactory.lending.loans.models import LoanAccount, LoanTransaction
from creditfactory.testing.staff import HTML, csrf_token, log_in

from servicing_helpers import open_standard


@pytest.fixture
def bank(tenant_factory):
    return tenant_factory(name_en="Servicing Portal Village Bank")


def open_loan(bank, *, close: int = 0) -> str:
    reference = f"L-{uuid.uuid4().hex[:8]}"
    with SystemContext("test: servicing pages"), tenant_session(bank) as db, db.begin():
        open_standard(db, reference)
    for _ in range(close):
        cob.close_day(bank)
    return reference


def staff(app, bank, make_user, role):
    client = app.test_client()
    log_in(client, f"/t/{bank.slug}", make_user(role, bank))
    client.get(f"/t/{bank.slug}/lang/en")
    return client


def form_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]+)"', page))


def repayments(bank, reference):
    with tenant_session(bank) as db, db.begin():
        return db.scalar(select(func.count()).select_from(LoanTransaction).join(
            LoanAccount, LoanAccount.id == LoanTransaction.loan_id).where(
            LoanAccount.reference == reference, LoanTransaction.kind == "repayment"))


def test_loan_page_and_a_resubmitted_repayment_posts_once(app, bank, make_user):
    reference = open_loan(bank, close=5)
    client = staff(app, bank, make_user, "operations")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    page = client.get(url, headers=HTML).get_data(as_text=True)
    assert "Payoff quote" in page and "Version 1" in page and "12,000.00" in page
    fields = form_fields(page)
    first = client.post(f"{url}/repayments", data={**fields, "amount": "150.00"}, headers=HTML)
    assert first.status_code == 302 and "replayed=0" in first.headers["Location"]
    again = client.post(f"{url}/repayments", data={**fields, "amount": "150.00"}, headers=HTML)
    assert "replayed=1" in again.headers["Location"]
    result = client.get(again.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "already posted" in result and 'data-part="interest">120.00' in result
    assert 'data-part="principal">30.00' in result
    assert repayments(bank, reference) == 1
    # The same key for a different amount is a conflict, shown on the page; nothing posted.
    clash = client.post(f"{url}/repayments", data={**fields, "amount": "99.00"}, headers=HTML)
    assert clash.status_code == 409 and 'role="alert"' in clash.get_data(as_text=True)
    bad = client.post(f"{url}/repayments", data={**form_fields(page), "amount": "abc"}, headers=HTML)
    assert bad.status_code == 422
    assert repayments(bank, reference) == 1


def test_repayment_form_needs_loan_service(app, bank, make_user):
    reference = open_loan(bank)
    officer = staff(app, bank, make_user, "loan_officer")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    page = officer.get(url, headers=HTML).get_data(as_text=True)
    assert "Post a repayment" not in page
    token = csrf_token(officer, f"/t/{bank.slug}/account/password")
    refused = officer.post(f"{url}/repayments", data={"csrf_token": token, "idempotency_key": "k", "amount": "10"},
                           headers=HTML)
    assert refused.status_code == 403
    assert repayments(bank, reference) == 0


def test_postings_are_paged_by_keyset(app, bank, make_user):
    reference = open_loan(bank, close=25)  # disbursement + 25 accruals + penalty-free days: > one page of lines
    client = staff(app, bank, make_user, "operations")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    page = client.get(url, headers=HTML).get_data(as_text=True)
    older = re.search(r'before_entry=(\d+)#postings', page)
    assert older
    second = client.get(f"{url}?before_entry={older[1]}", headers=HTML).get_data(as_text=True)
    assert "Newest" in second
    listing = client.get(f"/t/{bank.slug}/back-office/loans?q={reference}", headers=HTML).get_data(as_text=True)
    assert reference in listing


def test_work_a_collection_case(app, bank, make_user):
    reference = open_loan(bank, close=36)  # the first instalment (due 31 January) unpaid: DPD 5
    with SystemContext("test: daily review"), tenant_session(bank) as db, db.begin():
        collections.review(db)
        case_id = db.scalar(select(CollectionCase.id).join(LoanAccount, LoanAccount.id == CollectionCase.loan_id)
                            .where(LoanAccount.reference == reference))
    client = staff(app, bank, make_user, "collections")
    listing = client.get(f"/t/{bank.slug}/back-office/collections?scope=unassigned", headers=HTML)
    assert reference in listing.get_data(as_text=True)
    url = f"/t/{bank.slug}/back-office/collections/{case_id}"
    token = form_fields(client.get(url, headers=HTML).get_data(as_text=True))["csrf_token"]
    assert client.post(f"{url}/assignment", data={"csrf_token": token, "collector_id": "me"}).status_code == 302
    assert client.post(f"{url}/actions", data={"csrf_token": token, "kind": "call",
                                               "arrear_reason": "tea sales late", "result_note": ""}).status_code == 302
    empty = client.post(f"{url}/actions", data={"csrf_token": token, "kind": "call"}, headers=HTML)
    assert empty.status_code == 422
    assert client.post(f"{url}/promises", data={"csrf_token": token, "amount": "4120.00",
                                                "promised_date": "2026-02-20"}).status_code == 302
    assert client.post(f"{url}/notices", data={"csrf_token": token, "language": "en"}).status_code == 302
    page = client.get(url, headers=HTML).get_data(as_text=True)
    assert "tea sales late" in page and "4,120.00" in page
    mine = client.get(f"/t/{bank.slug}/back-office/collections", headers=HTML).get_data(as_text=True)
    assert reference in mine
    with tenant_session(bank) as db, db.begin():
        assert db.scalar(select(func.count()).select_from(CollectionAction).where(
            CollectionAction.case_id == case_id)) == 2  # the call and the notice
        assert db.scalars(select(PromiseToPay.amount).where(PromiseToPay.case_id == case_id)).one() == \
            Decimal("4120.00")
        assert db.get(CollectionCase, case_id).collector_id is not None


def test_record_an_inspection(app, bank, make_user):
    reference = open_loan(bank, close=1)
    with SystemContext("test: daily review"), tenant_session(bank) as db, db.begin():
        collections.review(db)
        inspection_id = db.scalar(select(Inspection.id).join(LoanAccount, LoanAccount.id == Inspection.loan_id)
                                  .where(LoanAccount.reference == reference))
    client = staff(app, bank, make_user, "operations")
    page = client.get(f"/t/{bank.slug}/back-office/inspections", headers=HTML).get_data(as_text=True)
    assert reference in page
    token = form_fields(page)["csrf_token"]
    refused = client.post(f"/t/{bank.slug}/back-office/inspections/{inspection_id}",
                          data={"csrf_token": token, "method": "on_site", "outcome": "risk"}, headers=HTML)
    assert refused.status_code == 422
    done = client.post(f"/t/{bank.slug}/back-office/inspections/{inspection_id}",
                       data={"csrf_token": token, "method": "on_site", "outcome": "normal",
                             "funds_use_verified": "yes", "business_status": "shop open"})
    assert done.status_code == 302
    with tenant_session(bank) as db, db.begin():
        row = db.get(Inspection, inspection_id)
        assert row.outcome == "normal" and row.funds_use_verified is True


def test_ten_grade_is_shown_only_when_switched_on(app, bank, make_user):
    reference = open_loan(bank, close=36)  # DPD 5 -> special mention once confirmed; normal until then
    client = staff(app, bank, make_user, "operations")
    url = f"/t/{bank.slug}/back-office/loans/{reference}"
    assert "Ten-grade class" not in client.get(url, headers=HTML).get_data(as_text=True)
    with tenant_session(bank) as db, db.begin():
        db.execute(text("INSERT INTO tenant_parameter (key, value) VALUES ('classification.ten_grade.enabled', "
                        "'true')"))
    page = client.get(url, headers=HTML).get_data(as_text=True)
    # Normal (not yet confirmed downgrade) and fell overdue once in the look-back window: normal 2.
    assert re.search(r'id="sub-grade">Normal 2<', page)
