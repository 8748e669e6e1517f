"""Credit Factory plugin henan_grain: 河南粮食：小麦、玉米种植与粮食收购 / Henan grain: wheat and maize growers, grain traders.

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
    title="河南粮食：小麦、玉米种植与粮食收购 / Henan grain: wheat and maize growers, grain traders",
    profiles=[
        IndustryProfile("wheat_growing", "小麦种植", "Wheat growing", D("0.28"), D("1.2"), factors("0.3 0.3 0.3 0.4 0.8 3.2 2.4 1.0 0.8 0.8 0.9 1.0"), SAMPLE_NOTE),
        IndustryProfile("maize_growing", "玉米种植", "Maize growing", D("0.25"), D("1.2"), factors("0.8 0.6 0.5 0.4 0.4 0.4 0.5 0.6 1.4 2.8 2.4 1.2"), SAMPLE_NOTE),
        IndustryProfile("grain_trading", "粮食收购贩运", "Grain trading", D("0.08"), D("8"), factors("0.8 0.7 0.7 0.7 0.9 1.6 1.4 0.9 1.0 1.4 1.2 0.7"), SAMPLE_NOTE),
    ],
    feeds=[
        FeedSpec("ha_wheat", "河南小麦收购价格指数", "Henan wheat purchase price index", "wheat"),
        FeedSpec("ha_maize", "河南玉米收购价格指数", "Henan maize purchase price index", "maize"),
    ],
    facts=[
        FactSpec("ha_wheat_price_vs_12m_mean", "ha_wheat", "小麦价格相对12个月均值", "Wheat price vs 12-month mean"),
        FactSpec("ha_maize_price_vs_12m_mean", "ha_maize", "玉米价格相对12个月均值", "Maize price vs 12-month mean"),
    ],
    sample=DATA_DIR / "prices.sample.csv",
)

hooks = DATA.hooks()
plugin_config = hooks.plugin_config
register_industry_profiles = hooks.register_industry_profiles
register_industry_feeds = hooks.register_industry_feeds
register_facts = hooks.register_facts
register_portal_widgets = hooks.register_portal_widgets
