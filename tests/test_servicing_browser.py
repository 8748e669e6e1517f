"""The servicing pages in headless Chromium on a phone, in Chinese and English, under the production CSP: a
repayment posted on the loan page (a resubmitted form and a double click post once each), and a collection case
worked (assigned, an action and a promise to pay recorded)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from creditfactory.db import SystemContext, tenant_session
from creditfactory.lending.cob import services as cob
from creditfactory.lending.collections import services as collections
from creditfactory.lending.collections.models import CollectionAction, CollectionCase, PromiseToPay
from creditfactory.lending.loans.models import LoanAccount, LoanTransaction
from servicing_helpers import open_standard
from test_applications_browser import log_in, phone_page
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

TEXT = {
    "zh": {"post": "登记还款", "posted": "还款已入账。", "replayed": "该笔还款已入账，未重复入账。", "assign": "分配",
           "action": "记录行动", "promise": "记录承诺", "open": "进行中"},
    "en": {"post": "Post repayment", "posted": "Repayment posted.",
           "replayed": "This repayment was already posted; nothing was posted again.", "assign": "Assign",
           "action": "Record action", "promise": "Record promise", "open": "Open"},
}


@pytest.fixture
def bank(tenant_factory):
    # A bank per test: each walk sets the business date and closes days of its own.
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


def loan_with_history(bank, days: int) -> str:
    """A 12,000 yuan loan opened 2026-01-01 (tests/servicing_helpers.py) and ``days`` business days closed."""
    reference = f"L-{uuid.uuid4().hex[:8]}"
    with SystemContext("test: servicing walk"), tenant_session(bank) as db, db.begin():
        open_standard(db, reference)
    for _ in range(days):
        cob.close_day(bank)
    return reference


def repayments(bank, reference) -> list[Decimal]:
    with tenant_session(bank) as db, db.begin():
        return list(db.scalars(select(LoanTransaction.amount)
                               .join(LoanAccount, LoanAccount.id == LoanTransaction.loan_id)
                               .where(LoanAccount.reference == reference, LoanTransaction.kind == "repayment")
                               .order_by(LoanTransaction.id)))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_post_a_repayment_once(browser, base_url, bank, make_user, language):  # noqa: F811
    t = TEXT[language]
    reference = loan_with_history(bank, 5)
    url = f"{base_url}/t/{bank.slug}/back-office/loans/{reference}"
    page = phone_page(browser)
    log_in(page, base_url, bank, make_user("operations", bank), language)
    page.goto(url)
    key = page.input_value("input[name=idempotency_key]")
    page.fill("#amount", "150.00")
    page.get_by_role("button", name=t["post"]).click()
    assert page.locator("#posted p").inner_text() == t["posted"]
    # Allocation: the current period's interest (120.00) first, then principal.
    assert page.locator('[data-part="interest"]').inner_text() == "120.00"
    assert page.locator('[data-part="principal"]').inner_text() == "30.00"
    fits_on_a_phone(page)
    screenshot(page, f"loan-repayment-{language}")

    # The same form sent again (a browser's "resubmit", a retry after a timeout) carries the same key: no second
    # posting, and the person is told so.
    page.goto(url)
    page.eval_on_selector("input[name=idempotency_key]", "(input, key) => { input.value = key; }", key)
    page.fill("#amount", "150.00")
    page.get_by_role("button", name=t["post"]).click()
    assert page.locator("#posted p").inner_text() == t["replayed"]
    assert repayments(bank, reference) == [Decimal("150.00")]

    # A double click on a fresh form posts once.
    page.goto(url)
    page.fill("#amount", "10.00")
    page.locator("#repayment-form button[type=submit]").dblclick()
    page.wait_for_url("**posted=**")
    assert repayments(bank, reference) == [Decimal("150.00"), Decimal("10.00")]
    no_csp_violations(page)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_work_a_collection_case(browser, base_url, bank, make_user, language):  # noqa: F811
    t = TEXT[language]
    reference = loan_with_history(bank, 36)  # the instalment due 31 January is unpaid: DPD 5 on 6 February
    with SystemContext("test: daily review"), tenant_session(bank) as db, db.begin():
        collections.review(db)
    page = phone_page(browser)
    log_in(page, base_url, bank, make_user("collections", bank), language)
    page.goto(f"{base_url}/t/{bank.slug}/back-office/collections?scope=unassigned")
    page.get_by_role("link", name=reference).click()
    fits_on_a_phone(page)
    page.select_option("#collector_id", "me")
    page.get_by_role("button", name=t["assign"], exact=True).click()
    page.select_option("#kind", "call")
    page.fill("#arrear_reason", "茶叶收购款未到 / tea buyer paid late")
    page.fill("#result_note", "will pay after the market day")
    page.get_by_role("button", name=t["action"]).click()
    page.fill("#promise_amount", "4120.00")
    page.fill("#promised_date", "2026-02-20")
    page.get_by_role("button", name=t["promise"]).click()
    assert "tea buyer paid late" in page.locator("#actions").inner_text()
    assert t["open"] in page.locator('[data-promise="open"]').inner_text()
    fits_on_a_phone(page)
    screenshot(page, f"collection-case-{language}")
    no_csp_violations(page)
    with tenant_session(bank) as db, db.begin():
        case = db.scalars(select(CollectionCase).join(LoanAccount, LoanAccount.id == CollectionCase.loan_id)
                          .where(LoanAccount.reference == reference)).one()
        assert case.collector_id is not None
        assert db.scalar(select(func.count()).select_from(CollectionAction).where(
            CollectionAction.case_id == case.id, CollectionAction.kind == "call")) == 1
        promise = db.scalars(select(PromiseToPay).where(PromiseToPay.case_id == case.id)).one()
        assert (promise.amount, promise.promised_date.isoformat()) == (Decimal("4120.00"), "2026-02-20")
