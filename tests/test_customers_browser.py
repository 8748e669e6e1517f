"""A loan officer registers a customer, uploads a site photo from the phone and records and withdraws a consent,
in real headless Chromium on a phone screen, in Chinese and English, under the production CSP."""

from __future__ import annotations

import pytest

from customer_samples import PNG, resident_id
from test_portal_browser import (bank, base_url, browser, fits_on_a_phone, no_csp_violations, officer,  # noqa: F401
                                 phone, screenshot, stays_local)

pytestmark = pytest.mark.browser

TEXT = {
    "zh": {"login": "登录", "user": "用户名", "password": "密码", "menu": "我的客户", "new": "新建客户",
           "name": "名称（与身份证或营业执照一致）", "id": "居民身份证号码（个人、农户）", "register": "登记客户",
           "id_error": "请输入有效的18位居民身份证号码", "doc_type": "资料类型", "photo": "现场照片", "file": "照片或PDF",
           "upload": "上传", "record": "新增授权", "save": "登记授权", "purpose": "用途", "scope": "授权内容", "form": "授权形式",
           "written": "书面同意", "signature": "或签名记录（电子签名编号）", "active": "有效", "reason": "撤回原因",
           "withdraw": "撤回", "withdrawn": "已撤回", "bureau": "征信查询"},
    "en": {"login": "Log in", "user": "Username", "password": "Password", "menu": "My customers", "new": "New customer",
           "name": "Name (as on the ID card or business licence)", "id": "Resident ID number (individuals and households)",
           "register": "Register customer", "id_error": "Enter a valid 18-character resident ID number",
           "doc_type": "Type of document", "photo": "Site photo", "file": "Photo or PDF", "upload": "Upload",
           "record": "Record a consent", "save": "Record consent", "purpose": "Purpose", "scope": "What the customer agreed to",
           "form": "Form of consent", "written": "Written", "signature": "Or signature record (e-signature reference)",
           "active": "Active", "reason": "Reason for withdrawal", "withdraw": "Withdraw", "withdrawn": "Withdrawn",
           "bureau": "Credit-bureau query"},
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_officer_works_a_customer_on_a_phone(phone, base_url, bank, officer, language, tmp_path):  # noqa: F811
    t = TEXT[language]
    prefix = f"{base_url}/t/{bank.slug}"
    phone.goto(f"{prefix}/lang/{language}?next=/login")
    phone.get_by_label(t["user"]).fill(officer)
    phone.get_by_label(t["password"], exact=True).fill("browser login passphrase")
    phone.get_by_role("button", name=t["login"]).click()
    phone.wait_for_url(f"{prefix}/account")

    phone.get_by_role("link", name=t["menu"], exact=True).click()
    phone.wait_for_url(f"{prefix}/customers")
    phone.locator("main").get_by_role("link", name=t["new"]).click()
    phone.get_by_label(t["name"]).fill("白云")
    number = resident_id()
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    phone.get_by_label(t["id"]).fill(wrong)
    phone.get_by_role("button", name=t["register"]).click()
    assert phone.get_by_text(t["id_error"]).is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, f"customer-new-error-{language}")

    phone.get_by_label(t["id"]).fill(number)
    phone.get_by_role("button", name=t["register"]).click()
    phone.wait_for_url(f"{prefix}/customers/*")
    assert phone.locator("[data-field=resident_id]").inner_text() == number

    photo = tmp_path / "shop.png"
    photo.write_bytes(PNG)
    phone.get_by_label(t["doc_type"]).select_option("site_photo")
    phone.get_by_label(t["file"]).set_input_files(str(photo))
    phone.get_by_role("button", name=t["upload"], exact=True).click()
    phone.wait_for_load_state()
    assert phone.locator("#documents ~ ul, section[aria-labelledby=documents] ul").get_by_text(t["photo"]).is_visible()

    phone.locator("summary", has_text=t["record"]).click()
    phone.get_by_label(t["purpose"]).select_option("bureau_query")
    phone.get_by_label(t["scope"]).fill("查询征信报告，用于贷款审批")
    phone.get_by_label(t["form"]).select_option("written")
    phone.get_by_label(t["signature"]).fill("ESIGN-0001")
    phone.get_by_role("button", name=t["save"], exact=True).click()
    phone.wait_for_load_state()
    consent = phone.locator("[data-consent=bureau_query]")
    assert consent.get_by_text(t["bureau"]).is_visible() and consent.get_by_text(t["active"]).is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, f"customer-page-{language}")

    consent.get_by_label(t["reason"]).fill("客户来电撤回")
    consent.get_by_role("button", name=t["withdraw"]).click()
    phone.wait_for_load_state()
    assert phone.locator("[data-consent=bureau_query] .badge").inner_text() == t["withdrawn"]
    stays_local(phone, base_url)
    no_csp_violations(phone)
