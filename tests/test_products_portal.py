"""Product pages in zh and en: list, detail with the diff, propose-override form, approval by a second person."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.lending.products import declared

from test_products_api import log_in_person

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"


def html(language: str) -> dict[str, str]:
    return {"Accept": "text/html", "Accept-Language": "zh-CN" if language == "zh" else "en"}


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(name_en="Products Portal Bank")
    with CurrentActor.bind(Actor("test:products-portal", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)
        # The Pu'er file's own products, and its regional 草贷 declared with the Yunnan plugin's terms in full (this
        # bank has no plugin enabled).
        import creditfactory_plugin_yunnan_agri as yunnan

        grass = {t.code: t for t in yunnan.register_product_templates({})}["yn_grass_loan"]
        entries = [entry for entry in declared.load_folder(TENANTS_DIR).products["puer"] if "plugin_template" not in entry]
        entries.append({"code": grass.code, "name_zh": grass.name_zh, "name_en": grass.name_en, "terms": dict(grass.terms)})
        declared.apply_tenant_products(tenant.slug, entries)
    return tenant


@pytest.mark.parametrize("language, texts", [
    ("zh", ["贷款产品", "草贷", "本行特色产品", "总行模板 biz_operating 第 1 版"]),
    ("en", ["Products", "Grass loan (pasture planting)", "Regional product of this bank",
            "Head-office template biz_operating v1"]),
])
def test_list_and_detail_with_the_diff(app, bank, make_user, language, texts):
    http = app.test_client()
    log_in_person(http, bank, make_user("loan_officer", bank))
    prefix = f"/t/{bank.slug}"
    http.get(f"{prefix}/lang/{language}")
    page = http.get(f"{prefix}/products", headers=html(language))
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for text in texts:
        assert text in body
    detail = http.get(f"{prefix}/products/biz_operating", headers=html(language)).get_data(as_text=True)
    assert "amount.max" in detail and "regulatory.entrusted_payment.personal_business_threshold" in detail
    assert ("受托支付起点" if language == "zh" else "Entrusted payment above") in detail
    # A loan officer reads but is told proposing needs the configure permission.
    form = http.get(f"{prefix}/products/biz_operating/propose", headers=html(language)).get_data(as_text=True)
    assert ("配置贷款产品" if language == "zh" else "permission to configure products") in form
    assert http.get(f"{prefix}/products/nothing", headers=html(language)).status_code == 404


def test_propose_an_override_and_a_second_person_approves(app, bank, make_user):
    prefix = f"/t/{bank.slug}"
    maker = app.test_client()
    log_in_person(maker, bank, make_user("tenant_admin", bank))
    maker.get(f"{prefix}/lang/en")
    url = f"{prefix}/products/farm_household/propose"
    form = maker.get(url, headers=html("en")).get_data(as_text=True)
    assert 'value="300000"' in form  # the current largest amount is prefilled
    loose = maker.post(url, headers=html("en"), data={"csrf_token": csrf(form), "amount_max": "900000"})
    assert loose.status_code == 422 and "amount.max" in loose.get_data(as_text=True)
    done = maker.post(url, headers=html("en"), data={"csrf_token": csrf(form), "amount_max": "200000",
                                                      "entrusted_threshold": "250000"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/products/farm_household?proposed=1")
    detail = maker.get(f"{prefix}/products/farm_household?proposed=1", headers=html("en")).get_data(as_text=True)
    assert "a second person approves it" in detail and "another person must approve it" in detail
    change_id = int(re.search(r"products/changes/(\d+)/decision", detail)[1]) if "decision" in detail else None
    assert change_id is None  # the maker gets no approve button
    # The maker cannot approve their own change even by posting the form.
    own = re.search(r"#(\d+) · product.update", detail)[1]
    refused = maker.post(f"{prefix}/products/changes/{own}/decision", headers=html("en"),
                         data={"csrf_token": csrf(form), "decision": "approve", "code": "farm_household"})
    assert refused.status_code == 403

    checker = app.test_client()
    log_in_person(checker, bank, make_user("risk_manager", bank))
    checker.get(f"{prefix}/lang/zh")
    page = checker.get(f"{prefix}/products/farm_household", headers=html("zh")).get_data(as_text=True)
    assert "复核通过" in page
    approved = checker.post(f"{prefix}/products/changes/{own}/decision", headers=html("zh"),
                            data={"csrf_token": csrf(page), "decision": "approve", "code": "farm_household"})
    assert approved.status_code == 302
    after = checker.get(f"{prefix}/products/farm_household", headers=html("zh")).get_data(as_text=True)
    assert "v2" in after and "已替代" in after and "200000" in after


def test_a_product_made_before_terms_existed_is_listed_without_them(app, tenant_factory, make_user):
    from creditfactory.db import tenant_session
    from creditfactory.lending.products.models import Product

    bank = tenant_factory()
    with tenant_session(bank) as db, db.begin():
        db.add(Product(code="old_loan", version=1, name_zh="旧产品", name_en="Old loan"))
    http = app.test_client()
    log_in_person(http, bank, make_user("loan_officer", bank))
    http.get(f"/t/{bank.slug}/lang/en")
    page = http.get(f"/t/{bank.slug}/products", headers=html("en"))
    assert page.status_code == 200 and "None recorded: a product made before terms existed" in page.get_data(as_text=True)
