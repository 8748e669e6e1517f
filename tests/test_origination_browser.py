"""One application from intake to a signed contract, through the portal pages only, in headless Chromium on a
phone, in Chinese and English, under the production CSP.

The loan officer registers a married customer and records the spouse (a person without a customer record),
registers the application, records the pre-screen, schedules the visit, fills the IPC worksheet (the live panel
shows the equity check failing, then passing once the withdrawals are corrected) and saves it, and submits the
case; an approver decides it from the review queue; the back office prepares the contract, the borrower, the spouse
and the bank sign, the 双录 recording is uploaded, and a second person passes its QC: the contract is SIGNED and the
application CONTRACTED. Only the staff and the product (with the approver's authority) are set up by fixtures.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid

import pytest
import yaml
from playwright.sync_api import expect
from sqlalchemy import select

from applications_support import acting, principal
from contracts_support import MP4
from customer_samples import resident_id
from creditfactory.db import tenant_session
from creditfactory.identity import changes
from creditfactory.lending.applications import authority
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.contracts.models import ContractParty, EContract
from creditfactory.lending.investigation.portal import flatten
from creditfactory.lending.products.models import Product
from test_applications_browser import capture_bureau_consent, log_in, phone_page
from test_investigation_analysis import WORKSHEET
from test_origination import STANDARD
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

#: The visible texts the walk clicks and checks, per language.
TEXT = {
    "zh": {"register_customer": "登记客户", "add_party": "添加", "register": "登记申请", "prescreen": "记录预筛查结果",
           "visit": "安排走访并开始调查", "worksheet": "贷前调查表", "save": "保存调查表", "submit": "提交审查",
           "record": "提交审批意见", "fail": "未通过", "pass": "通过", "prepare": "生成", "sign": "记录签名",
           "upload": "上传双录", "qc": "质检通过", "pre_screened": "已预筛", "investigating": "调查中",
           "analysed": "已分析", "in_review": "审查中", "approved": "已批准", "contracted": "已签约",
           "signed": "已签署", "spouse": "借款人配偶"},
    "en": {"register_customer": "Register customer", "add_party": "Add", "register": "Register application",
           "prescreen": "Record pre-screen", "visit": "Schedule the visit and start the investigation",
           "worksheet": "Investigation worksheet", "save": "Save worksheet", "submit": "Submit for review",
           "record": "Record decision", "fail": "Fail", "pass": "Pass", "prepare": "Prepare",
           "sign": "Record signature", "upload": "Upload recording", "qc": "QC passed",
           "pre_screened": "Pre-screened", "investigating": "Investigating", "analysed": "Analysed",
           "in_review": "In review", "approved": "Approved", "contracted": "Contracted", "signed": "Signed",
           "spouse": "Borrower's spouse"},
}


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


@pytest.fixture
def staff(bank, make_user):
    """The people of the walk, and a product with the standard business-loan terms whose approver may decide up to
    100,000 yuan / 24 months (set through maker-checker). The engine has no authority in this bank, so the case
    waits in review for the approver."""
    people = {role: make_user(role, bank) for role in ("loan_officer", "approver", "risk_manager", "tenant_admin")}
    people["operations"] = make_user("operations", bank)
    people["qc"] = make_user("operations", bank)
    code = f"biz_{uuid.uuid4().hex[:6]}"
    terms = copy.deepcopy(yaml.safe_load(STANDARD.read_text())["terms"])
    with tenant_session(bank) as db, db.begin():
        db.add(Product(code=code, version=1, name_zh="经营贷", name_en="Business loan", terms=terms))
        db.flush()
        with acting(principal(people["risk_manager"], bank, "risk_manager"), bank):
            request = authority.propose_authority(db, "approver", code, "100000", 24)
    with tenant_session(bank) as db, db.begin(), acting(principal(people["tenant_admin"], bank, "tenant_admin"), bank):
        changes.approve(db, request.id)
    with tenant_session(bank) as db:
        people["product_id"] = db.scalar(select(Product.id).where(Product.code == code))
    return people


def state_is(page, text):
    expect(page.locator("[data-state]")).to_have_text(text)


def fill_worksheet(page, values):
    for name, value in values.items():
        field = page.locator(f'[name="{name}"]')
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_intake_to_signed_contract_through_the_pages(browser, base_url, bank, staff, language):  # noqa: F811
    t = TEXT[language]
    prefix = f"{base_url}/t/{bank.slug}"

    # --- front office: the customer, the spouse, the application ------------------------------------------------
    officer = phone_page(browser)
    log_in(officer, base_url, bank, staff["loan_officer"], language)
    officer.goto(f"{prefix}/customers/new")
    borrower = "白云" if language == "zh" else "Bai Yun"
    officer.fill("#name", borrower)
    officer.fill("#resident_id", resident_id(dt.date(1982, 4, 9)))
    officer.fill("#years_in_business", "6")
    officer.select_option("#marital_status", "married")
    officer.get_by_role("button", name=t["register_customer"]).click()
    officer.wait_for_url(re.compile(r".*/customers/\d+$"))
    customer_id = officer.url.rsplit("/", 1)[1]
    parties_card = officer.locator('section[aria-labelledby="parties"]')
    parties_card.locator("summary").click()
    officer.select_option("#party-role", "spouse")
    officer.fill("#party-name", "赵敏")
    officer.fill("#party-id", resident_id(dt.date(1984, 2, 3)))
    parties_card.get_by_role("button", name=t["add_party"], exact=True).click()
    expect(parties_card.locator("li")).to_contain_text("赵敏")
    no_csp_violations(officer)

    officer.locator("#new-application").click()  # the customer page opens the form for this customer
    assert officer.locator("#customer_id").input_value() == customer_id
    officer.select_option("#product_id", str(staff["product_id"]))
    officer.fill("#amount", "20000")
    officer.fill("#term_months", "12")
    officer.select_option("#channel", "field_app")
    officer.select_option("#repayment_method", "equal_installment")
    officer.select_option("#sector", "retail")
    officer.get_by_role("button", name=t["register"]).click()
    reference = re.search(r"LA\d{14}", officer.locator("h1").inner_text())[0]
    application_id = int(officer.url.rstrip("/").rsplit("/", 1)[1].split("?")[0])

    case = officer.url
    # No credit-bureau consent yet: the pre-screen is refused, naming it; the officer captures it on the customer
    # page (paper form signed at the branch) and pre-screens again.
    officer.fill("#prescreen-reason", "授权已取得" if language == "zh" else "consents captured")
    officer.get_by_role("button", name=t["prescreen"]).click()
    expect(officer.locator(".alert").first).to_contain_text("bureau_query")
    expect(officer.locator("#consent-missing")).to_be_visible()
    fits_on_a_phone(officer)
    capture_bureau_consent(officer, base_url, bank, customer_id, language)
    officer.goto(case)
    expect(officer.locator("#consent-missing")).to_have_count(0)
    officer.fill("#prescreen-reason", "授权已取得" if language == "zh" else "consents captured")
    officer.get_by_role("button", name=t["prescreen"]).click()
    state_is(officer, t["pre_screened"])
    officer.fill("#visit-reason", "周二上门，两人" if language == "zh" else "Tuesday, two officers")
    officer.get_by_role("button", name=t["visit"]).click()
    state_is(officer, t["investigating"])

    # --- the worksheet, with the live analysis as the officer types --------------------------------------------
    officer.get_by_role("link", name=t["worksheet"]).click()
    values = flatten(WORKSHEET)
    values["pnl.typical.household_expenses.living"] = values.pop("pnl.typical.household_expenses.food")
    del values["pnl.good.lines.0.name"], values["pnl.bad.lines.0.name"]
    fill_worksheet(officer, values)
    equity = officer.locator('#results [data-check="EQUITY_CHECK"]')
    expect(officer.locator('#results [data-value="max-loan"]')).to_have_text("26706.42")
    expect(equity).to_have_attribute("data-passed", "false")
    assert equity.locator("td").last.inner_text() == t["fail"]
    # The withdrawals were 20000, not 30000: expected equity 50000 + 70000 − 20000 = 100000, as reconstructed.
    officer.locator('[name="evidence.withdrawals"]').fill("20000")
    expect(equity).to_have_attribute("data-passed", "true")
    assert equity.locator("td").last.inner_text() == t["pass"]
    fits_on_a_phone(officer)
    screenshot(officer, f"origination-worksheet-{language}")
    officer.get_by_role("button", name=t["save"]).click()
    officer.wait_for_url(re.compile(r".*saved=1$"))
    officer.goto(f"{prefix}/applications/{application_id}")
    state_is(officer, t["analysed"])
    officer.fill("#submit-reason", "交叉检验全部通过" if language == "zh" else "every cross-check passes")
    officer.get_by_role("button", name=t["submit"]).click()
    state_is(officer, t["in_review"])
    no_csp_violations(officer)

    # --- middle office: the approver decides from the queue ----------------------------------------------------
    approver = phone_page(browser)
    log_in(approver, base_url, bank, staff["approver"], language)
    approver.goto(f"{prefix}/applications/queue")
    approver.get_by_role("link", name=reference).click()
    approver.select_option("#decision", "approve")
    approver.fill("#decide-reason", "经营现金流覆盖月供" if language == "zh" else "cash flow covers the instalment")
    approver.get_by_role("button", name=t["record"]).click()
    state_is(approver, t["approved"])
    no_csp_violations(approver)

    # --- back office: contract, signatures, 双录 and its QC by a second person ---------------------------------
    clerk = phone_page(browser)
    log_in(clerk, base_url, bank, staff["operations"], language)
    clerk.goto(f"{prefix}/back-office/contracts")
    clerk.get_by_role("link", name=re.compile(reference)).first.click()
    assert clerk.locator("#repayment_method").input_value() == "equal_installment"  # the application's method
    clerk.fill("#annual_rate_percent", "9.6")
    clerk.select_option("#language", language)
    clerk.get_by_role("button", name=t["prepare"], exact=True).click()
    parties = clerk.locator("ul.plain > li")
    expect(parties).to_have_count(3)  # the borrower, the spouse (no customer record), the bank
    expect(parties.nth(1)).to_contain_text(f"{t['spouse']}: 赵敏")
    pdf = clerk.request.get(base_url + clerk.locator("#contract-pdf").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF-")  # what the parties sign
    for _ in range(3):
        clerk.get_by_role("button", name=t["sign"]).first.click()
    expect(clerk.locator("#contract-status")).to_have_text(t["signed"])
    clerk.set_input_files("#media", files=[{"name": "signing.mp4", "mimeType": "video/mp4", "buffer": MP4}])
    clerk.fill("#started_at", "2026-03-01T09:00")
    clerk.fill("#ended_at", "2026-03-01T09:12")
    clerk.get_by_role("button", name=t["upload"]).click()
    fits_on_a_phone(clerk)
    no_csp_violations(clerk)

    second = phone_page(browser)
    log_in(second, base_url, bank, staff["qc"], language)
    second.goto(f"{prefix}/applications/{application_id}")
    second.locator("#contract-link").click()  # the case page leads the back office to its contract
    second.get_by_role("button", name=t["qc"]).click()
    expect(second.locator("#application-state")).to_have_text(t["contracted"])
    fits_on_a_phone(second)
    screenshot(second, f"origination-contracted-{language}")
    no_csp_violations(second)

    with tenant_session(bank) as db:
        application = db.get(LoanApplication, application_id)
        contract = db.scalars(select(EContract).where(EContract.application_id == application_id)).one()
        parties = db.scalars(select(ContractParty).where(ContractParty.contract_id == contract.id)
                             .order_by(ContractParty.id)).all()
        assert (application.state, contract.status) == ("CONTRACTED", "SIGNED")
        assert [(p.role, p.customer_id is None, p.related_party_id is None) for p in parties] == [
            ("borrower", False, True), ("spouse", True, False), ("lender", True, True)]
        assert contract.repayment_method == "equal_installment" and str(contract.annual_rate) == "0.09600000"
