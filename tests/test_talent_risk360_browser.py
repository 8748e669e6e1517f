"""The employee 360 drill-down in a phone browser (zh and en) under the production CSP: a compliance officer computes
the month, finds the yellow employee on the dashboard, opens them and unfolds a hit down to the loan behind it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from creditfactory.audit.models import AuditEntry
from creditfactory.db import tenant_session
from test_applications_browser import log_in, phone_page
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401
from test_talent_risk360 import PERIOD, bank, staffed  # noqa: F401

pytestmark = pytest.mark.browser

TEXT = {
    "zh": {"title": "员工360风险视图", "compute": f"立即计算 {PERIOD}", "yellow": "黄色", "npl": "经办贷款不良率",
           "same": "按命中记录重新计算：一致。", "import": "导入外部数据", "do_import": "导入",
           "refused": "文件被拒绝：未导入任何数据"},
    "en": {"title": "Employee 360 risk view", "compute": f"Compute {PERIOD} now", "yellow": "Yellow",
           "npl": "NPL ratio of the loans originated", "same": "Recomputed from its hits: the same.",
           "import": "Import outside signals", "do_import": "Import", "refused": "File refused: nothing was imported"},
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_compliance_officer_drills_down_to_the_evidence(browser, base_url, bank, staffed, make_user,  # noqa: F811
                                                        language):
    t = TEXT[language]
    officer = make_user("compliance_officer", bank)
    page = phone_page(browser)
    log_in(page, base_url, bank, officer, language)
    page.goto(f"{base_url}/t/{bank.slug}/employee-risk?period={PERIOD}")
    assert page.locator("h1").inner_text() == t["title"]
    page.get_by_role("button", name=t["compute"]).click()
    card = page.locator('[data-employee="A"]')
    assert t["yellow"] in card.inner_text() and "40.09" in card.inner_text()
    fits_on_a_phone(page)
    screenshot(page, f"risk360-dashboard-{language}")
    no_csp_violations(page)

    card.get_by_role("link").click()
    assert page.locator("#total").inner_text() == "40.09"
    assert page.locator("#level").inner_text() == t["yellow"]
    assert t["same"] in page.inner_text("main")
    hit = page.locator('[data-indicator="risk.npl_ratio"]')
    assert t["npl"] in hit.locator("summary").inner_text()
    assert not hit.locator(".evidence").is_visible()
    hit.locator("summary").click()
    assert "L-1" in hit.locator(".evidence").inner_text()
    fits_on_a_phone(page)
    screenshot(page, f"risk360-employee-{language}")
    no_csp_violations(page)
    with tenant_session(bank) as session:
        views = session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "employee_risk.view")
                                .order_by(AuditEntry.seq)).all()
    assert views[-1] == "A" and PERIOD in views

    # B never authorised bureau checks: the upload is refused row by row, on the phone.
    page.goto(f"{base_url}/t/{bank.slug}/employee-risk?period={PERIOD}")
    page.get_by_role("link", name=t["import"]).click()
    page.set_input_files("#file", files=[{"name": "bureau.csv", "mimeType": "text/csv", "buffer": (
        f"employee_no,period,indicator,value,evidence\nB,{PERIOD},risk.lender_count,5,x\n").encode()}])
    page.get_by_role("button", name=t["do_import"], exact=True).click()
    errors = page.locator("#import-errors")
    assert t["refused"] in errors.inner_text() and "row 2" in errors.inner_text()
    fits_on_a_phone(page)
    no_csp_violations(page)
