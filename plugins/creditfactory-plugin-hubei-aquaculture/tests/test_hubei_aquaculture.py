"""Tests of the hubei_aquaculture plugin, with the fixtures of creditfactory.testing only (no conftest)."""

from __future__ import annotations

import creditfactory_plugin_hubei_aquaculture as plugin
from creditfactory.testing import regional


def test_profiles_reach_only_banks_that_enabled_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    regional.check_profiles_reach_only_enabling_banks(plugin, "hubei_aquaculture", enabled_plugin, plugin_host, tenant_a, tenant_b)


def test_sample_feeds_refresh_and_feed_the_facts(enabled_plugin, plugin_host, tenant_a, tenant_db, stub_broker):
    regional.check_sample_feeds_refresh_and_feed_the_facts(plugin, "hubei_aquaculture", enabled_plugin, plugin_host, tenant_a,
                                                           tenant_db(tenant_a))


def test_widget_and_configuration(enabled_plugin, plugin_host, tenant_a, stub_broker):
    regional.check_widget_and_configuration(plugin, "hubei_aquaculture", enabled_plugin, plugin_host, tenant_a)


def test_crayfish_sell_in_late_spring():
    crayfish = next(p for p in plugin.DATA.profiles if p.sector == "crayfish_farming")
    assert crayfish.seasonality[4] == max(crayfish.seasonality)  # May
