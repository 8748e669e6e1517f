"""``creditfactory plugins ...``: see, enable, disable and configure plugins per village bank."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator

import click


def _json_object(text: str) -> dict[str, Any]:
    from ..cli import InputError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--config must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InputError("--config must be a JSON object, e.g. '{\"feed_url\": \"https://...\"}'")
    return value


@contextlib.contextmanager
def _bank(slug: str) -> Iterator[Any]:
    """The bank's session, bound and attributed to the operator, committed at the end."""
    from ..cli import boot
    from ..db import CurrentTenant, tenant_session
    from ..tenancy.registry import directory

    boot()
    tenant = directory.get_serving(slug)
    with CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
        yield session


@click.group()
def plugins() -> None:
    """Regional plugins: installed ones, and per village bank enabled or not and configured."""


@plugins.command("list")
@click.option("--tenant", "slug", help="Show whether this bank enabled each plugin, and its configuration.")
@click.option("--json", "as_json", is_flag=True)
def plugins_list(slug: str | None, as_json: bool) -> None:
    """Installed, allow-listed plugins; failed imports are listed with their error."""
    from ..cli import _echo_json, boot, domain_errors
    from . import services
    from .host import get_host

    @domain_errors
    def run() -> None:
        boot()
        settings = {}
        if slug:
            with _bank(slug) as session:
                settings = {name: {"enabled": row.enabled, "config": row.config}
                            for name, row in services.settings_of(session).items()}
        rows = [{"name": info.name, "title": info.title, "version": info.version, "builtin": info.builtin,
                 "error": info.error, **({"enabled": info.builtin or settings.get(info.name, {}).get("enabled", False),
                                          "config": settings.get(info.name, {}).get("config", {})} if slug else {})}
                for info in get_host().plugins.values()]
        if as_json:
            _echo_json(rows)
            return
        for row in rows:
            state = "FAILED: " + row["error"] if row["error"] else ("built in" if row["builtin"] else "installed")
            if slug and not row["error"]:
                state += ", enabled" if row["enabled"] else ", disabled"
            click.echo(f"{row['name']:<24} {row['version']:<10} {state}  {row['title']}")

    run()


@plugins.command("enable")
@click.argument("name")
@click.option("--tenant", "slug", required=True)
@click.option("--config", "config_json", help="The bank's configuration as a JSON object (checked by the plugin).")
def plugins_enable(name: str, slug: str, config_json: str | None) -> None:
    """Enable plugin NAME for the bank (audited)."""
    from ..cli import domain_errors
    from . import services

    config = _json_object(config_json) if config_json else None
    domain_errors(lambda: _with_bank(slug, lambda session: services.enable(session, name, config)))()
    click.echo(f"{name} enabled for {slug}")


@plugins.command("disable")
@click.argument("name")
@click.option("--tenant", "slug", required=True)
def plugins_disable(name: str, slug: str) -> None:
    """Disable plugin NAME for the bank (its configuration is kept; audited)."""
    from ..cli import domain_errors
    from . import services

    domain_errors(lambda: _with_bank(slug, lambda session: services.disable(session, name)))()
    click.echo(f"{name} disabled for {slug}")


@plugins.command("config")
@click.argument("name")
@click.option("--tenant", "slug", required=True)
@click.option("--set", "config_json", required=True, help="The whole configuration as a JSON object.")
def plugins_config(name: str, slug: str, config_json: str) -> None:
    """Replace plugin NAME's configuration for the bank (checked by the plugin's schema; audited)."""
    from ..cli import domain_errors
    from . import services

    config = _json_object(config_json)
    domain_errors(lambda: _with_bank(slug, lambda session: services.configure(session, name, config)))()
    click.echo(f"{name} configured for {slug}")


def _with_bank(slug: str, action) -> None:
    with _bank(slug) as session:
        action(session)


@click.group()
def plugin() -> None:
    """Tools for plugin authors."""


@plugin.command("new")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where to create the distribution's folder.")
@click.option("--title", default="", help="Human title, e.g. '四川花椒 / Sichuan pepper'.")
def plugin_new(name: str, directory: str, title: str) -> None:
    """Scaffold a working plugin distribution creditfactory-plugin-<region>-<topic> (NAME: region_topic)."""
    from pathlib import Path

    from ..cli import domain_errors
    from .scaffold import new_plugin

    root = domain_errors(lambda: new_plugin(name, Path(directory), title))()
    click.echo(f"created {root}\nnext: pip install -e {root} && (cd {root} && python -m pytest)")
