"""The talent pages in headless Chromium on a phone, in Chinese and English, under the production CSP: an
administrator opens an evaluation cycle, scores a loan officer on the competency anchors and proposes a promotion;
a promotion of an officer whose own NPL ratio is above the scorecard's gate is refused; a second administrator
approves on the approvals page and the officer's grade changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select, update

from applications_support import acting, principal, user_id_of
from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity import changes, totp
from creditfactory.identity.models import User
from creditfactory.lending.loans.models import LoanAccount
from creditfactory.lending.products import declared
from creditfactory.talent import competencies, scorecards, services
from creditfactory.talent.models import Employee, Evaluation, JobGrade
from test_applications_browser import log_in, phone_page
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401
from test_talent_scorecards import _loan

pytestmark = pytest.mark.browser

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"
TEXT = {
    "zh": {"continue": "继续", "open": "新建周期", "propose": "提交决定", "pending": "待复核", "applied": "已生效", "approve": "复核通过变更",
           "blocked": "不得晋级",
           "pay": "计算薪酬", "approve_here": "复核通过：王小明 的评定决定", "how": "计算过程", "above": "高于所有档位"},
    "en": {"continue": "Continue", "open": "Open cycle", "propose": "Propose decision",
           "pending": "Waiting for approval", "applied": "Applied", "approve": "Approve change",
           "blocked": "Promotion blocked", "pay": "Compute pay", "approve_here": "Approve decision for 王小明",
           "how": "How it was computed", "above": "above every band"},
}
LEVELS = {"credit_analysis": "2", "cross_checking": "2", "customer_development": "3", "compliance": "2",
          "digital_tools": "2"}


def enrol(username: str) -> pyotp.TOTP:
    """A village-bank administrator must pass a second factor: give the user an enrolled authenticator."""
    secret = pyotp.random_base32()
    with SystemContext("test: talent admins"), shared_session() as shared, shared.begin():
        user = shared.scalars(select(User).where(User.username == username)).one()
        user.totp_secret = totp._seal(user, secret)
        user.totp_enabled_at = dt.datetime.now(dt.timezone.utc)
    return pyotp.TOTP(secret)


def log_in_admin(page, base_url, bank, username, authenticator, language):  # noqa: F811
    log_in(page, base_url, bank, username, language)
    page.wait_for_url(f"{base_url}/t/{bank.slug}/login/totp")
    page.locator("#code").fill(authenticator.now())
    page.get_by_role("button", name=TEXT[language]["continue"]).click()


@pytest.fixture
def setup(tenant_factory, make_user):
    """A bank with the standard ladder and competency model, two AM-1 officers with loans (B's book is
    non-performing), the month's scorecards, and two administrators."""
    bank = tenant_factory(name_en="Talent Browser Bank")
    with CurrentActor.bind(Actor("test:talent", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)
        declared.apply_tenant_products(bank.slug, [
            {"code": "biz_operating", "template": "biz_operating", "template_version": 1}])
    people = {name: make_user(role, bank) for name, role in (
        ("maker", "tenant_admin"), ("checker", "tenant_admin"), ("a", "loan_officer"), ("b", "loan_officer"))}
    maker, checker = (principal(people[n], bank, "tenant_admin") for n in ("maker", "checker"))
    with tenant_session(bank) as session, session.begin():
        for propose in (services.propose_adoption, competencies.propose_adoption):
            with acting(maker, bank):
                request = propose(session, {})
            with acting(checker, bank):
                changes.approve(session, request.id)
        with acting(maker, bank):
            services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="Head office")
            for number, name in (("A", "王小明"), ("B", "赵大海")):
                services.hire(session, employee_no=number, name=name, org_unit_code="HO", grade_code="AM-1",
                              position="客户经理", hired_on=dt.date(2021, 3, 1), user_id=user_id_of(people[number.lower()]))
        with SystemContext("test: loans"):
            _loan(session, 1, user_id_of(people["a"]), dt.date(2026, 11, 5), "40000.00")
            _loan(session, 2, user_id_of(people["b"]), dt.date(2026, 11, 6), "30000.00")
        session.execute(update(LoanAccount).where(LoanAccount.reference == "L-2").values(risk_class="substandard",
                                                                                         dpd=100))
        scorecards.compute(session, "2026-11")
    people["authenticators"] = {name: enrol(people[name]) for name in ("maker", "checker")}
    return bank, people


@pytest.mark.parametrize("language", ["zh", "en"])
def test_evaluation_cycle_promotes_after_a_second_person_approves(browser, base_url, setup, language):  # noqa: F811
    bank, people = setup
    t = TEXT[language]
    page = phone_page(browser)
    log_in_admin(page, base_url, bank, people["maker"], people["authenticators"]["maker"], language)

    page.goto(f"{base_url}/t/{bank.slug}/talent/org")
    assert "王小明" in page.locator("[data-unit='HO']").inner_text()
    fits_on_a_phone(page)
    screenshot(page, f"talent-org-{language}")
    page.goto(f"{base_url}/t/{bank.slug}/talent/ladder")
    anchors = page.locator("[data-dimension='credit_analysis'] li")
    assert anchors.count() == 5
    third = {"zh": "独立重构复杂经营的报表并判断还款能力",
             "en": "Reconstructs statements of complex businesses and judges repayment capacity"}
    assert anchors.nth(2).inner_text() == third[language]
    fits_on_a_phone(page)
    screenshot(page, f"talent-ladder-{language}")

    page.goto(f"{base_url}/t/{bank.slug}/talent/scorecards?period=2026-11")
    assert t["blocked"] in page.locator("[data-scorecard='B']").inner_text()
    assert page.locator("[data-scorecard='A']").is_visible()
    page.get_by_role("button", name=t["pay"]).click()
    pay_b = page.locator("[data-pay='B']")
    pay_b.get_by_text(t["how"]).click()
    assert t["above"] in pay_b.inner_text()  # B's own NPL ratio is above every band of the NPL multiplier
    fits_on_a_phone(page)
    screenshot(page, f"talent-scorecards-{language}")

    page.goto(f"{base_url}/t/{bank.slug}/talent/cycles")
    page.fill("#code", f"Y2026-{language}")
    page.fill("#period", "2026")
    page.fill("#effective_date", "2027-01-01")
    page.get_by_role("button", name=t["open"]).click()
    page.wait_for_url(f"**/talent/cycles/Y2026-{language}")

    # A: scored on the anchors, promotion proposed; nothing changes yet.
    page.select_option("#employee_no", "A")
    page.fill("#exam_score", "85")
    page.fill("#kpi_score", "78")
    for code, level in LEVELS.items():
        page.select_option(f"#level_{code}", level)
    page.select_option("#decision", "promote")
    page.fill("#reason", "业绩达标" if language == "zh" else "targets met")
    page.get_by_role("button", name=t["propose"]).click()
    card = page.locator("[data-evaluation='A']")
    assert t["pending"] in card.inner_text() and "AM-1 → AM-2" in card.inner_text()
    assert page.get_by_role("button", name=t["approve_here"]).count() == 0  # nobody checks their own proposal
    fits_on_a_phone(page)
    screenshot(page, f"talent-cycle-proposed-{language}")

    # B: own NPL ratio above the gate, so the promotion is refused and nothing is recorded.
    page.select_option("#employee_no", "B")
    page.fill("#exam_score", "90")
    page.fill("#kpi_score", "90")
    for code, level in LEVELS.items():
        page.select_option(f"#level_{code}", level)
    page.select_option("#decision", "promote")
    page.get_by_role("button", name=t["propose"]).click()
    assert "quality gate" in page.locator(".alert").inner_text()
    assert page.locator("[data-evaluation='B']").count() == 0
    fits_on_a_phone(page)
    no_csp_violations(page)

    with tenant_session(bank) as db:
        evaluation = db.scalars(select(Evaluation)).one()
        a = db.scalars(select(Employee).where(Employee.employee_no == "A")).one()
        assert db.get(JobGrade, a.grade_id).code == "AM-1" and evaluation.status == "pending"
        # 100 × (2+2+3+2+2) / 25 = 44; 0.3 × 85 + 0.5 × 78 + 0.2 × 44 = 73.30
        assert str(evaluation.competency_score) == "44.00" and str(evaluation.total_score) == "73.30"

    checker = phone_page(browser)
    log_in_admin(checker, base_url, bank, people["checker"], people["authenticators"]["checker"], language)
    if language == "zh":
        # The checker approves on the cycle page itself ...
        checker.goto(f"{base_url}/t/{bank.slug}/talent/cycles/Y2026-{language}")
        checker.get_by_role("button", name=t["approve_here"]).click()
        checker.wait_for_url(f"**/talent/cycles/Y2026-{language}")
    else:
        # ... or on the approvals page with every other configuration change.
        checker.goto(f"{base_url}/t/{bank.slug}/admin/approvals")
        checker.get_by_role("button", name=f"{t['approve']} {evaluation.change_request_id}").click()
    checker.goto(f"{base_url}/t/{bank.slug}/talent/employees/A")
    assert "AM-2" in checker.locator("#current-grade").inner_text()
    fits_on_a_phone(checker)
    screenshot(checker, f"talent-career-promoted-{language}")
    checker.goto(f"{base_url}/t/{bank.slug}/talent/cycles/Y2026-{language}")
    assert t["applied"] in checker.locator("[data-evaluation='A']").inner_text()
    no_csp_violations(checker)

    with tenant_session(bank) as db:
        a = db.scalars(select(Employee).where(Employee.employee_no == "A")).one()
        assert db.get(JobGrade, a.grade_id).code == "AM-2" and a.grade_since == dt.date(2027, 1, 1)

    # The officer's own career page shows the new grade and the next grade's competency profile.
    officer = phone_page(browser)
    log_in(officer, base_url, bank, people["a"], language)
    officer.goto(f"{base_url}/t/{bank.slug}/talent/my-career")
    assert "AM-2" in officer.locator("#current-grade").inner_text()
    assert officer.locator("#tenure-progress").is_visible()
    fits_on_a_phone(officer)
    screenshot(officer, f"talent-my-career-{language}")
    no_csp_violations(officer)
