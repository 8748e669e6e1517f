"""Tests of the yunnan_agri plugin, with the fixtures of creditfactory.testing only (no conftest)."""

from __future__ import annotations

import creditfactory_plugin_yunnan_agri as plugin
from creditfactory.db import CurrentTenant
from creditfactory.testing import regional


def test_profiles_reach_only_banks_that_enabled_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    regional.check_profiles_reach_only_enabling_banks(plugin, "yunnan_agri", enabled_plugin, plugin_host, tenant_a, tenant_b)


def test_sample_feeds_refresh_and_feed_the_facts(enabled_plugin, plugin_host, tenant_a, tenant_db, stub_broker):
    regional.check_sample_feeds_refresh_and_feed_the_facts(plugin, "yunnan_agri", enabled_plugin, plugin_host, tenant_a,
                                                           tenant_db(tenant_a))


def test_widget_and_configuration(enabled_plugin, plugin_host, tenant_a, stub_broker):
    regional.check_widget_and_configuration(plugin, "yunnan_agri", enabled_plugin, plugin_host, tenant_a)


def test_tea_is_picked_in_spring_and_coffee_in_winter():
    profiles = {p.sector: p for p in plugin.DATA.profiles}
    assert profiles["tea_growing"].seasonality[3] == max(profiles["tea_growing"].seasonality)  # April
    assert profiles["coffee_growing"].seasonality[11] > profiles["coffee_growing"].seasonality[5]


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
