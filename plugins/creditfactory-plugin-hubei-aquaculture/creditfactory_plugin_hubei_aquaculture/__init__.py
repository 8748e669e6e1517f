"""Credit Factory plugin hubei_aquaculture: 湖北水产养殖：小龙虾与淡水鱼 / Hubei aquaculture: crayfish and freshwater fish.

Sector profiles (margins, inventory turnover, seasonality) for the investigation, monthly price-index feeds, facts
for the decision engine (each index against its 12-month mean) and a dashboard widget. The figures and the bundled
``data/prices.sample.csv`` are SAMPLE DATA for demonstration: plausible shapes, not official statistics. A bank
points ``feed_url`` at its real source (a CSV/XLSX in the platform's feed format: date, value, series).
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import marshmallow as ma
from markupsafe import Markup, escape

from creditfactory import hookimpl
from creditfactory.db import CurrentTenant, tenant_session
from creditfactory.plugins import feeds
from creditfactory.plugins.types import FactDefinition, IndustryFeed, IndustryProfile, PluginConfig, PortalWidget

NAME = "hubei_aquaculture"
SAMPLE = Path(__file__).parent / "data" / "prices.sample.csv"
SOURCE = "sample data (illustrative, not official statistics)"


def _factors(text: str) -> tuple[D, ...]:
    return tuple(D(x) for x in text.split())


PROFILES = [
    IndustryProfile("crayfish_farming", "小龙虾养殖", "Crayfish farming", D("0.35"), D("2.0"), _factors("0.1 0.1 0.6 1.8 2.6 2.4 1.7 1.0 0.6 0.5 0.3 0.3"), SOURCE),
    IndustryProfile("fish_farming", "淡水鱼养殖", "Freshwater fish farming", D("0.24"), D("1.5"), _factors("1.6 1.4 0.6 0.5 0.6 0.7 0.8 0.9 1.1 1.3 1.2 1.3"), SOURCE),
]
#: (feed code, zh label, en label, series in the feed file)
FEEDS = [
    ("hb_crayfish", "潜江小龙虾价格指数", "Qianjiang crayfish price index", "crayfish"),
    ("hb_fish", "湖北淡水鱼价格指数", "Hubei freshwater fish price index", "fish"),
]
#: (fact name, feed it reads, zh label, en label)
FACTS = [
    ("hb_crayfish_price_vs_12m_mean", "hb_crayfish", "小龙虾价格相对12个月均值", "Crayfish price vs 12-month mean"),
]


class Config(ma.Schema):
    """Per-bank configuration."""

    #: Where the price feed file is (https:// URL or a path on the platform); empty: the bundled sample.
    feed_url = ma.fields.String(load_default="")
    #: Months of history a price is compared with in the facts.
    mean_months = ma.fields.Integer(load_default=12, validate=ma.validate.Range(min=3, max=36))


@hookimpl
def plugin_config() -> PluginConfig:
    return PluginConfig(title="湖北水产养殖：小龙虾与淡水鱼 / Hubei aquaculture: crayfish and freshwater fish", description=SOURCE, schema=Config)


@hookimpl
def register_industry_profiles(config) -> list[IndustryProfile]:
    return list(PROFILES)


def _fetcher(series: str):
    def fetch(config) -> list:
        return feeds.read_points(config.get("feed_url") or SAMPLE, series=series)

    return fetch


@hookimpl
def register_industry_feeds(config) -> list[IndustryFeed]:
    return [IndustryFeed(code, zh, en, "index", fetch=_fetcher(series)) for code, zh, en, series in FEEDS]


def _versus_mean(feed: str, months: int):
    def compute(application_facts) -> D | None:
        with tenant_session(CurrentTenant.get()) as session:
            return feeds.latest_vs_mean(session, feed, months)

    return compute


@hookimpl
def register_facts(config) -> list[FactDefinition]:
    months = int(config.get("mean_months", 12))
    return [FactDefinition(name, "decimal", zh, en, compute=_versus_mean(feed, months),
                           description=f"latest {feed} / its mean over {months} months; None before the first refresh")
            for name, feed, zh, en in FACTS]


@hookimpl
def register_portal_widgets(config) -> list[PortalWidget]:
    def render() -> Markup:
        with tenant_session(CurrentTenant.get()) as session:
            rows = []
            for code, zh, en, _ in FEEDS:
                points = feeds.series(session, code)
                latest = f"{points[-1].value:.1f} ({points[-1].day:%Y-%m})" if points else "—"
                rows.append(Markup("<tr><th scope=\"row\">{}</th><td>{}</td></tr>").format(escape(zh), latest))
        return Markup("<table class=\"facts\">") + Markup("").join(rows) + Markup("</table>")

    return [PortalWidget("价格指数 / Price indices", render)]
