"""Product pages in a real headless Chromium on a phone, in Chinese and English, under the production CSP."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services as identity_services
from creditfactory.lending.products import declared
from creditfactory.testing.staff import STAFF_PASSWORD

from test_portal_browser import (base_url, browser, fits_on_a_phone, no_csp_violations, phone,  # noqa: F401
                                 screenshot, stays_local)

pytestmark = pytest.mark.browser
TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(name_zh="云南普洱茶乡村镇银行", name_en="Pu'er Tea Country Village Bank")
    with CurrentActor.bind(Actor("test:products-browser", ActorKind.SYSTEM)):
        catalogue = declared.load_folder(TENANTS_DIR)
        declared.publish_templates(catalogue, TENANTS_DIR)
        # The Pu'er file's own products; its regional ones come from a plugin, which this bank has not enabled.
        declared.apply_tenant_products(tenant.slug, [entry for entry in catalogue.products["puer"]
                                                     if "plugin_template" not in entry])
    return tenant


@pytest.fixture(scope="module")
def checker(bank):
    """A risk manager (approves configuration changes; no second factor required)."""
    username = "products_browser_risk"
    with SystemContext("test: staff"), shared_session() as shared, shared.begin():
        identity_services.create_user(shared, username, "王芳", password=STAFF_PASSWORD)
        identity_services.grant(shared, username, "risk_manager", bank.slug)
    return username


@pytest.mark.parametrize("language, products, diff_heading", [
    ("zh", "贷款产品", "相对总行模板的调整"), ("en", "Products", "Changes from the template")])
def test_product_pages_on_a_phone(phone, base_url, bank, checker, language, products, diff_heading):  # noqa: F811
    prefix = f"{base_url}/t/{bank.slug}"
    phone.goto(f"{prefix}/lang/{language}")
    phone.goto(f"{prefix}/login")
    phone.fill("input[name=username]", checker)
    phone.fill("input[name=password]", STAFF_PASSWORD)
    phone.locator("form button[type=submit]").click()
    phone.get_by_role("link", name=products, exact=True).click()
    assert phone.locator("h1").inner_text() == products
    fits_on_a_phone(phone)
    screenshot(phone, f"products-list-{language}")
    phone.goto(f"{prefix}/products/biz_operating")
    assert phone.get_by_role("heading", name=diff_heading).is_visible()
    assert phone.get_by_text("regulatory.entrusted_payment.personal_business_threshold").is_visible()
    fits_on_a_phone(phone)
    screenshot(phone, f"products-detail-{language}")
    phone.goto(f"{prefix}/products/yn_grass_loan")
    fits_on_a_phone(phone)
    no_csp_violations(phone)
    stays_local(phone, base_url)
