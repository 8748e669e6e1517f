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

from decimal import Decimal as D
from pathlib import Path

from creditfactory.plugins.regional import SAMPLE_NOTE, FactSpec, FeedSpec, RegionalData, factors
from creditfactory.plugins.types import IndustryProfile

DATA_DIR = Path(__file__).parent / "data"

DATA = RegionalData(
    title="$title",
    profiles=[
        IndustryProfile("${name}_sector", "示例行业", "Example sector", D("0.30"), D("4"),
                        factors("0.8 0.8 0.9 1.0 1.0 1.1 1.1 1.2 1.2 1.1 0.9 0.9"), SAMPLE_NOTE),
    ],
    feeds=[FeedSpec("${name}_price", "示例价格指数", "Example price index", "example")],
    facts=[FactSpec("${name}_price_vs_mean", "${name}_price", "示例价格相对均值", "Example price vs mean")],
    sample=DATA_DIR / "price_index.sample.csv",
)

hooks = DATA.hooks()
plugin_config = hooks.plugin_config
register_industry_profiles = hooks.register_industry_profiles
register_industry_feeds = hooks.register_industry_feeds
register_facts = hooks.register_facts
register_portal_widgets = hooks.register_portal_widgets
''')

_TESTS = Template('''\
"""Tests of $name, using only the fixtures of creditfactory.testing (no conftest needed)."""

import $package as plugin
from creditfactory.testing import regional


def test_profiles_reach_only_banks_that_enabled_the_plugin(enabled_plugin, plugin_host, tenant_a, tenant_b):
    regional.check_profiles_reach_only_enabling_banks(plugin, "$name", enabled_plugin, plugin_host, tenant_a, tenant_b)


def test_sample_feed_refreshes_and_feeds_the_fact(enabled_plugin, plugin_host, tenant_a, tenant_db, stub_broker):
    regional.check_sample_feeds_refresh_and_feed_the_facts(plugin, "$name", enabled_plugin, plugin_host, tenant_a,
                                                           tenant_db(tenant_a))
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

_SAMPLE = ("date,value,series\n2026-01-01,100,example\n2026-04-01,102.5,example\n2026-07-01,104,example\n"
           "2026-10-01,101.5,example\n")


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
