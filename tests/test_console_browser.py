"""The head-office console and the regulator portal in a real headless Chromium on a phone, in Chinese and
English, under the production CSP: the benchmarking dashboard (league table, SVG charts, drill-down), a
regulator download of CSV and XLSX through the page, and provisioning a bank through the form (a job on the
real broker) until it shows in the list."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pyotp
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, text

from creditfactory.db import SystemContext, engine_for, shared_session
from creditfactory.identity import services as identity_services, totp
from creditfactory.identity.models import User
from creditfactory.reporting import services
from creditfactory.tenancy.models import Tenant
from creditfactory.tenancy.schema import quote_schema, schema_name
from test_console import real_broker  # noqa: F401
from test_identity_admin_browser import TEXT as LOGIN, log_in
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, phone, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

PASSWORD = "console browser passphrase"
TEXT = {
    "zh": {"league": "排名表", "bank_trends": "的指标走势", "csv": "下载 CSV", "xlsx": "下载 XLSX",
           "provision": "开设", "slug": "简称（slug）", "name_zh": "名称（中文）", "name_en": "名称（英文）",
           "code": "法人编号", "province": "省"},
    "en": {"league": "League table", "bank_trends": "Trends of", "csv": "Download CSV", "xlsx": "Download XLSX",
           "provision": "Provision", "slug": "Short name (slug)", "name_zh": "Name (Chinese)",
           "name_en": "Name (English)", "code": "Legal-entity code", "province": "Province"},
}


@pytest.fixture
def person():
    """``person(role)``: a head-office or regulator user with a known password and an enrolled authenticator."""
    made = []

    def make(role: str) -> tuple[str, pyotp.TOTP]:
        username = f"con{uuid.uuid4().hex[:8]}"
        secret = pyotp.random_base32()
        with SystemContext("test: console browser users"), shared_session() as shared, shared.begin():
            user, _ = identity_services.create_user(shared, username, "王芳", password=PASSWORD)
            identity_services.grant(shared, username, role, None)
            user.totp_secret = totp._seal(user, secret)
            user.totp_enabled_at = dt.datetime.now(dt.timezone.utc)
        made.append(username)
        return username, pyotp.TOTP(secret)

    yield make
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_(made)))


@pytest.fixture(scope="module")
def books(tenant_factory):
    """Two banks with small synthetic books (different officer pools) and two days of snapshots each."""
    from creditfactory.reporting.synthetic import seed_tenant

    banks = [tenant_factory(), tenant_factory()]
    with SystemContext("test: console books"):
        for i, bank in enumerate(banks):
            seed_tenant(bank, loans=300, officers=4 + 8 * i, seed=0.1 * (i + 1))
            services.refresh_tenant(bank, as_of=dt.date.today() - dt.timedelta(days=2))
            services.refresh_tenant(bank)
    return banks


@pytest.fixture
def snapshots(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        services.refresh_tenant(tenant)
        services.refresh_tenant(tenant, as_of=dt.date.today() - dt.timedelta(days=2))
    yield
    with shared_session() as shared, shared.begin():
        for table in ("kpi_snapshot", "regulatory_snapshot"):
            shared.execute(text(f"DELETE FROM cf_shared.{table} WHERE tenant_slug IN (:a, :b)"),
                           {"a": tenant_a.slug, "b": tenant_b.slug})


def enter(page, base_url, language, username, authenticator):  # noqa: F811
    page.goto(f"{base_url}/lang/{language}?next=/login")
    log_in(page, base_url, username, PASSWORD, LOGIN[language], authenticator)
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_dashboard_league_table_charts_and_drill_down(phone, base_url, person, books, language):  # noqa: F811
    tenant_a, tenant_b = books
    enter(phone, base_url, language, *person("benchmarking_analyst"))
    phone.goto(f"{base_url}/head-office/benchmarks?metric=npl_ratio")
    assert TEXT[language]["league"] in phone.locator("#league-title").inner_text()
    league = phone.locator("#league tbody")
    assert league.get_by_role("link", name=tenant_a.slug).is_visible()
    assert league.get_by_role("link", name=tenant_b.slug).is_visible()
    charts = phone.locator("svg.chart")
    assert charts.count() == 2 and charts.first.is_visible() and charts.nth(1).is_visible()
    assert phone.locator("svg.chart line.reference").count() >= 3
    # Both banks have figures: a line each in the trend, a bar each in the distribution.
    assert phone.locator("svg.chart.trend polyline").count() == 2
    assert phone.locator("svg.chart.distribution rect").count() == 2
    fits_on_a_phone(phone)
    no_csp_violations(phone)
    screenshot(phone, f"console-benchmarks-{language}")
    league.get_by_role("link", name=tenant_a.slug).click()
    phone.wait_for_url(f"**/head-office/benchmarks/bank?tenant={tenant_a.slug}")
    assert TEXT[language]["bank_trends"] in phone.locator("h1").inner_text()
    assert phone.locator("svg.chart").count() == 20
    fits_on_a_phone(phone)
    no_csp_violations(phone)
    screenshot(phone, f"console-drill-down-{language}")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_regulator_downloads_csv_and_xlsx_through_the_page(phone, base_url, person, tenant_a, snapshots,  # noqa: F811
                                                           language):
    enter(phone, base_url, language, *person("regulator"))
    phone.goto(f"{base_url}/regulator/reports")
    phone.locator(f'input[name="tenant"][value="{tenant_a.slug}"]').check()
    with phone.expect_download() as csv_download:
        phone.get_by_role("button", name=TEXT[language]["csv"]).click()
    body = open(csv_download.value.path(), "rb").read().decode("utf-8-sig")
    assert f"{tenant_a.slug}:ratios" in body
    with phone.expect_download() as xlsx_download:
        phone.get_by_role("button", name=TEXT[language]["xlsx"]).click()
    sheet = load_workbook(io.BytesIO(open(xlsx_download.value.path(), "rb").read())).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))] == ["section", "item", "measure", "value"]
    fits_on_a_phone(phone)
    no_csp_violations(phone)
    screenshot(phone, f"regulator-reports-{language}")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_provision_a_bank_through_the_form(phone, base_url, person, real_broker, language):  # noqa: F811
    slug = f"b{uuid.uuid4().hex[:8]}"
    text_ = TEXT[language]
    try:
        enter(phone, base_url, language, *person("platform_admin"))
        phone.goto(f"{base_url}/head-office/tenants/new")
        phone.get_by_label(text_["slug"]).fill(slug)
        phone.get_by_label(text_["name_zh"]).fill("浏览器测试村镇银行")
        phone.get_by_label(text_["name_en"]).fill("Browser Test Village Bank")
        phone.get_by_label(text_["code"]).fill(f"LE-{slug}")
        phone.get_by_label(text_["province"], exact=True).fill("云南省")
        fits_on_a_phone(phone)
        phone.get_by_role("button", name=text_["provision"], exact=True).click()
        phone.wait_for_url("**/head-office/tenants/provisioning?id=*")
        assert phone.locator("#task-progress").is_visible()
        # The page reloads itself (meta refresh, no script) until the job is done.
        phone.wait_for_selector('#task-status[data-status="done"]', timeout=120_000)
        no_csp_violations(phone)
        screenshot(phone, f"console-provisioning-{language}")
        phone.goto(f"{base_url}/head-office/tenants")
        row = phone.locator(f"#tenant-{slug}")
        assert row.is_visible() and "active" in row.inner_text()
        fits_on_a_phone(phone)
        no_csp_violations(phone)
    finally:
        with engine_for("default").begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quote_schema(schema_name(slug))} CASCADE")
        with shared_session() as shared, shared.begin():
            shared.execute(delete(Tenant).where(Tenant.slug == slug))
