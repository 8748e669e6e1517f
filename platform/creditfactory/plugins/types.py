"""The declarative objects plugins return from ``register_*`` hooks (part of the public plugin API)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

import marshmallow
from flask import Blueprint

__all__ = ["Blueprint", "FactDefinition", "FeedPoint", "IndustryFeed", "IndustryProfile", "PluginConfig",
           "PluginMigrations", "PortalWidget", "ProductTemplate"]


@dataclass(frozen=True)
class PluginConfig:
    """What a plugin tells administrators about itself and how it is configured per bank."""

    #: Human name shown in the plugin list, e.g. "云南农业行业数据 / Yunnan agriculture".
    title: str
    description: str = ""
    #: marshmallow schema class the bank's configuration must load through; None: the plugin takes none.
    schema: type[marshmallow.Schema] | None = None


@dataclass(frozen=True)
class IndustryProfile:
    """Typical figures of one sector in a region, used by the investigation's cross-checks and projections."""

    #: Sector code, e.g. "cattle_fattening" (unique across enabled plugins; the first registered wins).
    sector: str
    label_zh: str
    label_en: str
    #: Gross margin as a fraction of sales, e.g. Decimal("0.28").
    gross_margin: Decimal
    #: Inventory turns per year (cost of sales / average inventory).
    inventory_turnover: Decimal
    #: Twelve factors, January first, averaging 1: a month's sales relative to an average month.
    seasonality: tuple[Decimal, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.seasonality) != 12:
            raise ValueError(f"{self.sector}: seasonality needs 12 monthly factors, got {len(self.seasonality)}")
        mean = sum(self.seasonality, Decimal(0)) / 12
        if abs(mean - 1) > Decimal("0.05"):
            raise ValueError(f"{self.sector}: seasonality factors must average 1 (got {mean:.3f})")
        if not Decimal(0) < self.gross_margin < Decimal(1):
            raise ValueError(f"{self.sector}: gross margin must be between 0 and 1")


@dataclass(frozen=True)
class FeedPoint:
    """One observation of a feed: the date it refers to and its value."""

    day: dt.date
    value: Decimal


@dataclass(frozen=True)
class IndustryFeed:
    """A time series (e.g. a live-cattle price index) refreshed by a scheduled job and stored per bank."""

    code: str
    label_zh: str
    label_en: str
    unit: str
    #: ``fetch(config) -> list[FeedPoint]``: reads the plugin's source (a file the bank uploads or points to by URL).
    fetch: Callable[[Mapping[str, Any]], list[FeedPoint]]


@dataclass(frozen=True)
class FactDefinition:
    """An extra fact for the decision engine: ``compute(application_facts) -> value`` of ``type``."""

    name: str
    type: str
    label_zh: str
    label_en: str
    compute: Callable[[Mapping[str, Any]], Any]
    description: str = ""


@dataclass(frozen=True)
class ProductTemplate:
    """A regional product a bank may adopt as its own tenant-only product: names and ``terms`` in the form of
    ``tenants/_standard/products/*.yaml`` (checked by the products' own validation when adopted)."""

    code: str
    name_zh: str
    name_en: str
    terms: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PortalWidget:
    """A box on the bank's dashboard: ``render() -> markupsafe.Markup``."""

    title: str
    render: Callable[[], Any]


@dataclass(frozen=True)
class PluginMigrations:
    """Tenant tables a plugin owns: its Alembic script folder and the prefix every one of its tables carries.

    The migration orchestrator (``creditfactory db upgrade``) and provisioning run them in every bank's schema,
    recording the plugin's revision in its own version table ``alembic_version_<plugin>``. Migrations name no
    schema (they run under the bank's ``search_path``); a table without the prefix is refused.
    """

    script_location: Path
    table_prefix: str
