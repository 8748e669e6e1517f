"""Enabling, disabling and configuring plugins for one bank (audited; configuration checked by the plugin's schema)."""

from __future__ import annotations

from typing import Any

import marshmallow
from sqlalchemy.orm import Session

from ..audit import record
from ..errors import DomainError, NotFound
from .host import PluginHost, forget_enabled, get_host
from .models import PluginSetting


class PluginConfigError(DomainError):
    """A plugin's configuration does not satisfy its schema; ``errors`` maps each field to its messages."""

    def __init__(self, plugin: str, errors: dict[str, Any]) -> None:
        self.errors = errors
        fields = "; ".join(f"{field}: {', '.join(map(str, messages)) if isinstance(messages, list) else messages}"
                           for field, messages in errors.items())
        super().__init__(f"plugin {plugin}: invalid configuration ({fields})")


def _plugin(name: str, host: PluginHost, *, builtin_ok: bool = False):
    info = host.plugins.get(name)
    if info is None:
        raise NotFound(f"no plugin {name!r} is installed and allow-listed; installed: {', '.join(sorted(host.plugins))}")
    if info.builtin and not builtin_ok:
        raise DomainError(f"{name} is built in: always enabled, not configurable")
    if not info.loaded:
        raise DomainError(f"plugin {name} failed to load ({info.error}); fix or remove it first")
    return info


def validate_config(name: str, config: dict[str, Any], host: PluginHost | None = None) -> dict[str, Any]:
    """``config`` loaded through the plugin's schema (defaults applied); ``PluginConfigError`` naming each field."""
    info = _plugin(name, host or get_host())
    if info.config_schema is None:
        if config:
            raise PluginConfigError(name, {key: ["this plugin takes no configuration"] for key in config})
        return {}
    try:
        loaded = info.config_schema().load(config)
    except marshmallow.ValidationError as exc:
        raise PluginConfigError(name, exc.normalized_messages()) from None
    # Stored as JSON: what the schema loads must dump back to plain values.
    return info.config_schema().dump(loaded)


def enable(session: Session, name: str, config: dict[str, Any] | None = None, *, host: PluginHost | None = None) -> None:
    """Enable plugin ``name`` for the session's bank with ``config`` (validated); audited. Built-ins always are."""
    if _plugin(name, host or get_host(), builtin_ok=True).builtin and not config:
        return
    setting = session.get(PluginSetting, name)
    config = validate_config(name, config if config is not None else (setting.config if setting else {}), host)
    before = {"enabled": setting.enabled, "config": setting.config} if setting else None
    if setting is None:
        setting = PluginSetting(plugin=name)
        session.add(setting)
    setting.enabled, setting.config = True, config
    session.flush()
    record(session, "plugin.enable", object_type="plugin", object_id=name, before=before,
           after={"enabled": True, "config": config})
    forget_enabled(session.info["tenant"].slug)


def configure(session: Session, name: str, config: dict[str, Any], *, host: PluginHost | None = None) -> None:
    """Replace plugin ``name``'s configuration for the session's bank (validated), leaving it on or off; audited."""
    setting = session.get(PluginSetting, name)
    config = validate_config(name, config, host)
    before = {"enabled": setting.enabled, "config": setting.config} if setting else None
    if setting is None:
        setting = PluginSetting(plugin=name, enabled=False)
        session.add(setting)
    setting.config = config
    session.flush()
    record(session, "plugin.configure", object_type="plugin", object_id=name, before=before,
           after={"enabled": setting.enabled, "config": config})
    forget_enabled(session.info["tenant"].slug)


def disable(session: Session, name: str, *, host: PluginHost | None = None) -> None:
    """Switch plugin ``name`` off for the session's bank (its configuration is kept); audited."""
    _plugin(name, host or get_host())
    setting = session.get(PluginSetting, name)
    if setting is None or not setting.enabled:
        return
    setting.enabled = False
    session.flush()
    record(session, "plugin.disable", object_type="plugin", object_id=name, before={"enabled": True},
           after={"enabled": False})
    forget_enabled(session.info["tenant"].slug)


def settings_of(session: Session) -> dict[str, PluginSetting]:
    from sqlalchemy import select

    return {row.plugin: row for row in session.scalars(select(PluginSetting))}
