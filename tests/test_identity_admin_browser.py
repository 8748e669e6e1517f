"""Administration in a real headless Chromium on a phone, in Chinese and English, under the production CSP:
administrator A creates a user and proposes a role, administrator B approves it on the approvals page, and the new
user logs in, must change the one-time password and then sees the menu of their role."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pyotp
import pytest
from sqlalchemy import delete, select

from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services, totp
from creditfactory.identity.models import User
from test_portal_browser import (bank, base_url, browser, fits_on_a_phone, no_csp_violations, phone,  # noqa: F401
                                 screenshot, stays_local)

pytestmark = pytest.mark.browser
PASSWORD = "browser admin passphrase"

TEXT = {
    "zh": {"username": "用户名", "password": "密码", "log_in": "登录", "code": "动态口令", "continue": "继续",
           "users": "用户与角色", "name": "姓名", "first_role": "首个角色", "create": "创建用户", "log_out": "退出登录",
           "approvals": "待复核", "approve": "复核通过变更", "current": "当前密码", "new": "新密码",
           "again": "再次输入新密码", "change": "修改密码", "profile": "我的资料", "role": "客户经理",
           "officer": "客户经理"},
    "en": {"username": "Username", "password": "Password", "log_in": "Log in", "code": "code", "continue": "Continue",
           "users": "Users and roles", "name": "Name", "first_role": "First role", "create": "Create user",
           "log_out": "Log out", "approvals": "Approvals", "approve": "Approve change", "current": "Current password",
           "new": "New password", "again": "New password again", "change": "Change password",
           "profile": "My profile", "role": "Loan officer", "officer": "Loan officer"},
}


@pytest.fixture
def admins(bank):  # noqa: F811
    """Two administrators of ``bank`` with a known password and an enrolled authenticator each."""
    made = []
    for _ in range(2):
        username = f"admin{uuid.uuid4().hex[:8]}"
        secret = pyotp.random_base32()
        with SystemContext("test: browser admins"), shared_session() as shared, shared.begin():
            user, _ = services.create_user(shared, username, "管理员", password=PASSWORD)
            services.grant(shared, username, "tenant_admin", bank.slug)
            user.totp_secret = totp._seal(user, secret)
            user.totp_enabled_at = dt.datetime.now(dt.timezone.utc)
        made.append((username, pyotp.TOTP(secret)))
    yield made
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_([name for name, _ in made])))


def log_in(page, base: str, username: str, password: str, text: dict[str, str], authenticator=None) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(text["username"]).fill(username)
    page.get_by_label(text["password"], exact=True).fill(password)
    page.get_by_role("button", name=text["log_in"]).click()
    if authenticator is not None:
        page.wait_for_url(f"{base}/login/totp")
        page.locator("#code").fill(authenticator.now())
        page.get_by_role("button", name=text["continue"]).click()


def log_out(page, base: str, text: dict[str, str]) -> None:
    page.goto(f"{base}/account")
    page.get_by_role("button", name=text["log_out"], exact=True).click()
    page.wait_for_url(f"{base}/login")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_create_approve_and_first_login_on_a_phone(phone, base_url, bank, admins, language):  # noqa: F811
    text = TEXT[language]
    base = f"{base_url}/t/{bank.slug}"
    (maker, maker_app), (checker, checker_app) = admins
    newcomer = f"new{uuid.uuid4().hex[:8]}"
    try:
        phone.goto(f"{base}/lang/{language}?next=/login")
        log_in(phone, base, maker, PASSWORD, text, maker_app)
        phone.get_by_role("link", name=text["users"]).click()
        phone.wait_for_url(f"{base}/admin/users")
        phone.get_by_label(text["username"]).fill(newcomer)
        phone.get_by_label(text["name"], exact=True).fill("张伟")
        phone.get_by_label(text["first_role"]).select_option("loan_officer")
        phone.get_by_role("button", name=text["create"]).click()
        one_time = phone.locator("code.secret").inner_text().strip()
        assert len(one_time) >= 12
        fits_on_a_phone(phone)
        screenshot(phone, f"admin-users-{language}")
        no_csp_violations(phone)
        log_out(phone, base, text)

        log_in(phone, base, checker, PASSWORD, text, checker_app)
        phone.get_by_role("link", name=text["approvals"]).click()
        phone.wait_for_url(f"{base}/admin/approvals")
        change = phone.locator("article.change", has_text=f"{newcomer}/loan_officer")
        assert change.get_by_text("membership.grant").is_visible()
        fits_on_a_phone(phone)
        screenshot(phone, f"admin-approvals-{language}")
        change.get_by_role("button", name=re.compile(text["approve"])).click()
        phone.wait_for_url(re.compile(r".*/admin/approvals\?done=approved$"))
        no_csp_violations(phone)
        log_out(phone, base, text)

        log_in(phone, base, newcomer, one_time, text)
        phone.wait_for_url(f"{base}/account/password")
        phone.get_by_label(text["current"]).fill(one_time)
        phone.get_by_label(text["new"], exact=True).fill("my very own passphrase")
        phone.get_by_label(text["again"]).fill("my very own passphrase")
        phone.get_by_role("button", name=text["change"]).click()
        phone.wait_for_url(f"{base}/account")
        assert phone.get_by_role("heading", name=text["profile"]).is_visible()
        assert phone.locator("main").get_by_text(text["officer"]).is_visible()
        menu = phone.locator("nav.menu")
        assert menu.get_by_role("link", name=text["profile"]).is_visible()
        assert menu.get_by_role("link", name=text["users"]).count() == 0
        assert menu.get_by_role("link", name=text["approvals"]).count() == 0
        fits_on_a_phone(phone)
        screenshot(phone, f"admin-newcomer-{language}")
        stays_local(phone, base_url)
        no_csp_violations(phone)
    finally:
        with shared_session() as shared, shared.begin():
            shared.execute(delete(User).where(User.username == newcomer))
    with shared_session() as shared:
        assert shared.scalar(select(User).where(User.username == newcomer)) is None
