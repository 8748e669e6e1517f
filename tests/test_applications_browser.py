"""The applications pages in headless Chromium on a phone, in Chinese and English, under the production CSP:
the officer registers an application and submits it, an approver decides; a committee votes on a large one."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import select

from applications_support import acting, bureau_consent, customer_and_product, principal
from creditfactory.db import tenant_session
from creditfactory.identity import changes
from creditfactory.lending.applications import authority, services
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.applications.states import Event, transition
from creditfactory.testing.staff import STAFF_PASSWORD
from test_portal_browser import CSP_SENSOR, PHONE, base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

#: The visible texts the walk clicks and checks, per language.
TEXT = {
    "zh": {"login": "登录", "register": "登记申请", "submit": "提交审查", "record": "提交审批意见", "approved": "已批准",
           "in_review": "审查中", "vote": "投票", "close": "结束会议", "conditions": "有条件批准", "lang": "中文"},
    "en": {"login": "Log in", "register": "Register application", "submit": "Submit for review",
           "record": "Record decision", "approved": "Approved", "in_review": "In review", "vote": "Cast vote",
           "close": "Close session", "conditions": "Approved with conditions", "lang": "EN"},
}


#: The customer page's consent form (lending/customers), per language.
CONSENT_TEXT = {"zh": {"record": "新增授权", "save": "登记授权"}, "en": {"record": "Record a consent", "save": "Record consent"}}


def capture_bureau_consent(page, base_url, bank, customer_id, language):
    """The officer records the customer's written credit-bureau consent on the customer page: the pre-screen
    queries the bureau and is refused without it (DOMAIN §4.2)."""
    page.goto(f"{base_url}/t/{bank.slug}/customers/{customer_id}")
    page.locator("summary", has_text=CONSENT_TEXT[language]["record"]).click()
    page.select_option("#purpose", "bureau_query")
    page.fill("#scope", "查询征信报告，用于本次贷款审批")
    page.select_option("#consent_type", "written")
    page.select_option("#channel", "paper_scan")
    page.fill("#evidence_signature", "纸质授权书 PS-0001")
    page.get_by_role("button", name=CONSENT_TEXT[language]["save"], exact=True).click()
    page.locator("[data-consent=bureau_query]").wait_for()


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


@pytest.fixture
def setup(bank, make_user):
    """A customer and product, an approver authority of 50,000 yuan / 12 months, and the people."""
    code = f"biz_{uuid.uuid4().hex[:6]}"
    people = {role: make_user(role, bank) for role in ("loan_officer", "approver", "risk_manager", "tenant_admin")}
    with tenant_session(bank) as db, db.begin():
        customer_id, product_id = customer_and_product(db, code)
        with acting(principal(people["risk_manager"], bank, "risk_manager"), bank):
            request = authority.propose_authority(db, "approver", code, "50000", 12)
    with tenant_session(bank) as db, db.begin(), acting(principal(people["tenant_admin"], bank, "tenant_admin"), bank):
        changes.approve(db, request.id)
    return {"people": people, "customer_id": customer_id, "product_id": product_id}


def phone_page(browser):
    """A phone-sized page recording every Content-Security-Policy violation (as tests/test_portal_browser.py)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.csp_violations = []
    context.expose_function("cspViolation", lambda violation: page.csp_violations.append(violation))
    context.add_init_script(CSP_SENSOR)
    page.on("console", lambda message: page.csp_violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return page


def log_in(page, base_url, bank, username, language):
    page.goto(f"{base_url}/t/{bank.slug}/login")
    page.get_by_role("link", name=TEXT[language]["lang"], exact=True).click()
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.get_by_role("button", name=TEXT[language]["login"]).click()


def analyse(bank, officer, reference):
    # Pre-screen, the visit and the IPC worksheet belong to other capabilities' pages; their transitions here.
    with tenant_session(bank) as db, db.begin(), acting(officer, bank):
        application = db.scalars(select(LoanApplication).where(LoanApplication.reference == reference)).one()
        for event in (Event.PRESCREEN_PASS, Event.SCHEDULE_VISIT, Event.ANALYSE):
            transition(db, application, event, reason="browser walk")
        return application.id


@pytest.mark.parametrize("language", ["zh", "en"])
def test_intake_submit_and_single_approver(browser, base_url, bank, setup, language):  # noqa: F811
    t = TEXT[language]
    officer_name = setup["people"]["loan_officer"]
    officer_page = phone_page(browser)
    log_in(officer_page, base_url, bank, officer_name, language)
    officer_page.goto(f"{base_url}/t/{bank.slug}/applications/new")
    officer_page.select_option("#customer_id", str(setup["customer_id"]))
    officer_page.select_option("#product_id", str(setup["product_id"]))
    officer_page.fill("#amount", "30000")
    officer_page.fill("#term_months", "12")
    officer_page.select_option("#channel", "wechat_mini")
    officer_page.get_by_role("button", name=t["register"]).click()
    heading = officer_page.locator("h1").inner_text()
    reference = re.search(r"LA\d{14}", heading)[0]
    fits_on_a_phone(officer_page)
    screenshot(officer_page, f"application-case-{language}")
    case_url = officer_page.url
    capture_bureau_consent(officer_page, base_url, bank, setup["customer_id"], language)
    application_id = analyse(bank, principal(officer_name, bank, "loan_officer"), reference)
    officer_page.goto(case_url)
    officer_page.get_by_role("button", name=t["submit"]).click()
    assert officer_page.locator("[data-state]").inner_text() == t["in_review"]
    no_csp_violations(officer_page)

    approver_page = phone_page(browser)
    log_in(approver_page, base_url, bank, setup["people"]["approver"], language)
    approver_page.goto(f"{base_url}/t/{bank.slug}/applications/queue")
    approver_page.get_by_role("link", name=reference).click()
    approver_page.select_option("#decision", "approve")
    approver_page.fill("#decide-reason", "经营现金流覆盖月供 2.1 倍" if language == "zh" else "cash flow covers 2.1x")
    approver_page.get_by_role("button", name=t["record"]).click()
    assert approver_page.locator("[data-state]").inner_text() == t["approved"]
    fits_on_a_phone(approver_page)
    screenshot(approver_page, f"application-approved-{language}")
    no_csp_violations(approver_page)
    with tenant_session(bank) as db:
        assert db.get(LoanApplication, application_id).state == "APPROVED"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_committee_votes_in_the_browser(browser, base_url, bank, setup, make_user, language):  # noqa: F811
    t = TEXT[language]
    officer = principal(setup["people"]["loan_officer"], bank, "loan_officer")
    members = [make_user("credit_committee_member", bank) for _ in range(3)]
    reviewer = principal(make_user("reviewer", bank), bank, "reviewer")
    with tenant_session(bank) as db, db.begin():
        with acting(officer, bank):
            bureau_consent(db, setup["customer_id"])  # the consent capture is walked in the first test
            application, _ = services.create_application(db, {
                "customer_id": setup["customer_id"], "product_id": setup["product_id"], "amount": "200000",
                "term_months": 24, "channel": "branch"})
            for event in (Event.PRESCREEN_PASS, Event.SCHEDULE_VISIT, Event.ANALYSE, Event.SUBMIT):
                transition(db, application, event, reason="browser walk")
        with acting(principal(members[0], bank, "credit_committee_member"), bank):
            committee = services.create_session(db, dt.date(2026, 12, 4),
                                                [principal(m, bank, "credit_committee_member").user_id for m in members])
        with acting(reviewer, bank):
            services.add_case(db, committee.id, application.id)
        session_id, application_id = committee.id, application.id
    choices = [("approve_with_conditions", "", "配偶共同签字" if language == "zh" else "spouse co-signs"),
               ("approve", "", ""), ("reject", "行业风险" if language == "zh" else "sector risk", "")]
    for username, (vote, comment, conditions) in zip(members, choices):
        page = phone_page(browser)
        log_in(page, base_url, bank, username, language)
        page.goto(f"{base_url}/t/{bank.slug}/applications/committee/{session_id}")
        page.select_option(f"#vote-{application_id}", vote)
        page.fill(f"#comment-{application_id}", comment)
        page.fill(f"#conditions-{application_id}", conditions)
        page.get_by_role("button", name=t["vote"]).click()
        assert page.locator(".notice").count() == 1
        no_csp_violations(page)
        last = page
    last.fill("#minutes", "1 case heard")
    last.get_by_role("button", name=t["close"]).click()
    fits_on_a_phone(last)
    screenshot(last, f"committee-closed-{language}")
    last.goto(f"{base_url}/t/{bank.slug}/applications/{application_id}")
    assert last.locator("[data-state]").inner_text() == t["conditions"]
    no_csp_violations(last)
