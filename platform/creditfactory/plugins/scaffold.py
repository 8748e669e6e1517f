"""``creditfactory plugin new NAME``: a working plugin distribution to start from (pyproject with the entry point,
package with an example hook and configuration schema, tests on ``creditfactory.testing``, README, sample feed)."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from ..errors import DomainError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*_[a-z][a-z0-9_]*$")

_PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "Credit Factory plugin: $title"
requires-python = ">=3.11"
dependencies = ["creditfactory"]

[project.entry-points."creditfactory.plugins"]
$name = "$package"

[tool.setuptools]
packages = ["$package"]

[tool.setuptools.package-data]
$package = ["data/*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''')

_PACKAGE = Template('''\
"""Credit Factory plugin $name: $title.

Hooks: see docs/plugins.md of the platform. Sample data in data/ is illustrative, not real statistics.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import marshmallow as ma

from creditfactory import hookimpl
from creditfactory.plugins import feeds
from creditfactory.plugins.types import FeedPoint, IndustryFeed, IndustryProfile, PluginConfig

DATA = Path(__file__).parent / "data"
#: Monthly sales relative to an average month, January first (they average 1).
SEASONALITY = tuple(Decimal(x) for x in ("0.8", "0.8", "0.9", "1.0", "1.0", "1.1", "1.1", "1.2", "1.2", "1.1", "0.9", "0.9"))


class Config(ma.Schema):
    """Per-bank configuration: where the price feed comes from (default: the bundled sample)."""

    feed_url = ma.fields.String(load_default="")


@hookimpl
def plugin_config() -> PluginConfig:
    return PluginConfig(title="$title", description="Sector profile and a price feed.", schema=Config)


@hookimpl
def register_industry_profiles(config) -> list[IndustryProfile]:
    return [IndustryProfile("${name}_sector", "示例行业", "Example sector", Decimal("0.30"), Decimal("4"),
                            SEASONALITY, "sample data")]


def _fetch(config) -> list[FeedPoint]:
    return feeds.read_points(config.get("feed_url") or DATA / "price_index.sample.csv")


@hookimpl
def register_industry_feeds(config) -> list[IndustryFeed]:
    return [IndustryFeed("${name}_price", "示例价格指数", "Example price index", "index", fetch=_fetch)]
''')

_TESTS = Template('''\
"""Tests of $name, using only the fixtures of creditfactory.testing (no conftest needed)."""

from decimal import Decimal

import $package as plugin
from creditfactory.db import CurrentTenant
from creditfactory.plugins import feeds


def test_profile_is_offered_to_banks_that_enable_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    enabled_plugin(plugin, "$name", tenant_a)
    with CurrentTenant.bind(tenant_a):
        assert "${name}_sector" in {p.sector for p in plugin_host.collect("register_industry_profiles")}
    with CurrentTenant.bind(tenant_b):
        assert "${name}_sector" not in {p.sector for p in plugin_host.collect("register_industry_profiles")}


def test_sample_feed_reads(enabled_plugin, plugin_host, tenant_a):
    enabled_plugin(plugin, "$name", tenant_a)
    with CurrentTenant.bind(tenant_a):
        feed, = plugin_host.collect("register_industry_feeds")
    points = feed.fetch({})
    assert points and all(point.value > Decimal(0) for point in points)
''')

_README = Template('''\
# $dist

Credit Factory plugin `$name`: $title.

    pip install -e .                 # next to an installed creditfactory
    creditfactory plugins enable $name --tenant SLUG
    python -m pytest                 # tests use the fixtures of creditfactory.testing

Allow it on the platform with the setting `CREDITFACTORY_PLUGINS` (it lists the plugins that may load).
`data/price_index.sample.csv` is **sample data**, illustrative only; point `feed_url` at the real source.
''')

_SAMPLE = "date,value\n2026-01-01,100\n2026-04-01,102.5\n2026-07-01,104\n2026-10-01,101.5\n"


def new_plugin(name: str, directory: Path, title: str = "") -> Path:
    """Write the distribution ``creditfactory-plugin-<name>`` under ``directory``; returns its folder."""
    if not NAME_RE.match(name):
        raise DomainError(f"plugin name {name!r}: use <region>_<topic> in lower case, e.g. sichuan_pepper")
    dist = "creditfactory-plugin-" + name.replace("_", "-")
    package = "creditfactory_plugin_" + name
    root = Path(directory) / dist
    if root.exists():
        raise DomainError(f"{root} already exists")
    values = {"name": name, "dist": dist, "package": package, "title": title or name.replace("_", " ").title()}
    files = {
        "pyproject.toml": _PYPROJECT.substitute(values),
        f"{package}/__init__.py": _PACKAGE.substitute(values),
        f"{package}/data/price_index.sample.csv": _SAMPLE,
        "tests/test_plugin.py": _TESTS.substitute(values),
        "README.md": _README.substitute(values),
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root
