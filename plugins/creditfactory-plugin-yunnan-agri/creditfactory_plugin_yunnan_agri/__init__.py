"""Credit Factory plugin yunnan_agri: 云南高原农业：肉牛与饲料、茶叶、咖啡 / Yunnan highland agriculture: cattle and feed, tea, coffee.

Sector profiles (margins, inventory turnover, seasonality) for the investigation, monthly price-index feeds, facts
for the decision engine (each index against its 12-month mean) and a dashboard widget. The figures and the bundled
``data/prices.sample.csv`` are SAMPLE DATA for demonstration: plausible shapes, not official statistics. A bank
points ``feed_url`` at its real source (a CSV/XLSX in the platform's feed format: date, value, series).
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import yaml

from creditfactory import hookimpl
from creditfactory.plugins.regional import SAMPLE_NOTE, FactSpec, FeedSpec, RegionalData, factors
from creditfactory.plugins.types import IndustryProfile, ProductTemplate

DATA_DIR = Path(__file__).parent / "data"

DATA = RegionalData(
    title="云南高原农业：肉牛与饲料、茶叶、咖啡 / Yunnan highland agriculture: cattle and feed, tea, coffee",
    profiles=[
        IndustryProfile("cattle_fattening", "肉牛育肥", "Cattle fattening", D("0.22"), D("1.6"), factors("1.3 1.2 0.8 0.8 0.8 0.9 0.9 0.9 1.0 1.0 1.1 1.3"), SAMPLE_NOTE),
        IndustryProfile("feed_milling", "饲料加工", "Feed milling", D("0.12"), D("9"), factors("1.1 1.0 0.9 0.9 0.9 0.9 0.9 1.0 1.1 1.1 1.1 1.1"), SAMPLE_NOTE),
        IndustryProfile("tea_growing", "茶叶种植", "Tea growing", D("0.38"), D("2.5"), factors("0.3 0.5 1.9 2.2 1.6 1.2 1.0 0.9 0.9 0.7 0.5 0.3"), SAMPLE_NOTE),
        IndustryProfile("coffee_growing", "咖啡种植", "Coffee growing", D("0.30"), D("1.8"), factors("2.0 1.8 1.4 0.7 0.5 0.4 0.4 0.4 0.4 0.6 1.2 2.2"), SAMPLE_NOTE),
    ],
    feeds=[
        FeedSpec("yn_live_cattle", "云南活牛价格指数", "Yunnan live cattle price index", "cattle"),
        FeedSpec("yn_puer_tea", "普洱茶毛茶价格指数", "Pu'er raw tea price index", "tea"),
        FeedSpec("yn_coffee", "云南咖啡生豆价格指数", "Yunnan green coffee price index", "coffee"),
    ],
    facts=[
        FactSpec("yn_cattle_price_vs_12m_mean", "yn_live_cattle", "活牛价格相对12个月均值", "Live cattle price vs 12-month mean"),
        FactSpec("yn_tea_price_vs_12m_mean", "yn_puer_tea", "普洱茶价格相对12个月均值", "Pu'er tea price vs 12-month mean"),
    ],
    sample=DATA_DIR / "prices.sample.csv",
)

hooks = DATA.hooks()
plugin_config = hooks.plugin_config
register_industry_profiles = hooks.register_industry_profiles
register_industry_feeds = hooks.register_industry_feeds
register_facts = hooks.register_facts
register_portal_widgets = hooks.register_portal_widgets


@hookimpl
def register_product_templates(config) -> list[ProductTemplate]:
    """草贷 and 饲料贷 (data/products.yaml): regional products a Yunnan bank adopts as its own."""
    entries = yaml.safe_load((DATA_DIR / "products.yaml").read_text(encoding="utf-8"))
    return [ProductTemplate(e["code"], e["name_zh"], e["name_en"], e["terms"]) for e in entries]
