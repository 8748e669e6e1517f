"""Tests of the yunnan_agri plugin, with the fixtures of creditfactory.testing only (no conftest)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import creditfactory_plugin_yunnan_agri as plugin
from creditfactory.db import CurrentTenant
from creditfactory.plugins import feeds
from creditfactory.plugins.jobs import refresh_feeds
from creditfactory.plugins.services import PluginConfigError


def test_profiles_reach_only_banks_that_enabled_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    enabled_plugin(plugin, "yunnan_agri", tenant_a)
    with CurrentTenant.bind(tenant_a):
        profiles = {p.sector: p for p in plugin_host.collect("register_industry_profiles")}
    with CurrentTenant.bind(tenant_b):
        elsewhere = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    assert "cattle_fattening" in profiles and "cattle_fattening" not in elsewhere
    for profile in plugin.PROFILES:
        assert abs(sum(profile.seasonality) / 12 - 1) <= Decimal("0.05"), profile.sector


def test_sample_feeds_refresh_and_feed_the_facts(enabled_plugin, plugin_host, tenant_a, tenant_db, stub_broker):
    enabled_plugin(plugin, "yunnan_agri", tenant_a, {"mean_months": 12})
    with CurrentTenant.bind(tenant_a):
        refresh_feeds()
        facts = {f.name: f for f in plugin_host.collect("register_facts")}
        ratio = facts["yn_cattle_price_vs_12m_mean"].compute({})
    points = feeds.series(tenant_db(tenant_a), "yn_live_cattle")
    assert len(points) == 13
    mean = sum(p.value for p in points) / len(points)
    assert ratio == (points[-1].value / mean).quantize(Decimal("0.0001"))


def test_the_widget_shows_the_latest_index(enabled_plugin, plugin_host, tenant_a, stub_broker):
    enabled_plugin(plugin, "yunnan_agri", tenant_a)
    with CurrentTenant.bind(tenant_a):
        refresh_feeds()
        widget, = plugin_host.collect("register_portal_widgets")
        html = str(widget.render())
    assert "<table" in html and "2026-11" in html


def test_bad_configuration_is_refused_with_the_field_named(enabled_plugin, tenant_a):
    with pytest.raises(PluginConfigError, match="mean_months"):
        enabled_plugin(plugin, "yunnan_agri", tenant_a, {"mean_months": 99})


def test_the_grass_and_feed_loans_are_offered_and_valid_products(enabled_plugin, plugin_host, tenant_a):
    from creditfactory.lending.products import services

    enabled_plugin(plugin, "yunnan_agri", tenant_a)
    with CurrentTenant.bind(tenant_a):
        offered = services.plugin_templates()
        grass = services.plugin_template_payload("yn_grass_loan")
    assert {"yn_grass_loan", "yn_feed_loan"} <= offered.keys()
    assert grass["name_zh"] == "草贷" and grass["terms"]["amount"]["max"] == "200000"


def test_a_bank_proposes_the_grass_loan_from_the_plugin_through_the_api(enabled_plugin, plugin_host, tenant_a,
                                                                        api_client):
    enabled_plugin(plugin, "yunnan_agri", tenant_a)
    client = api_client(tenant_a, "products:read")
    offered = client.get(f"{client.prefix}/api/v1/products/plugin-templates")
    assert offered.status_code == 200
    assert {t["code"]: t["name_zh"] for t in offered.get_json()}["yn_feed_loan"] == "饲料贷"
