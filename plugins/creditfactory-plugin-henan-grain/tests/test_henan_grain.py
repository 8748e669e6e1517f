"""Tests of the henan_grain plugin, with the fixtures of creditfactory.testing only (no conftest)."""

from __future__ import annotations

import creditfactory_plugin_henan_grain as plugin
from creditfactory.testing import regional


def test_profiles_reach_only_banks_that_enabled_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    regional.check_profiles_reach_only_enabling_banks(plugin, "henan_grain", enabled_plugin, plugin_host, tenant_a, tenant_b)


def test_sample_feeds_refresh_and_feed_the_facts(enabled_plugin, plugin_host, tenant_a, tenant_db, stub_broker):
    regional.check_sample_feeds_refresh_and_feed_the_facts(plugin, "henan_grain", enabled_plugin, plugin_host, tenant_a,
                                                           tenant_db(tenant_a))


def test_widget_and_configuration(enabled_plugin, plugin_host, tenant_a, stub_broker):
    regional.check_widget_and_configuration(plugin, "henan_grain", enabled_plugin, plugin_host, tenant_a)


def test_wheat_sells_at_the_june_harvest_and_maize_in_october():
    profiles = {p.sector: p for p in plugin.DATA.profiles}
    assert profiles["wheat_growing"].seasonality[5] == max(profiles["wheat_growing"].seasonality)
    assert profiles["maize_growing"].seasonality[9] == max(profiles["maize_growing"].seasonality)
