"""The back office in headless Chromium on a phone, in Chinese and English, under the production CSP: an approved
application → contract prepared → every party signs → the 双录 recording is uploaded and passes QC (by a second
person) → disbursement created, sent and settled → the loan is active."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contracts_support import MP4, PDF_EVIDENCE, approved_application
from creditfactory.db import tenant_session
from creditfactory.identity.models import User  # noqa: F401 - users are made by make_user
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.disbursement.models import Disbursement
from creditfactory.lending.loans.models import LoanAccount
from test_applications_browser import log_in, phone_page
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

TEXT = {
    "zh": {"prepare": "生成", "sign": "记录签名", "upload": "上传双录", "passed": "质检通过", "contracted": "已签约",
           "create": "发起放款", "send": "发送核心系统", "settle": "确认入账", "draft": "草稿", "signed": "已签署"},
    "en": {"prepare": "Prepare", "sign": "Record signature", "upload": "Upload recording", "passed": "QC passed",
           "contracted": "Contracted", "create": "Create disbursement", "send": "Send to core banking",
           "settle": "Mark settled", "draft": "Draft", "signed": "Signed"},
}


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_approved_application_to_active_loan(browser, base_url, bank, make_user, language):  # noqa: F811
    t = TEXT[language]
    clerk, reviewer = make_user("operations", bank), make_user("operations", bank)
    with tenant_session(bank) as db, db.begin():
        application_id = approved_application(db).id
    page_url = f"{base_url}/t/{bank.slug}/back-office/contracts/{application_id}"

    page = phone_page(browser)
    log_in(page, base_url, bank, clerk, language)
    page.goto(page_url)
    page.fill("#annual_rate_percent", "12")
    page.select_option("#repayment_method", "equal_principal")
    page.select_option("#language", "zh" if language == "zh" else "en")
    page.get_by_role("button", name=t["prepare"], exact=True).click()
    assert page.locator("#contract-status").inner_text() == t["draft"]
    for _ in range(3):  # borrower, guarantor, the bank
        page.get_by_role("button", name=t["sign"]).first.click()
    assert page.locator("#contract-status").inner_text() == t["signed"]
    page.set_input_files("#media", files=[{"name": "signing.mp4", "mimeType": "video/mp4", "buffer": MP4}])
    page.fill("#started_at", "2026-03-01T09:00")
    page.fill("#ended_at", "2026-03-01T09:12")
    page.get_by_role("button", name=t["upload"]).click()
    fits_on_a_phone(page)
    screenshot(page, f"contract-signed-{language}")
    no_csp_violations(page)

    second = phone_page(browser)
    log_in(second, base_url, bank, reviewer, language)
    second.goto(page_url)
    second.get_by_role("button", name=t["passed"]).click()
    assert second.locator("#application-state").inner_text() == t["contracted"]
    no_csp_violations(second)

    page.goto(page_url)
    page.fill("#payee_name", "县农资公司")
    page.fill("#payee_account", "6222020200112233")
    page.fill("#payee_bank", "农商银行城关支行")
    page.set_input_files("#evidence", files=[{"name": "invoice.pdf", "mimeType": "application/pdf",
                                              "buffer": PDF_EVIDENCE}])
    page.get_by_role("button", name=t["create"]).click()
    page.goto(f"{base_url}/t/{bank.slug}/back-office/disbursements")
    page.get_by_role("button", name=t["send"]).click()
    page.locator("input[name=core_banking_ref]").fill(f"CB-{language}-0001")
    page.get_by_role("button", name=t["settle"]).click()
    fits_on_a_phone(page)
    screenshot(page, f"disbursement-queue-{language}")
    no_csp_violations(page)

    with tenant_session(bank) as db:
        assert db.get(LoanApplication, application_id).state == "DISBURSED"
        disbursement = db.scalars(select(Disbursement).where(Disbursement.application_id == application_id)).one()
        assert (disbursement.status, disbursement.mode) == ("SETTLED", "ENTRUSTED")
        assert db.get(LoanAccount, disbursement.loan_id).state == "active"
