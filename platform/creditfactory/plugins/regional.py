"""A regional industry-data plugin from data alone (part of the public plugin API).

Most regional plugins bring the same four things: sector profiles, price-index feeds read from a file in the feed
format, facts comparing each index with its recent mean, and a dashboard box with the latest values. Describe them
with :class:`RegionalData` and export its hooks from the plugin module::

    DATA = RegionalData(title="河南粮食 / Henan grain", profiles=[...], feeds=[FeedSpec(...)],
                        facts=[FactSpec(...)], sample=Path(__file__).parent / "data" / "prices.sample.csv")
    hooks = DATA.hooks()
    plugin_config = hooks.plugin_config
    register_industry_profiles = hooks.register_industry_profiles
    register_industry_feeds = hooks.register_industry_feeds
    register_facts = hooks.register_facts
    register_portal_widgets = hooks.register_portal_widgets

Each bank configures ``feed_url`` (an ``https://`` URL or a path of a CSV/XLSX; empty: the bundled sample) and
``mean_months`` (history the facts compare with, 3–36, default 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import marshmallow as ma
from markupsafe import Markup, escape

from .. import hookimpl
from ..db import CurrentTenant, tenant_session
from . import feeds
from .types import FactDefinition, IndustryFeed, IndustryProfile, PluginConfig, PortalWidget

SAMPLE_NOTE = "sample data (illustrative, not official statistics)"


@dataclass(frozen=True)
class FeedSpec:
    """A price-index feed: its code, labels, and the ``series`` of the feed file it reads."""

    code: str
    label_zh: str
    label_en: str
    series: str


@dataclass(frozen=True)
class FactSpec:
    """A fact ``name``: the latest value of ``feed`` divided by its mean over the bank's ``mean_months``."""

    name: str
    feed: str
    label_zh: str
    label_en: str


class RegionalConfig(ma.Schema):
    """Per-bank configuration of a regional data plugin."""

    #: Where the price feed file is (https:// URL or a path on the platform); empty: the bundled sample.
    feed_url = ma.fields.String(load_default="")
    #: Months of history a price is compared with in the facts.
    mean_months = ma.fields.Integer(load_default=12, validate=ma.validate.Range(min=3, max=36))


def factors(text: str) -> tuple[Decimal, ...]:
    """Twelve monthly seasonality factors from ``"0.8 0.9 ..."``."""
    return tuple(Decimal(x) for x in text.split())


@dataclass(frozen=True)
class RegionalData:
    title: str
    profiles: list[IndustryProfile]
    feeds: list[FeedSpec]
    facts: list[FactSpec]
    #: The bundled sample feed file, used when a bank configures no ``feed_url``.
    sample: Path
    description: str = SAMPLE_NOTE

    def hooks(self) -> SimpleNamespace:
        """The hook implementations, to assign to module-level names of the plugin module."""

        @hookimpl
        def plugin_config() -> PluginConfig:
            return PluginConfig(title=self.title, description=self.description, schema=RegionalConfig)

        @hookimpl
        def register_industry_profiles(config) -> list[IndustryProfile]:
            return list(self.profiles)

        @hookimpl
        def register_industry_feeds(config) -> list[IndustryFeed]:
            return [IndustryFeed(spec.code, spec.label_zh, spec.label_en, "index", fetch=self._fetcher(spec.series))
                    for spec in self.feeds]

        @hookimpl
        def register_facts(config) -> list[FactDefinition]:
            months = int(config.get("mean_months", 12))
            return [FactDefinition(spec.name, "decimal", spec.label_zh, spec.label_en,
                                   compute=_versus_mean(spec.feed, months),
                                   description=f"latest {spec.feed} / its mean over {months} months; "
                                               "None before the first refresh")
                    for spec in self.facts]

        @hookimpl
        def register_portal_widgets(config) -> list[PortalWidget]:
            return [PortalWidget("价格指数 / Price indices", self._render_latest)]

        return SimpleNamespace(plugin_config=plugin_config, register_industry_profiles=register_industry_profiles,
                               register_industry_feeds=register_industry_feeds, register_facts=register_facts,
                               register_portal_widgets=register_portal_widgets)

    def _fetcher(self, series: str):
        def fetch(config: dict[str, Any]) -> list:
            return feeds.read_points(config.get("feed_url") or self.sample, series=series)

        return fetch

    def _render_latest(self) -> Markup:
        rows = []
        with tenant_session(CurrentTenant.get()) as session:
            for spec in self.feeds:
                points = feeds.series(session, spec.code)
                latest = f"{points[-1].value:.1f} ({points[-1].day:%Y-%m})" if points else "—"
                rows.append(Markup('<tr><th scope="row">{}</th><td>{}</td></tr>').format(escape(spec.label_zh), latest))
        return Markup('<table class="facts">') + Markup("").join(rows) + Markup("</table>")


def _versus_mean(feed: str, months: int):
    def compute(application_facts) -> Decimal | None:
        with tenant_session(CurrentTenant.get()) as session:
            return feeds.latest_vs_mean(session, feed, months)

    return compute
