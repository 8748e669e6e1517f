"""The hooks a Credit Factory plugin may implement (the public plugin API).

Implement one by decorating a module-level function of your plugin module with ``@creditfactory.hookimpl`` and
naming it after the hook; accept only the arguments you use. Every hook is called only for plugins the acting
village bank has enabled, with that bank bound (``CurrentTenant``), and each plugin's call is isolated: an
exception or a time-out is logged, counted and shown to administrators, and the hook's other answers are used.

``register_*`` hooks return declarative objects (lists of dataclasses from :mod:`creditfactory.plugins.types`);
the host collects the answers of every enabled plugin. Event hooks (``on_*``) return nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .types import (Blueprint, FactDefinition, IndustryFeed, IndustryProfile, PluginConfig, PluginMigrations,
                        PortalWidget, ProductTemplate)

PROJECT = "creditfactory"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def plugin_config() -> "PluginConfig | None":
    """Fires once when the plugin is registered. Return the plugin's :class:`PluginConfig` (its name as shown to
    administrators, a description, and the marshmallow schema its per-bank configuration must satisfy); ``None``
    for a plugin without configuration. Configuration failing the schema is refused with the field named."""


@hookspec
def register_industry_profiles(config: dict[str, Any]) -> "list[IndustryProfile]":
    """Fires when the investigation needs sector data (cross-checks, cash-flow projection) for the acting bank.
    Return the :class:`IndustryProfile` of each sector the plugin knows: typical gross margin, inventory turnover
    and monthly seasonality factors. ``config`` is the bank's configuration of this plugin."""


@hookspec
def register_industry_feeds(config: dict[str, Any]) -> "list[IndustryFeed]":
    """Fires when the scheduler refreshes feeds (daily) and when an administrator lists feeds. Return each
    :class:`IndustryFeed` (a time series such as a commodity price index) with the function that fetches its
    points; the host stores the points per bank and exposes the latest values as facts."""


@hookspec
def register_facts(config: dict[str, Any]) -> "list[FactDefinition]":
    """Fires when the decision engine builds the facts catalogue of the acting bank. Return extra typed facts
    (:class:`FactDefinition`: name, type, zh/en labels, and a function computing the value for an application)."""


@hookspec
def register_product_templates(config: dict[str, Any]) -> "list[ProductTemplate]":
    """Fires when the acting bank lists product templates it may adopt. Return regional product templates
    (:class:`ProductTemplate`: a code and the product terms as a mapping in the products' YAML form)."""


@hookspec
def register_portal_widgets(config: dict[str, Any]) -> "list[PortalWidget]":
    """Fires when the bank's dashboard page is rendered. Return :class:`PortalWidget` objects: a title and a
    function returning an HTML-safe fragment (render it with ``flask.render_template``; no inline scripts)."""


@hookspec
def register_blueprints() -> "list[Blueprint]":
    """Fires once at application start. Return Flask blueprints with extra pages; each view must declare its access
    (``login_required`` or ``public(reason)``) like the core's. Their routes answer only for banks that enabled the
    plugin (others get 404)."""


@hookspec
def register_migrations() -> "PluginMigrations | None":
    """Fires when the orchestrator migrates tenant schemas and when a bank is provisioned. Return the
    :class:`PluginMigrations` of the tenant tables the plugin owns (every bank gets them, enabled or not, so a bank
    can enable the plugin at any time), or ``None``."""


@hookspec
def on_application_decided(application_id: int, outcome: str) -> None:
    """Fires after a loan application's decision is committed (``outcome``: approved, approved_with_conditions,
    rejected). For notifications and statistics; the decision itself is final."""


@hookspec
def on_loan_disbursed(loan_id: int, amount: str) -> None:
    """Fires after a disbursement is committed (``amount`` in yuan as a decimal string)."""
