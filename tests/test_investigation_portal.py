"""Portal calculator and investigation worksheet: server-side recompute without JavaScript, saving, and a phone
browser in Chinese and English watching a failing cross-check turn to pass as the officer types."""

from __future__ import annotations

import copy
import re

import pytest

from creditfactory.lending.investigation.portal import flatten, unflatten
from creditfactory.testing.staff import csrf_token, log_in

from test_investigation_analysis import WORKSHEET
from test_investigation_api import make_application
from test_portal_browser import (  # noqa: F401 - fixtures
    base_url, browser, fits_on_a_phone, no_csp_violations, phone, screenshot, stays_local,
)

HTML = {"Accept": "text/html"}


def test_flatten_and_unflatten_round_trip():
    flat = flatten(WORKSHEET)
    assert flat["pnl.typical.lines.1.gross_margin"] == "0.30" and flat["seasonality.11"] == "good"
    back = unflatten({**flat, "csrf_token": "x", "action": "save", "evidence.withdrawals": " "})
    expected = copy.deepcopy(WORKSHEET)
    del expected["evidence"]["withdrawals"]
    assert back == {**expected, "loan": {k: str(v) for k, v in expected["loan"].items()},
                    "evidence": {**{k: str(v) for k, v in expected["evidence"].items() if k != "price_samples"},
                                 "price_samples": expected["evidence"]["price_samples"]}}
    assert unflatten({"seasonality.2": "bad"})["seasonality"] == ["typical", "typical", "bad"] + ["typical"] * 9


@pytest.fixture
def officer_client(app, tenant_a, make_user):
    client = app.test_client()
    assert log_in(client, f"/t/{tenant_a.slug}", make_user("loan_officer", tenant_a)).status_code == 302
    return client


def test_calculator_page(officer_client, tenant_a):
    prefix = f"/t/{tenant_a.slug}"
    page = officer_client.get(f"{prefix}/calculator?method=equal_installment&principal=100000&annual_rate=6.12"
                              f"&months=12&start=2026-01-15", headers=HTML).get_data(as_text=True)
    assert "8612.16" in page and "8102.16" in page and "3345.92" in page and "103345.92" in page
    bad = officer_client.get(f"{prefix}/calculator?method=bullet&principal=abc&annual_rate=6&months=12"
                             f"&start=2026-01-15", headers=HTML).get_data(as_text=True)
    assert 'class="alert"' in bad and "金额必须是数字" in bad
    assert "还款计划试算" in officer_client.get(f"{prefix}/", headers=HTML).get_data(as_text=True)  # menu link


def test_worksheet_without_javascript(officer_client, tenant_a):
    application_id = make_application(tenant_a)
    url = f"/t/{tenant_a.slug}/investigation/{application_id}"
    assert "贷前调查表" in officer_client.get(url, headers=HTML).get_data(as_text=True)
    form = {**flatten(WORKSHEET), "csrf_token": csrf_token(officer_client, url), "action": "analyse"}
    page = officer_client.post(url, data=form, headers=HTML).get_data(as_text=True)
    assert re.search(r'data-check="EQUITY_CHECK" data-passed="false"', page)
    assert "26706.42" in page  # the maximum loan
    form["evidence.withdrawals"] = "20000"  # expected equity 50000 + 70000 − 20000 = 100000: the check passes
    page = officer_client.post(url, data=form, headers=HTML).get_data(as_text=True)
    assert re.search(r'data-check="EQUITY_CHECK" data-passed="true"', page)
    assert 'value="20000"' in page  # the form keeps what was typed
    # The worksheet's own expense category "food" has no form field: it rides along hidden and is kept.
    assert 'type="hidden" name="pnl.typical.household_expenses.food" value="1500"' in page
    saved = officer_client.post(url, data={**form, "action": "save"}, headers=HTML)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("?saved=1")
    page = officer_client.get(saved.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "已保存为第1版" in page and 'name="base_version" value="1"' in page
    stale = officer_client.post(url, data={**form, "action": "save", "base_version": "0"}, headers=HTML)
    assert stale.status_code == 409
    bad = officer_client.post(url, data={**form, "business_balance_sheet.cash_on_hand": "很多"}, headers=HTML)
    assert bad.status_code == 422 and "cash_on_hand must be a number" in bad.get_data(as_text=True)


def test_live_endpoint_needs_the_csrf_token(officer_client, tenant_a):
    application_id = make_application(tenant_a)
    url = f"/t/{tenant_a.slug}/investigation/{application_id}"
    token = csrf_token(officer_client, url)
    assert officer_client.post(f"{url}/live", data=flatten(WORKSHEET)).status_code == 400
    fragment = officer_client.post(f"{url}/live", data=flatten(WORKSHEET), headers={"X-CSRF-Token": token})
    assert fragment.status_code == 200 and 'data-check="EQUITY_CHECK"' in fragment.get_data(as_text=True)


# --- in a phone browser --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


@pytest.fixture
def field_officer(bank):
    import uuid

    from sqlalchemy import delete

    from creditfactory.db import SystemContext, shared_session
    from creditfactory.identity import services
    from creditfactory.identity.models import User

    username = f"officer{uuid.uuid4().hex[:8]}"
    with SystemContext("test: worksheet browser"), shared_session() as shared, shared.begin():
        services.create_user(shared, username, "王芳", password="browser login passphrase")
        services.grant(shared, username, "loan_officer", bank.slug)
    yield username
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username == username))


@pytest.mark.browser
@pytest.mark.parametrize("language, title, failed, passed", [("zh", "贷前调查表", "未通过", "通过"),
                                                               ("en", "Investigation worksheet", "Fail", "Pass")])
def test_worksheet_live_feedback_on_a_phone(phone, base_url, bank, field_officer, language, title, failed, passed):
    application_id = make_application(bank)
    phone.goto(f"{base_url}/t/{bank.slug}/lang/{language}?next=/login")
    phone.locator('input[name="username"]').fill(field_officer)
    phone.locator('input[name="password"]').fill("browser login passphrase")
    phone.locator('form button[type="submit"]').click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/account")
    phone.goto(f"{base_url}/t/{bank.slug}/investigation/{application_id}")
    assert phone.get_by_role("heading", name=title).is_visible()
    values = flatten(WORKSHEET)
    # The form names the typical month's living costs "living" (the worksheet's expense keys are free).
    values["pnl.typical.household_expenses.living"] = values.pop("pnl.typical.household_expenses.food")
    del values["pnl.good.lines.0.name"], values["pnl.bad.lines.0.name"]  # good and bad months have one line, unnamed
    for name, value in values.items():
        field = phone.locator(f'[name="{name}"]')
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    # Answers to earlier keystrokes arrive while typing; the panel is final once it shows the whole sheet's
    # maximum loan (2300 × 11.611489 = 26706.42, see test_investigation_analysis).
    from playwright.sync_api import expect

    expect(phone.locator('#results [data-value="max-loan"]')).to_have_text("26706.42")
    equity = phone.locator('#results [data-check="EQUITY_CHECK"]')
    assert equity.get_attribute("data-passed") == "false"
    assert equity.locator("td").last.inner_text() == failed
    screenshot(phone, f"worksheet-failing-{language}")
    # Withdrawals of 20000 instead of 30000: expected equity 50000 + 70000 − 20000 = 100000, as reconstructed.
    phone.locator('[name="evidence.withdrawals"]').fill("20000")
    expect(equity).to_have_attribute("data-passed", "true")
    assert equity.locator("td").last.inner_text() == passed
    fits_on_a_phone(phone)
    screenshot(phone, f"worksheet-passing-{language}")
    stays_local(phone, base_url)
    no_csp_violations(phone)


@pytest.mark.browser
@pytest.mark.parametrize("language, button, interest", [("zh", "试算", "利息"), ("en", "Calculate", "Interest")])
def test_calculator_on_a_phone(phone, base_url, bank, field_officer, language, button, interest):
    phone.goto(f"{base_url}/t/{bank.slug}/lang/{language}?next=/login")
    phone.locator('input[name="username"]').fill(field_officer)
    phone.locator('input[name="password"]').fill("browser login passphrase")
    phone.locator('form button[type="submit"]').click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/account")
    phone.goto(f"{base_url}/t/{bank.slug}/calculator")
    phone.locator('[name="start"]').fill("2026-01-15")
    phone.get_by_role("button", name=button).click()
    table = phone.locator("table.numbers")
    table.wait_for()
    assert table.locator("thead").inner_text().count(interest) == 1
    first = table.locator("tbody tr").first.inner_text().split()
    # 100000 at 6.12 % over 12 months (the form's defaults): 8102.16 principal + 510.00 interest
    assert first[1:] == ["2026-02-15", "8102.16", "510.00", "8612.16", "91897.84"]
    assert "3345.92" in table.locator("tfoot").inner_text()
    fits_on_a_phone(phone)
    screenshot(phone, f"calculator-{language}")
    stays_local(phone, base_url)
    no_csp_violations(phone)
