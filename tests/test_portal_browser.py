"""The portal shell and API docs in a real headless Chromium on a phone-sized screen (375 x 812), in Chinese and
English, under the production Content-Security-Policy: any violation fails the test."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from creditfactory.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PHONE = {"width": 375, "height": 812}

#: Horizontal overflow of the page and the smallest font size of any visible text, in CSS pixels.
LAYOUT_PROBE = """() => {
  const sizes = [...document.querySelectorAll("body *")]
    .filter(el => el.offsetParent !== null && [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
    .map(el => parseFloat(getComputedStyle(el).fontSize));
  return {scrollWidth: document.documentElement.scrollWidth, smallestFont: Math.min(...sizes)};
}"""


#: Reports every Content-Security-Policy violation of every page to the test (installed before any page script).
CSP_SENSOR = """document.addEventListener("securitypolicyviolation", event => window.cspViolation({
  directive: event.effectiveDirective, blocked: event.blockedURI, source: event.sourceFile, line: event.lineNumber,
  sample: event.sample}));"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def base_url(cf_settings):
    """The app served on 127.0.0.1 at a free port by werkzeug, in a thread."""
    server = make_server("127.0.0.1", 0, create_app(cf_settings, testing=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def bank(tenant_factory):
    # A long real-world name: it must wrap on a phone, not widen the page.
    return tenant_factory(name_zh="云南普洱思茅北银村镇银行股份有限公司",
                          name_en="Yunnan Pu'er Simao Beiyin Village Bank Co., Ltd.")


@pytest.fixture
def phone(browser, base_url):
    """A phone-sized page that records every URL it requests and every CSP violation (events and console)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
    page = context.new_page()
    page.requested = []
    page.csp_violations = []
    page.on("request", lambda request: page.requested.append(request.url))
    # Bindings and init scripts are installed by the browser itself, so the policy under test cannot block them.
    context.expose_function("cspViolation", lambda violation: page.csp_violations.append(violation))
    context.add_init_script(CSP_SENSOR)
    page.on("console", lambda message: page.csp_violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    yield page
    context.close()


def no_csp_violations(page) -> None:
    # Violation events are dispatched asynchronously: let the page settle before reading them.
    page.wait_for_load_state("networkidle")
    assert page.csp_violations == []


def fits_on_a_phone(page) -> None:
    layout = page.evaluate(LAYOUT_PROBE)
    assert layout["scrollWidth"] <= PHONE["width"], layout
    assert layout["smallestFont"] >= 14, layout


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def stays_local(page, base_url: str) -> None:
    outside = [url for url in page.requested if not url.startswith((base_url, "data:"))]
    assert outside == []


def test_tenant_portal_in_chinese_then_english(phone, base_url, bank):
    phone.goto(f"{base_url}/t/{bank.slug}/")
    header = phone.locator(".site-header .brand")
    assert header.inner_text() == bank.name_zh
    assert phone.locator("main").get_by_text("正常营业").is_visible()
    assert phone.locator("html").get_attribute("lang") == "zh-Hans-CN"
    fits_on_a_phone(phone)
    screenshot(phone, "portal-tenant-zh")

    phone.get_by_role("link", name="EN", exact=True).click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/")
    assert header.inner_text() == bank.name_en
    assert phone.locator("main").get_by_text("Open for business").is_visible()
    assert phone.locator("html").get_attribute("lang") == "en"
    assert phone.get_by_role("link", name="EN", exact=True).get_attribute("aria-current") == "true"
    fits_on_a_phone(phone)
    screenshot(phone, "portal-tenant-en")

    phone.get_by_role("link", name="中文", exact=True).click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/")
    assert header.inner_text() == bank.name_zh
    stays_local(phone, base_url)
    no_csp_violations(phone)


def test_head_office_home_on_a_phone(phone, base_url):
    phone.goto(f"{base_url}/")
    assert phone.locator(".site-header .brand").inner_text() == "Credit Factory 总行"
    fits_on_a_phone(phone)
    screenshot(phone, "portal-head-office-zh")
    phone.get_by_role("link", name="API 文档").click()
    phone.wait_for_selector(".swagger-ui .info .title")
    assert "Credit Factory API" in phone.locator(".swagger-ui .info .title").inner_text()
    assert phone.locator(".opblock-summary-path", has_text="/api/v1/tenant").count() >= 1
    screenshot(phone, "api-docs")
    stays_local(phone, base_url)
    no_csp_violations(phone)


def test_api_docs_try_it_out_under_a_tenant(phone, base_url, bank):
    phone.goto(f"{base_url}/t/{bank.slug}/api/v1/docs")
    operation = phone.locator(".opblock", has=phone.locator(".opblock-summary-path", has_text="/api/v1/tenant"))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    live.locator(".response-col_status").wait_for()
    assert live.locator(".response-col_status").inner_text().strip() == "200"
    assert f"{base_url}/t/{bank.slug}/api/v1/tenant" in phone.requested
    assert bank.slug in live.locator(".response-col_description").inner_text()
    stays_local(phone, base_url)
    no_csp_violations(phone)


def test_csp_sensor_sees_a_violation(phone, base_url):
    # Guards the guard: an inline style attribute set by script is refused by the policy and must be reported.
    phone.goto(f"{base_url}/")
    phone.evaluate("document.body.setAttribute('style', 'color: red')")
    phone.wait_for_timeout(200)
    assert any("style-src" in str(violation) for violation in phone.csp_violations), phone.csp_violations


def test_error_page_on_a_phone(phone, base_url):
    response = phone.goto(f"{base_url}/t/nosuchbank/")
    assert response.status == 404
    assert phone.get_by_role("heading", name="页面不存在").is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, "portal-error-zh")
    no_csp_violations(phone)


@pytest.fixture
def officer(bank):
    """A loan officer of ``bank`` with a known password, committed (the served app has its own connections)."""
    import uuid

    from sqlalchemy import delete

    from creditfactory.db import SystemContext, shared_session
    from creditfactory.identity import services
    from creditfactory.identity.models import User

    username = f"officer{uuid.uuid4().hex[:8]}"
    with SystemContext("test: browser login"), shared_session() as shared, shared.begin():
        services.create_user(shared, username, "王芳", password="browser login passphrase")
        services.grant(shared, username, "loan_officer", bank.slug)
    yield username
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username == username))


@pytest.mark.parametrize("language, login, profile, role", [("zh", "登录", "我的资料", "客户经理"),
                                                             ("en", "Log in", "My profile", "Loan officer")])
def test_staff_login_through_the_form_on_a_phone(phone, base_url, bank, officer, language, login, profile, role):
    phone.goto(f"{base_url}/t/{bank.slug}/lang/{language}?next=/login")
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/login")
    assert phone.get_by_role("heading", name=login).is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, f"login-{language}")
    phone.get_by_label("用户名" if language == "zh" else "Username").fill(officer)
    phone.get_by_label("密码" if language == "zh" else "Password", exact=True).fill("browser login passphrase")
    phone.get_by_role("button", name=login).click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/account")
    assert phone.get_by_role("heading", name=profile).is_visible()
    assert phone.locator("main").get_by_text(role).is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, f"profile-{language}")
    stays_local(phone, base_url)
    no_csp_violations(phone)


@pytest.mark.parametrize("language, sessions_heading, everywhere, setup", [
    ("zh", "我的登录会话", "退出所有会话", "设置第二重验证（身份验证器应用）"),
    ("en", "Where I am logged in", "Log out everywhere", "Set up a second factor (authenticator app)")])
def test_profile_sessions_and_second_factor_on_a_phone(phone, base_url, bank, officer, language, sessions_heading,
                                                       everywhere, setup):
    phone.goto(f"{base_url}/t/{bank.slug}/lang/{language}?next=/login")
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/login")
    phone.get_by_label("用户名" if language == "zh" else "Username").fill(officer)
    phone.get_by_label("密码" if language == "zh" else "Password", exact=True).fill("browser login passphrase")
    phone.get_by_role("button", name="登录" if language == "zh" else "Log in").click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/account")
    assert phone.get_by_role("heading", name=sessions_heading).is_visible()
    assert phone.locator(".sessions li").count() >= 1
    fits_on_a_phone(phone)
    screenshot(phone, f"profile-sessions-{language}")
    phone.get_by_role("link", name=setup).click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/account/totp")
    assert phone.locator("code.secret").count() == 2
    fits_on_a_phone(phone)
    screenshot(phone, f"self-enrol-{language}")
    phone.go_back()
    phone.get_by_role("button", name=everywhere).click()
    phone.wait_for_url(f"{base_url}/t/{bank.slug}/login")
    phone.goto(f"{base_url}/t/{bank.slug}/account")
    assert phone.url.startswith(f"{base_url}/t/{bank.slug}/login?next=")
    stays_local(phone, base_url)
    no_csp_violations(phone)
