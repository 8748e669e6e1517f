"""Checks every regional data plugin (creditfactory.plugins.regional) should pass; call them from its tests."""

from __future__ import annotations

from decimal import Decimal

from ..db import CurrentTenant


def check_profiles_reach_only_enabling_banks(plugin, name, enabled_plugin, plugin_host, bank, other_bank) -> None:
    """The plugin's sector profiles reach the bank that enabled it and no other; seasonality averages 1."""
    enabled_plugin(plugin, name, bank)
    sectors = {profile.sector for profile in plugin.DATA.profiles}
    with CurrentTenant.bind(bank):
        offered = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    with CurrentTenant.bind(other_bank):
        elsewhere = {p.sector for p in plugin_host.collect("register_industry_profiles")}
    assert sectors <= offered and not sectors & elsewhere
    for profile in plugin.DATA.profiles:
        assert abs(sum(profile.seasonality) / 12 - 1) <= Decimal("0.05"), profile.sector


def check_sample_feeds_refresh_and_feed_the_facts(plugin, name, enabled_plugin, plugin_host, bank, session) -> None:
    """The daily refresh stores every sample feed, and each fact is its latest value over the window's mean."""
    from ..plugins import feeds
    from ..plugins.jobs import refresh_feeds

    enabled_plugin(plugin, name, bank, {"mean_months": 12})
    with CurrentTenant.bind(bank):
        refresh_feeds()
        facts = {f.name: f for f in plugin_host.collect("register_facts")}
        values = {spec.name: facts[spec.name].compute({}) for spec in plugin.DATA.facts}
    for spec in plugin.DATA.feeds:
        assert feeds.series(session, spec.code), f"feed {spec.code} stored no point"
    for spec in plugin.DATA.facts:
        points = feeds.series(session, spec.feed)
        mean = sum(p.value for p in points) / len(points)
        assert values[spec.name] == (points[-1].value / mean).quantize(Decimal("0.0001")), spec.name


def check_widget_and_configuration(plugin, name, enabled_plugin, plugin_host, bank) -> None:
    """The dashboard box lists every index after a refresh; a bad mean_months is refused with the field named."""
    import pytest

    from ..plugins.jobs import refresh_feeds
    from ..plugins.services import PluginConfigError

    with pytest.raises(PluginConfigError, match="mean_months"):
        enabled_plugin(plugin, name, bank, {"mean_months": 99})
    enabled_plugin(plugin, name, bank)
    with CurrentTenant.bind(bank):
        refresh_feeds()
        widget, = plugin_host.collect("register_portal_widgets")
        html = str(widget.render())
    assert all(spec.label_zh in html for spec in plugin.DATA.feeds)
