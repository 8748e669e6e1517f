"""Credit Factory plugin yunnan_agri: 云南高原农业：肉牛与饲料、茶叶、咖啡 / Yunnan highland agriculture: cattle and feed, tea, coffee.

Sector profiles (margins, inventory turnover, seasonality) for the investigation, monthly price-index feeds, facts
for the decision engine (each index against its 12-month mean) and a dashboard widget. The figures and the bundled
``data/prices.sample.csv`` are SAMPLE DATA for demonstration: plausible shapes, not official statistics. A bank
points ``feed_url`` at its real source (a CSV/XLSX in the platform's feed format: date, value, series).
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import marshmallow as ma
import yaml
from markupsafe import Markup, escape

from creditfactory import hookimpl
from creditfactory.db import CurrentTenant, tenant_session
from creditfactory.plugins import feeds
from creditfactory.plugins.types import (FactDefinition, IndustryFeed, IndustryProfile, PluginConfig, PortalWidget,
                                        ProductTemplate)

NAME = "yunnan_agri"
SAMPLE = Path(__file__).parent / "data" / "prices.sample.csv"
SOURCE = "sample data (illustrative, not official statistics)"


def _factors(text: str) -> tuple[D, ...]:
    return tuple(D(x) for x in text.split())


PROFILES = [
    IndustryProfile("cattle_fattening", "肉牛育肥", "Cattle fattening", D("0.22"), D("1.6"), _factors("1.3 1.2 0.8 0.8 0.8 0.9 0.9 0.9 1.0 1.0 1.1 1.3"), SOURCE),
    IndustryProfile("feed_milling", "饲料加工", "Feed milling", D("0.12"), D("9"), _factors("1.1 1.0 0.9 0.9 0.9 0.9 0.9 1.0 1.1 1.1 1.1 1.1"), SOURCE),
    IndustryProfile("tea_growing", "茶叶种植", "Tea growing", D("0.38"), D("2.5"), _factors("0.3 0.5 1.9 2.2 1.6 1.2 1.0 0.9 0.9 0.7 0.5 0.3"), SOURCE),
    IndustryProfile("coffee_growing", "咖啡种植", "Coffee growing", D("0.30"), D("1.8"), _factors("2.0 1.8 1.4 0.7 0.5 0.4 0.4 0.4 0.4 0.6 1.2 2.2"), SOURCE),
]
#: (feed code, zh label, en label, series in the feed file)
FEEDS = [
    ("yn_live_cattle", "云南活牛价格指数", "Yunnan live cattle price index", "cattle"),
    ("yn_puer_tea", "普洱茶毛茶价格指数", "Pu'er raw tea price index", "tea"),
    ("yn_coffee", "云南咖啡生豆价格指数", "Yunnan green coffee price index", "coffee"),
]
#: (fact name, feed it reads, zh label, en label)
FACTS = [
    ("yn_cattle_price_vs_12m_mean", "yn_live_cattle", "活牛价格相对12个月均值", "Live cattle price vs 12-month mean"),
    ("yn_tea_price_vs_12m_mean", "yn_puer_tea", "普洱茶价格相对12个月均值", "Pu'er tea price vs 12-month mean"),
]


class Config(ma.Schema):
    """Per-bank configuration."""

    #: Where the price feed file is (https:// URL or a path on the platform); empty: the bundled sample.
    feed_url = ma.fields.String(load_default="")
    #: Months of history a price is compared with in the facts.
    mean_months = ma.fields.Integer(load_default=12, validate=ma.validate.Range(min=3, max=36))


@hookimpl
def plugin_config() -> PluginConfig:
    return PluginConfig(title="云南高原农业：肉牛与饲料、茶叶、咖啡 / Yunnan highland agriculture: cattle and feed, tea, coffee", description=SOURCE, schema=Config)


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


@hookimpl
def register_product_templates(config) -> list[ProductTemplate]:
    """草贷 and 饲料贷 (data/products.yaml): regional products a Yunnan bank adopts as its own."""
    entries = yaml.safe_load((Path(__file__).parent / "data" / "products.yaml").read_text(encoding="utf-8"))
    return [ProductTemplate(e["code"], e["name_zh"], e["name_en"], e["terms"]) for e in entries]
