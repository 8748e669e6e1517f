"""The plugin host: discovery through entry points, allow-list and kill switch, per-bank enablement and
configuration, isolation of failing and slow plugins, and every hook exercised."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import types
from decimal import Decimal
from pathlib import Path

import marshmallow as ma
import pytest
from click.testing import CliRunner
from flask import Blueprint
from sqlalchemy import select

from creditfactory import hookimpl
from creditfactory.cli import cli
from creditfactory.db import CurrentTenant, shared_session
from creditfactory.plugins import hookspecs
from creditfactory.plugins.host import KILL_SWITCH, PluginHost
from creditfactory.plugins.models import PluginFailure
from creditfactory.plugins.types import IndustryProfile, PluginConfig
from creditfactory.web.access import public

ROOT = Path(__file__).resolve().parents[1]
FLAT = (Decimal(1),) * 12
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "creditfactory_spec"))


def plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module named ``name`` whose hooks are the given functions."""
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        function.__name__ = hook
        setattr(module, hook, hookimpl(function))
    return module


class TeaConfig(ma.Schema):
    price_index_url = ma.fields.Url(required=True)
    margin_adjustment = ma.fields.Decimal(load_default=Decimal("0"), as_string=True,
                                          validate=ma.validate.Range(min=Decimal("-0.2"), max=Decimal("0.2")))


def tea_plugin():
    def plugin_config():
        return PluginConfig(title="普洱茶 / Pu'er tea", schema=TeaConfig)

    def register_industry_profiles(config):
        margin = Decimal("0.40") + Decimal(config.get("margin_adjustment", "0"))
        return [IndustryProfile("tea_growing", "茶叶种植", "Tea growing", margin, Decimal("3"), FLAT, "test")]

    return plugin("tea", plugin_config=plugin_config, register_industry_profiles=register_industry_profiles)


TEA_CONFIG = {"price_index_url": "https://data.example.cn/puer.csv"}


# --- architecture ---------------------------------------------------------------------------------------------------

def test_every_hookspec_has_a_test_and_a_documentation_entry():
    source = Path(__file__).read_text(encoding="utf-8")
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for hook in HOOKS:
        assert f"def test_hook_{hook}" in source, f"hook {hook} has no test_hook_{hook}"
        assert f"### `{hook}" in guide, f"hook {hook} is not documented in docs/plugins.md"


def test_the_platforms_own_tests_load_no_installed_plugin(cf_settings):
    assert cf_settings.plugins == ()
    assert all(info.builtin for info in PluginHost().plugins.values())


# --- discovery ------------------------------------------------------------------------------------------------------

@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Install distributions with entry points in the group creditfactory.plugins (real metadata on sys.path)."""
    def install(dist: str, name: str, module: str, body: str) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"  # dist-info folders name the project with "_"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[creditfactory.plugins]\n{name} = {module}\n")

    monkeypatch.syspath_prepend(str(tmp_path))
    yield install
    for module in [m for m in sys.modules if m.startswith("cfp_")]:
        del sys.modules[module]


GOOD = """
from decimal import Decimal
from creditfactory import hookimpl
from creditfactory.plugins.types import IndustryProfile

@hookimpl
def register_industry_profiles():
    return [IndustryProfile("crayfish", "小龙虾养殖", "Crayfish farming", Decimal("0.3"), Decimal("2"),
                            (Decimal(1),) * 12)]
"""


def test_allow_listed_plugins_load_and_others_do_not(installed):
    installed("cfp-good", "good", "cfp_good", GOOD)
    installed("cfp-other", "other", "cfp_other", GOOD)
    host = PluginHost(allowed=["good"])
    assert host.plugins["good"].loaded and host.plugins["good"].version == "1.0"
    assert "other" not in host.plugins
    assert {"good", "other"} <= PluginHost(allowed=["*"]).plugins.keys()


def test_a_plugin_that_fails_to_import_is_reported_and_the_platform_runs(installed, cf_settings):
    installed("cfp-broken", "broken", "cfp_broken", "import no_such_module_anywhere\n")
    installed("cfp-good", "good", "cfp_good", GOOD)
    host = PluginHost(allowed=["broken", "good"])
    assert not host.plugins["broken"].loaded and "ModuleNotFoundError" in host.plugins["broken"].error
    assert host.plugins["good"].loaded
    with shared_session() as session:
        kinds = session.scalars(select(PluginFailure.kind).where(PluginFailure.plugin == "broken")).all()
    assert "load" in kinds


def test_the_kill_switch_loads_no_plugin(installed, monkeypatch):
    installed("cfp-good", "good", "cfp_good", GOOD)
    monkeypatch.setenv(KILL_SWITCH, "1")
    assert all(info.builtin for info in PluginHost(allowed=["*"]).plugins.values())


def test_two_plugins_of_one_name_are_refused(plugin_host):
    plugin_host.register(plugin("a"), "dup")
    with pytest.raises(ValueError, match="already registered"):
        plugin_host.register(plugin("b"), "dup")


# --- per-bank enablement and configuration --------------------------------------------------------------------------

def test_a_plugin_answers_only_for_banks_that_enabled_it(enabled_plugin, plugin_host, tenant_a, tenant_b):
    enabled_plugin(tea_plugin(), "tea", tenant_a, TEA_CONFIG)
    with CurrentTenant.bind(tenant_a):
        sectors_a = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    with CurrentTenant.bind(tenant_b):
        sectors_b = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    assert "tea_growing" in sectors_a and "tea_growing" not in sectors_b
    assert "retail_grocery" in sectors_a and "retail_grocery" in sectors_b  # built-in, always on


def test_configuration_is_checked_by_the_plugins_schema_and_reaches_its_hooks(enabled_plugin, plugin_host, tenant_a):
    from creditfactory.plugins.services import PluginConfigError

    with pytest.raises(PluginConfigError, match="price_index_url"):
        enabled_plugin(tea_plugin(), "tea", tenant_a, {"margin_adjustment": "0.1"})
    with pytest.raises(PluginConfigError, match="margin_adjustment"):
        enabled_plugin(tea_plugin(), "tea", tenant_a, {**TEA_CONFIG, "margin_adjustment": "0.9"})
    enabled_plugin(tea_plugin(), "tea", tenant_a, {**TEA_CONFIG, "margin_adjustment": "0.05"})
    with CurrentTenant.bind(tenant_a):
        tea = next(p for p in plugin_host.collect("register_industry_profiles") if p.sector == "tea_growing")
    assert tea.gross_margin == Decimal("0.45")


# --- isolation ------------------------------------------------------------------------------------------------------

def test_a_failing_or_slow_plugin_is_reported_and_the_others_still_answer(enabled_plugin, plugin_host, tenant_a):
    def broken(config):
        raise RuntimeError("feed server down for 13812345678")

    def slow(config):
        time.sleep(1.5)
        return []

    plugin_host.timeout = 0.2
    enabled_plugin(plugin("broken", register_industry_profiles=broken), "broken", tenant_a)
    enabled_plugin(plugin("slow", register_industry_profiles=slow), "slow", tenant_a)
    enabled_plugin(tea_plugin(), "tea", tenant_a, TEA_CONFIG)
    started = time.monotonic()
    with CurrentTenant.bind(tenant_a):
        sectors = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    assert time.monotonic() - started < 1.2
    assert "tea_growing" in sectors
    with shared_session() as session:
        failures = {(f.plugin, f.kind): f for f in session.scalars(
            select(PluginFailure).where(PluginFailure.tenant == tenant_a.slug))}
    assert ("broken", "error") in failures and ("slow", "timeout") in failures
    assert "13812345678" not in failures[("broken", "error")].message  # personal data masked


def test_a_failing_plugin_never_turns_a_page_into_a_500(cf_settings, enabled_plugin, plugin_host, tenant_a, api_client):
    def broken(config):
        raise RuntimeError("boom")

    enabled_plugin(plugin("broken", register_industry_profiles=broken), "broken", tenant_a)
    client = api_client(tenant_a, "config:write")
    listing = client.get(f"{client.prefix}/api/v1/plugins/")
    assert listing.status_code == 200
    assert {row["name"]: row["enabled"] for row in listing.get_json()}["broken"] is True


# --- hooks ----------------------------------------------------------------------------------------------------------

def test_hook_plugin_config(plugin_host):
    plugin_host.register(tea_plugin(), "tea")
    assert plugin_host.plugins["tea"].title == "普洱茶 / Pu'er tea" and plugin_host.plugins["tea"].config_schema is TeaConfig


def test_hook_register_industry_profiles(plugin_host, tenant_a):
    with CurrentTenant.bind(tenant_a):
        profiles = plugin_host.collect("register_industry_profiles")
    crops = next(p for p in profiles if p.sector == "crop_farming")
    assert crops.seasonality[8] > crops.seasonality[0]  # harvest in autumn
    with pytest.raises(ValueError, match="average 1"):
        IndustryProfile("x", "x", "x", Decimal("0.2"), Decimal("1"), (Decimal(2),) * 12)


def test_hook_register_industry_feeds(enabled_plugin, plugin_host, tenant_a):
    import datetime as dt

    from creditfactory.plugins.types import FeedPoint, IndustryFeed

    def register_industry_feeds(config):
        return [IndustryFeed("puer_price", "普洱茶价格指数", "Pu'er price index", "index",
                             fetch=lambda cfg: [FeedPoint(dt.date(2026, 11, 1), Decimal("103.5"))])]

    enabled_plugin(plugin("feeds", register_industry_feeds=register_industry_feeds), "feeds", tenant_a)
    with CurrentTenant.bind(tenant_a):
        feed, = plugin_host.collect("register_industry_feeds")
    assert feed.fetch({})[0].value == Decimal("103.5")


def test_hook_register_facts(enabled_plugin, plugin_host, tenant_a):
    from creditfactory.plugins.types import FactDefinition

    def register_facts(config):
        return [FactDefinition("tea_price_vs_mean", "decimal", "茶价相对均值", "Tea price vs 12-month mean",
                               compute=lambda facts: Decimal("1.08"))]

    enabled_plugin(plugin("facts", register_facts=register_facts), "facts", tenant_a)
    with CurrentTenant.bind(tenant_a):
        fact, = plugin_host.collect("register_facts")
    assert fact.name == "tea_price_vs_mean" and fact.compute({}) == Decimal("1.08")


def test_hook_register_product_templates(enabled_plugin, plugin_host, tenant_a):
    from creditfactory.plugins.types import ProductTemplate

    def register_product_templates(config):
        return [ProductTemplate("yn_grass_loan", "草贷", "Grass loan", {"amount": {"min": "5000", "max": "200000"}})]

    enabled_plugin(plugin("products", register_product_templates=register_product_templates), "products", tenant_a)
    with CurrentTenant.bind(tenant_a):
        template, = plugin_host.collect("register_product_templates")
    assert template.name_zh == "草贷" and template.terms["amount"]["max"] == "200000"


def test_hook_register_portal_widgets(enabled_plugin, plugin_host, tenant_a):
    from markupsafe import Markup

    from creditfactory.plugins.types import PortalWidget

    def register_portal_widgets(config):
        return [PortalWidget("茶价", render=lambda: Markup("<p>103.5</p>"))]

    enabled_plugin(plugin("widgets", register_portal_widgets=register_portal_widgets), "widgets", tenant_a)
    with CurrentTenant.bind(tenant_a):
        widget, = plugin_host.collect("register_portal_widgets")
    assert str(widget.render()) == "<p>103.5</p>"


def test_hook_register_blueprints(cf_settings, enabled_plugin, plugin_host, tenant_a, tenant_b):
    from creditfactory.app import create_app

    pages = Blueprint("tea_pages", __name__, url_prefix="/tea")

    @pages.get("/prices")
    @public("a plugin's public price page")
    def prices():
        return "普洱茶价格"

    enabled_plugin(plugin("pages", register_blueprints=lambda: [pages]), "pages", tenant_a)
    client = create_app(cf_settings, testing=True).test_client()
    assert client.get(f"/t/{tenant_a.slug}/tea/prices").status_code == 200
    assert client.get(f"/t/{tenant_b.slug}/tea/prices").status_code == 404


def test_hook_on_application_decided(enabled_plugin, plugin_host, tenant_a):
    seen = []
    enabled_plugin(plugin("events", on_application_decided=lambda application_id, outcome:
                          seen.append((application_id, outcome))), "events", tenant_a)
    with CurrentTenant.bind(tenant_a):
        plugin_host.call("on_application_decided", application_id=7, outcome="approved")
    assert seen == [(7, "approved")]


def test_hook_on_loan_disbursed(enabled_plugin, plugin_host, tenant_a):
    seen = []
    enabled_plugin(plugin("events", on_loan_disbursed=lambda loan_id, amount: seen.append((loan_id, amount))),
                   "events", tenant_a)
    with CurrentTenant.bind(tenant_a):
        plugin_host.call("on_loan_disbursed", loan_id=3, amount="50000.00")
    assert seen == [(3, "50000.00")]


# --- API and CLI ----------------------------------------------------------------------------------------------------

def test_the_api_enables_and_configures_a_plugin(plugin_host, tenant_a, api_client):
    plugin_host.register(tea_plugin(), "tea")
    client = api_client(tenant_a, "config:write")
    refused = client.put(f"{client.prefix}/api/v1/plugins/tea", json={"enabled": True, "config": {"x": 1}})
    assert refused.status_code == 422 and "price_index_url" in refused.get_json()["detail"]
    done = client.put(f"{client.prefix}/api/v1/plugins/tea", json={"enabled": True, "config": TEA_CONFIG})
    assert done.status_code == 200 and done.get_json()["enabled"] is True
    assert done.get_json()["config"]["price_index_url"] == TEA_CONFIG["price_index_url"]
    assert client.put(f"{client.prefix}/api/v1/plugins/nosuch", json={"enabled": True}).status_code == 404


def test_the_cli_lists_enables_configures_and_disables(plugin_host, tenant_a):
    plugin_host.register(tea_plugin(), "tea")
    runner = CliRunner()
    bad = runner.invoke(cli, ["plugins", "enable", "tea", "--tenant", tenant_a.slug, "--config", "{}"])
    assert bad.exit_code == 2 and "price_index_url" in bad.output
    ok = runner.invoke(cli, ["plugins", "enable", "tea", "--tenant", tenant_a.slug, "--config", json.dumps(TEA_CONFIG)])
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(cli, ["plugins", "list", "--tenant", tenant_a.slug, "--json"])
    assert {row["name"]: row["enabled"] for row in json.loads(listed.output)}["tea"] is True
    assert runner.invoke(cli, ["plugins", "config", "tea", "--tenant", tenant_a.slug, "--set", "[1]"]).exit_code == 2
    assert runner.invoke(cli, ["plugins", "disable", "tea", "--tenant", tenant_a.slug]).exit_code == 0
    assert runner.invoke(cli, ["plugins", "enable", "nosuch", "--tenant", tenant_a.slug]).exit_code == 2


# --- feeds ----------------------------------------------------------------------------------------------------------

FEED_CSV = "date,value,series\n2025-12-01,100,cattle\n2026-06-01,104,cattle\n2026-11-01,112.5,cattle\n2026-11-01,9,feed\n"


def test_feed_files_are_read_in_csv_and_xlsx_with_bad_rows_named(tmp_path):
    from openpyxl import Workbook

    from creditfactory.plugins.feeds import FeedFormatError, read_points

    points = read_points(FEED_CSV.encode(), series="cattle")
    assert [(str(p.day), p.value) for p in points] == [("2025-12-01", Decimal("100")), ("2026-06-01", Decimal("104")),
                                                      ("2026-11-01", Decimal("112.5"))]
    book = Workbook()
    sheet = book.active
    sheet.append(["Date", "Value"])
    sheet.append([__import__("datetime").date(2026, 1, 1), 98.25])
    book.save(tmp_path / "feed.xlsx")
    assert read_points(tmp_path / "feed.xlsx")[0].value == Decimal("98.25")
    with pytest.raises(FeedFormatError, match="row 3: value 'n/a'"):
        read_points(b"date,value\n2026-01-01,1\n2026-01-02,n/a\n")
    with pytest.raises(FeedFormatError, match="must name the columns"):
        read_points(b"day,price\n2026-01-01,1\n")
    with pytest.raises(FeedFormatError, match="only https"):
        read_points("ftp://example.cn/feed.csv")


def test_the_daily_refresh_stores_each_banks_feeds_and_facts_read_them(enabled_plugin, plugin_host, tenant_a, tenant_db,
                                                                      stub_broker):
    from creditfactory.plugins import feeds
    from creditfactory.plugins.jobs import refresh_feeds
    from creditfactory.plugins.types import IndustryFeed

    def register_industry_feeds(config):
        return [IndustryFeed("cattle_price", "活牛价格指数", "Live cattle price index", "index",
                             fetch=lambda cfg: feeds.read_points(FEED_CSV.encode(), series="cattle")),
                IndustryFeed("broken_feed", "坏", "Broken", "index", fetch=lambda cfg: 1 / 0)]

    enabled_plugin(plugin("cattle", register_industry_feeds=register_industry_feeds), "cattle", tenant_a)
    with CurrentTenant.bind(tenant_a):
        refresh_feeds()
        refresh_feeds()  # idempotent
    db = tenant_db(tenant_a)
    assert len(feeds.series(db, "cattle_price")) == 3
    # 112.5 / mean(100, 104, 112.5) = 112.5 / 105.5
    assert feeds.latest_vs_mean(db, "cattle_price") == Decimal("1.0664")
    assert feeds.latest_vs_mean(db, "no_such_feed") is None
    with shared_session() as session:
        assert session.scalar(select(PluginFailure.kind).where(PluginFailure.hook == "fetch:broken_feed")) == "error"


# --- scaffolding ----------------------------------------------------------------------------------------------------

def test_a_scaffolded_plugin_passes_its_own_tests(cf_settings, tmp_path):
    import os
    import subprocess

    result = CliRunner().invoke(cli, ["plugin", "new", "sichuan_pepper", "--directory", str(tmp_path),
                                      "--title", "四川花椒 / Sichuan pepper"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "creditfactory-plugin-sichuan-pepper"
    assert '"creditfactory.plugins"' in (root / "pyproject.toml").read_text()
    assert CliRunner().invoke(cli, ["plugin", "new", "sichuan_pepper", "--directory", str(tmp_path)]).exit_code == 2
    assert CliRunner().invoke(cli, ["plugin", "new", "Bad-Name", "--directory", str(tmp_path)]).exit_code == 2
    # Its tests run as its author would run them: pytest in its folder, fixtures from creditfactory.testing.
    env = {**os.environ, "PYTHONPATH": str(root), "CREDITFACTORY_TEST_DATABASE_URL": cf_settings.database_url}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


# --- tenants as code ------------------------------------------------------------------------------------------------

def test_tenant_files_start_their_plugins_once_and_respect_the_banks_later_choice(plugin_host, tmp_path):
    import uuid

    from creditfactory.audit import Actor, ActorKind, CurrentActor
    from creditfactory.db import tenant_session
    from creditfactory.plugins import services
    from creditfactory.tenancy import specs
    from creditfactory.tenancy.registry import directory

    plugin_host.register(tea_plugin(), "tea")
    slug = f"p{uuid.uuid4().hex[:8]}"
    (tmp_path / "_standard").mkdir()
    (tmp_path / f"{slug}.yaml").write_text(textwrap.dedent(f"""\
        name_zh: 插件测试村镇银行
        name_en: Plugin Test Village Bank
        legal_entity_code: PLUG-{slug.upper()}
        province: 云南省
        plugins:
          tea: {{price_index_url: "https://data.example.cn/puer.csv"}}
          nosuch: {{}}
        """), encoding="utf-8")
    with CurrentActor.bind(Actor(id="test:specs", kind=ActorKind.SYSTEM)):
        current = specs.plan(specs.load_specs(tmp_path))
        assert [(spec.slug, name) for spec, name in current.plugins] == [(slug, "tea"), (slug, "nosuch")]
        errors = specs.apply(current)
        assert len(errors) == 1 and "nosuch" in errors[0] and "no plugin" in errors[0]
        again = specs.plan(specs.load_specs(tmp_path))
        assert [name for _, name in again.plugins] == ["nosuch"]  # tea is on; nosuch still cannot start
        tenant = directory.get(slug)
        with CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
            services.disable(session, "tea")
        assert "tea" not in [name for _, name in specs.plan(specs.load_specs(tmp_path)).plugins]


def test_the_banks_dashboard_shows_its_plugins_widgets_to_staff(enabled_plugin, plugin_host, tenant_a, tenant_b,
                                                               client, make_user):
    from markupsafe import Markup

    from creditfactory.plugins.types import PortalWidget
    from creditfactory.testing.staff import log_in

    def register_portal_widgets(config):
        return [PortalWidget("茶价指数", render=lambda: Markup('<p class="tea">103.5</p>')),
                PortalWidget("坏组件", render=lambda: 1 / 0)]

    enabled_plugin(plugin("widgets", register_portal_widgets=register_portal_widgets), "widgets", tenant_a)
    assert "茶价指数" not in client.get(f"/t/{tenant_a.slug}/").get_data(as_text=True)  # not before logging in
    log_in(client, f"/t/{tenant_a.slug}", make_user("loan_officer", tenant_a))
    page = client.get(f"/t/{tenant_a.slug}/")
    assert page.status_code == 200  # the broken widget is left out, never a 500
    html = page.get_data(as_text=True)
    assert '<p class="tea">103.5</p>' in html and "坏组件" not in html


# --- plugins' own tables ----------------------------------------------------------------------------------------------

def test_hook_register_migrations(plugin_host, tenant_factory, tmp_path):
    """A plugin's tables are created at provisioning and upgraded by the orchestrator, with its own version table;
    a table without the plugin's prefix is refused."""
    from sqlalchemy import text

    from creditfactory.db import engine_for
    from creditfactory.plugins.types import PluginMigrations
    from creditfactory.tenancy import migrations

    versions = tmp_path / "herds" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "herds" / "script.py.mako").write_text("")
    (tmp_path / "herds" / "env.py").write_text("")
    (versions / "h001.py").write_text(textwrap.dedent('''\
        from alembic import op
        import sqlalchemy as sa
        revision, down_revision, branch_labels, depends_on = "h001", None, None, None

        def upgrade():
            op.create_table("herds_cattle", sa.Column("id", sa.Integer(), primary_key=True),
                            sa.Column("ear_tags", sa.Integer(), nullable=False))
        '''))
    herds = plugin("herds", register_migrations=lambda: PluginMigrations(tmp_path / "herds", "herds_"))
    plugin_host.register(herds, "herds")

    bank = tenant_factory()
    with engine_for(bank.cluster).connect() as conn:
        tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": bank.schema}))
        assert {"herds_cattle", "alembic_version_herds"} <= tables
        assert conn.scalar(text(f'SELECT version_num FROM "{bank.schema}".alembic_version_herds')) == "h001"

    (versions / "h002.py").write_text(textwrap.dedent('''\
        from alembic import op
        import sqlalchemy as sa
        revision, down_revision, branch_labels, depends_on = "h002", "h001", None, None

        def upgrade():
            op.add_column("herds_cattle", sa.Column("breed", sa.String(40), nullable=True))
        '''))
    report = migrations.upgrade(workers=1)
    assert report.plugin_failures == {}
    with engine_for(bank.cluster).connect() as conn:
        assert conn.scalar(text(f'SELECT version_num FROM "{bank.schema}".alembic_version_herds')) == "h002"

    (versions / "h003.py").write_text(textwrap.dedent('''\
        from alembic import op
        import sqlalchemy as sa
        revision, down_revision, branch_labels, depends_on = "h003", "h002", None, None

        def upgrade():
            op.create_table("cattle", sa.Column("id", sa.Integer(), primary_key=True))
        '''))
    report = migrations.upgrade(workers=1, slugs=[bank.slug])
    assert "lack its prefix" in report.plugin_failures[bank.slug]
    with engine_for(bank.cluster).connect() as conn:  # rolled back: still h002, no stray table
        assert conn.scalar(text(f'SELECT version_num FROM "{bank.schema}".alembic_version_herds')) == "h002"


def test_a_rule_may_name_a_plugins_fact_once_the_plugin_is_loaded(plugin_host):
    from creditfactory.decisions.expressions import compile_expression
    from creditfactory.plugins.types import FactDefinition

    def register_facts(config):
        return [FactDefinition("tea_price_vs_12m_mean", "decimal", "茶价相对均值", "Tea price vs mean",
                               compute=lambda facts: Decimal("1.08"))]

    plugin_host.register(plugin("tea_facts", register_facts=register_facts), "tea_facts")
    from creditfactory.decisions.facts import CATALOGUE

    fact = CATALOGUE.get("tea_price_vs_12m_mean")
    assert fact is not None and fact.type.value == "number" and fact.source == "plugin:tea_facts"
    compile_expression("tea_price_vs_12m_mean > 1.05")
