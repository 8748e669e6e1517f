"""The rest of the loan life cycle in headless Chromium on a phone, in Chinese and English, under the production
CSP: a downgrade COB proposed is confirmed in the review queue and the loan restructured on its page (a new
schedule version, the old one kept); a loan is written off, asked for by one person and approved by another."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from creditfactory.db import SystemContext, tenant_session
from creditfactory.lending.cob import services as cob
from creditfactory.lending.loans import services as loans
from creditfactory.lending.loans.models import Installment, LoanAccount
from servicing_helpers import open_standard
from test_applications_browser import log_in, phone_page
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

TEXT = {
    "zh": {"confirm": "确认下调", "confirmed": "已确认。", "special_mention": "关注", "restructure": "重组",
           "restructured": "已重组", "write_off": "提交核销申请", "approve": "批准该申请", "written_off": "已核销",
           "requested": "核销申请已提交：经另一人复核批准后生效。"},
    "en": {"confirm": "Confirm downgrade", "confirmed": "Confirmed.", "special_mention": "Special mention",
           "restructure": "Restructure", "restructured": "Restructured", "write_off": "Request write-off",
           "approve": "Approve this request", "written_off": "Written off",
           "requested": "Write-off requested: it takes effect when a second person approves it."},
}


@pytest.fixture
def bank(tenant_factory):
    # A bank per test: each walk sets the business date and closes days of its own.
    return tenant_factory(name_zh="湖北赤壁村镇银行股份有限公司", name_en="Hubei Chibi Village Bank Co., Ltd.")


def overdue_loan(bank, days: int) -> str:
    """The 12,000 yuan loan of tests/servicing_helpers.py opened 2026-01-01, ``days`` business days closed."""
    reference = f"L-{uuid.uuid4().hex[:8]}"
    with SystemContext("test: life cycle walk"), tenant_session(bank) as db, db.begin():
        open_standard(db, reference)
    for _ in range(days):
        cob.close_day(bank)
    return reference


def loan_row(bank, reference) -> LoanAccount:
    with tenant_session(bank) as db, db.begin():
        loan = db.scalars(select(LoanAccount).where(LoanAccount.reference == reference)).one()
        db.expunge(loan)
        return loan


@pytest.mark.parametrize("language", ["zh", "en"])
def test_confirm_a_downgrade_and_restructure(browser, base_url, bank, make_user, language):  # noqa: F811
    t = TEXT[language]
    reference = overdue_loan(bank, 31)  # 2026-02-01: instalment 1 overdue, a downgrade to special mention proposed
    # The borrower pays the arrears and this period's interest at the counter: a restructuring re-schedules
    # principal only, so nothing accrued may be left open.
    with SystemContext("test: counter payment"), tenant_session(bank) as db, db.begin():
        loan = db.scalars(select(LoanAccount).where(LoanAccount.reference == reference)).one()
        loans.post_repayment(db, loan.id, loan.penalty_receivable + Decimal("4200.00"),
                             idempotency_key=f"counter-{reference}")
    page = phone_page(browser)
    log_in(page, base_url, bank, make_user("operations", bank), language)
    page.goto(f"{base_url}/t/{bank.slug}/back-office/classification-reviews")
    card = page.locator(f"li[data-loan='{reference}']")
    fits_on_a_phone(page)
    screenshot(page, f"classification-review-{language}")
    card.get_by_role("button", name=t["confirm"]).click()
    assert page.locator("#notice").inner_text() == t["confirmed"]
    assert page.locator(f"li[data-loan='{reference}']").count() == 0
    assert loan_row(bank, reference).risk_class == "special_mention"

    page.goto(f"{base_url}/t/{bank.slug}/back-office/loans/{reference}")
    assert page.locator("#risk-class").inner_text().startswith(t["special_mention"])
    page.locator("#restructure summary").click()
    page.fill("#restructure-months", "6")
    page.select_option("#restructure-method", "equal_principal")
    page.fill("#restructure-reason", "旱灾减产 / drought")
    fits_on_a_phone(page)
    page.locator("#restructure button[type=submit]").click()
    page.wait_for_url("**done=restructured**")
    assert page.locator("#loan-state").inner_text() == t["restructured"]
    assert page.locator("details[data-version='2'][open]").count() == 1
    assert page.locator("details[data-version='1']").count() == 1  # the old schedule is kept
    fits_on_a_phone(page)
    screenshot(page, f"loan-restructured-{language}")
    no_csp_violations(page)
    loan = loan_row(bank, reference)
    assert (loan.state, loan.schedule_version) == ("restructured", 2)
    with tenant_session(bank) as db, db.begin():
        rows = db.scalars(select(Installment).where(Installment.loan_id == loan.id, Installment.version == 2)).all()
    assert len(rows) == 6 and sum(r.principal_due for r in rows) == Decimal("8000.00")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_write_a_loan_off_with_a_second_person(browser, base_url, bank, make_user, language):  # noqa: F811
    t = TEXT[language]
    reference = overdue_loan(bank, 33)
    url = f"{base_url}/t/{bank.slug}/back-office/loans/{reference}"
    maker = phone_page(browser)
    log_in(maker, base_url, bank, make_user("operations", bank), language)
    maker.goto(url)
    maker.locator("#write-off summary").click()
    maker.fill("#write-off-reason", "借款人失联，无可执行财产 / no assets")
    maker.get_by_role("button", name=t["write_off"]).click()
    assert maker.locator("#notice").inner_text() == t["requested"]
    assert maker.locator("#pending [data-change]").count() == 1
    assert maker.locator("#pending button").count() == 0  # the maker cannot decide their own request
    assert loan_row(bank, reference).state == "overdue"
    no_csp_violations(maker)

    checker = phone_page(browser)
    log_in(checker, base_url, bank, make_user("risk_manager", bank), language)
    checker.goto(url)
    fits_on_a_phone(checker)
    checker.locator("#pending").get_by_role("button", name=t["approve"], exact=True).click()
    checker.wait_for_url("**done=approved**")
    assert checker.locator("#loan-state").inner_text() == t["written_off"]
    fits_on_a_phone(checker)
    screenshot(checker, f"loan-written-off-{language}")
    no_csp_violations(checker)
    loan = loan_row(bank, reference)
    assert loan.state == "written_off"
