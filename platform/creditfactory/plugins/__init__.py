"""Plugins (the host side): hookspecs, the declarative types plugins return, the host that loads and isolates them.

Plugin authors read docs/plugins.md; they import only ``creditfactory.hookimpl`` and ``creditfactory.plugins.types``.
"""

from .host import PluginHost, enabled_plugins, get_host, use_host

__all__ = ["PluginHost", "enabled_plugins", "get_host", "use_host"]
