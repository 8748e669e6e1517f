"""Credit Factory plugin hubei_aquaculture: 湖北水产养殖：小龙虾与淡水鱼 / Hubei aquaculture: crayfish and freshwater fish.

Sector profiles (margins, inventory turnover, seasonality) for the investigation, monthly price-index feeds, facts
for the decision engine (each index against its 12-month mean) and a dashboard widget. The figures and the bundled
``data/prices.sample.csv`` are SAMPLE DATA for demonstration: plausible shapes, not official statistics. A bank
points ``feed_url`` at its real source (a CSV/XLSX in the platform's feed format: date, value, series).
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from creditfactory.plugins.regional import SAMPLE_NOTE, FactSpec, FeedSpec, RegionalData, factors
from creditfactory.plugins.types import IndustryProfile

DATA_DIR = Path(__file__).parent / "data"

DATA = RegionalData(
    title="湖北水产养殖：小龙虾与淡水鱼 / Hubei aquaculture: crayfish and freshwater fish",
    profiles=[
        IndustryProfile("crayfish_farming", "小龙虾养殖", "Crayfish farming", D("0.35"), D("2.0"), factors("0.1 0.1 0.6 1.8 2.6 2.4 1.7 1.0 0.6 0.5 0.3 0.3"), SAMPLE_NOTE),
        IndustryProfile("fish_farming", "淡水鱼养殖", "Freshwater fish farming", D("0.24"), D("1.5"), factors("1.6 1.4 0.6 0.5 0.6 0.7 0.8 0.9 1.1 1.3 1.2 1.3"), SAMPLE_NOTE),
    ],
    feeds=[
        FeedSpec("hb_crayfish", "潜江小龙虾价格指数", "Qianjiang crayfish price index", "crayfish"),
        FeedSpec("hb_fish", "湖北淡水鱼价格指数", "Hubei freshwater fish price index", "fish"),
    ],
    facts=[
        FactSpec("hb_crayfish_price_vs_12m_mean", "hb_crayfish", "小龙虾价格相对12个月均值", "Crayfish price vs 12-month mean"),
    ],
    sample=DATA_DIR / "prices.sample.csv",
)

hooks = DATA.hooks()
plugin_config = hooks.plugin_config
register_industry_profiles = hooks.register_industry_profiles
register_industry_feeds = hooks.register_industry_feeds
register_facts = hooks.register_facts
register_portal_widgets = hooks.register_portal_widgets
