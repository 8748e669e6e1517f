"""The platform's own defaults, delivered through the public hooks like any plugin (always enabled).

National fallback profiles for the sectors village banks lend to most, used when no regional plugin knows a
sector better. Figures are round typical values [R: reasonable defaults, not from a source]; a bank's regional
plugin overrides them sector by sector (the first plugin to answer for a sector wins, built-ins answer last).
"""

from __future__ import annotations

from decimal import Decimal as D

from .. import hookimpl
from .types import IndustryProfile, PluginConfig

_FLAT = (D(1),) * 12
#: Crops: sales concentrate at harvest (summer and autumn).
_HARVEST = tuple(D(x) for x in ("0.6", "0.6", "0.7", "0.8", "0.9", "1.2", "1.3", "1.4", "1.5", "1.3", "0.9", "0.8"))
#: Retail and catering: the Spring Festival peak and a summer dip.
_FESTIVAL = tuple(D(x) for x in ("1.4", "1.3", "0.9", "0.9", "1.0", "0.9", "0.9", "0.9", "1.0", "1.1", "0.9", "0.8"))


@hookimpl
def plugin_config() -> PluginConfig:
    return PluginConfig(title="平台默认行业数据 / Platform default industry data",
                        description="National fallback sector profiles; regional plugins refine them.")


@hookimpl
def register_industry_profiles() -> list[IndustryProfile]:
    return [
        IndustryProfile("retail_grocery", "日用百货零售", "Grocery retail", D("0.18"), D("12"), _FESTIVAL, "[R]"),
        IndustryProfile("catering", "餐饮", "Restaurants and catering", D("0.55"), D("40"), _FESTIVAL, "[R]"),
        IndustryProfile("wholesale", "批发贸易", "Wholesale trade", D("0.10"), D("10"), _FLAT, "[R]"),
        IndustryProfile("small_manufacturing", "小型加工制造", "Small manufacturing", D("0.25"), D("6"), _FLAT, "[R]"),
        IndustryProfile("transport", "运输", "Transport", D("0.30"), D("24"), _FLAT, "[R]"),
        IndustryProfile("crop_farming", "种植业", "Crop farming", D("0.35"), D("2"), _HARVEST, "[R]"),
        IndustryProfile("livestock", "养殖业", "Livestock", D("0.25"), D("1.5"), _FLAT, "[R]"),
    ]
