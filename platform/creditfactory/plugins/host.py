"""The plugin host: finds plugins, keeps per-bank enablement, and calls hooks with each plugin isolated.

Plugins are found through the entry-point group ``creditfactory.plugins``. The host iterates the entry points
itself (pluggy's loader stops at the first import error): a plugin that fails to import is recorded and reported,
the platform keeps running. Only allow-listed names load (setting ``plugins``; ``*`` allows every installed one),
and ``CREDITFACTORY_PLUGINS_DISABLED=1`` loads none (the kill switch). Built-in behaviour registered through the
same hooks (``BUILTIN``) is always on.

Hooks are called per plugin, not through pluggy's all-at-once call, so each plugin's exception or time-out is
caught, logged, counted (``creditfactory_plugin_failures_total``) and stored for administrators, while the other
plugins' answers are used.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import importlib
import importlib.metadata
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Iterable

import pluggy
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import settings as settings_module
from ..db import CurrentTenant, shared_session
from ..metrics import PLUGIN_FAILURES
from . import hookspecs
from .types import PluginConfig

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "creditfactory.plugins"
KILL_SWITCH = "CREDITFACTORY_PLUGINS_DISABLED"
#: Built-in plugins: first-party behaviour implemented through the public hooks, always enabled.
BUILTIN = ("creditfactory.plugins.builtin",)
#: Hooks called once per process at start-up (no bank bound, no time-out).
STARTUP_HOOKS = frozenset({"plugin_config", "register_blueprints", "register_migrations"})


@dataclass
class PluginInfo:
    """A plugin as administrators see it."""

    name: str
    title: str
    description: str = ""
    version: str = ""
    builtin: bool = False
    #: Why it did not load ("" when it did).
    error: str = ""
    config_schema: Any = None

    @property
    def loaded(self) -> bool:
        return not self.error


@dataclass
class HookFailure:
    plugin: str
    hook: str
    kind: str
    message: str


class PluginHost:
    """One process's plugins. Build it with :func:`get_host`; tests build their own with ``discover=False``."""

    def __init__(self, *, discover: bool = True, allowed: Iterable[str] | None = None,
                 timeout_ms: int | None = None) -> None:
        settings = settings_module.get()
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.timeout = (timeout_ms if timeout_ms is not None else settings.plugin_hook_timeout_ms) / 1000
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="plugin")
        for module_name in BUILTIN:
            self.register(importlib.import_module(module_name), module_name.rsplit(".", 1)[-1], builtin=True)
        if discover and not os.environ.get(KILL_SWITCH):
            self._discover(set(settings.plugins if allowed is None else allowed))

    # --- loading ----------------------------------------------------------------------------------------------

    def _discover(self, allowed: set[str]) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if "*" not in allowed and name not in allowed:
                log.info("plugin %s is installed but not allow-listed (setting plugins); not loaded", name)
                continue
            version = entry_point.dist.version if entry_point.dist is not None else ""
            try:
                module = entry_point.load()
            except Exception as exc:  # an import error must not take the platform down
                message = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s failed to load: %s", name, message, exc_info=True)
                self.plugins[name] = PluginInfo(name, title=name, version=version, error=message)
                _store_failure(HookFailure(name, "load", "load", message), tenant="")
                continue
            self.register(module, name, version=version)

    def register(self, module: ModuleType | object, name: str, *, version: str = "", builtin: bool = False) -> None:
        """Register ``module`` as plugin ``name``; a second plugin of the same name is refused."""
        if name in self.plugins:
            raise ValueError(f"plugin {name!r} is already registered")
        self.manager.register(module, name=name)
        self.manager.check_pending()
        config = self._call_one(name, "plugin_config", {}) if self._implements(name, "plugin_config") else None
        config = config if isinstance(config, PluginConfig) else PluginConfig(title=name)
        self.plugins[name] = PluginInfo(name, config.title, config.description, version, builtin,
                                        config_schema=config.schema)
        if self._implements(name, "register_facts"):
            self._catalogue_facts(name)

    def _catalogue_facts(self, name: str) -> None:
        """Put the plugin's fact definitions in the decision engine's catalogue, so rules may name them when saved
        (their values are computed per bank, for banks that enabled the plugin)."""
        from ..decisions.facts import FactError, register_fact

        plugin = self.manager.get_plugin(name)
        impl = next(i for i in self.manager.hook.register_facts.get_hookimpls() if i.plugin is plugin)
        arguments = {"config": {}} if "config" in impl.argnames else {}
        for definition in self._call_one(name, "register_facts", arguments) or []:
            try:
                register_fact(definition.name, _FACT_TYPES.get(definition.type, definition.type), definition.label_zh,
                              definition.label_en, definition.description, source=f"plugin:{name}")
            except (FactError, ValueError) as exc:
                self._failed(HookFailure(name, "register_facts", "error", f"fact {definition.name}: {exc}"))

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.plugins.pop(name, None)

    def _implements(self, name: str, hook: str) -> bool:
        plugin = self.manager.get_plugin(name)
        return any(impl.plugin is plugin for impl in getattr(self.manager.hook, hook).get_hookimpls())

    # --- calling ----------------------------------------------------------------------------------------------

    def call(self, hook: str, enabled: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` on every built-in plugin and every plugin in ``enabled`` (name -> the bank's configuration;
        default: the acting bank's); returns ``(plugin, answer)`` for each call that succeeded, in registration order.
        A ``config`` argument is filled with each plugin's own configuration."""
        if enabled is None and hook not in STARTUP_HOOKS:
            enabled = enabled_plugins()
        answers = []
        for impl in getattr(self.manager.hook, hook).get_hookimpls()[::-1]:  # pluggy keeps them newest first
            name = self.manager.get_name(impl.plugin)
            info = self.plugins.get(name)
            if info is None or not (info.builtin or hook in STARTUP_HOOKS or name in (enabled or {})):
                continue
            arguments = {**kwargs, "config": (enabled or {}).get(name, {})}
            arguments = {arg: arguments[arg] for arg in impl.argnames if arg in arguments}
            outcome = self._call_impl(name, hook, impl.function, arguments)
            if outcome is not _FAILED:
                answers.append((name, outcome))
        return answers

    def collect(self, hook: str, enabled: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> list[Any]:
        """The answers of a ``register_*`` hook, flattened into one list."""
        return [item for _, answer in self.call(hook, enabled, **kwargs) for item in (answer or [])]

    def run_isolated(self, plugin: str, label: str, function: Any, *args: Any) -> Any:
        """Run one of ``plugin``'s own functions (a feed's ``fetch``) isolated like a hook; None if it failed."""
        outcome = self._call_impl(plugin, label, lambda: function(*args), {})
        return None if outcome is _FAILED else outcome

    def _call_one(self, name: str, hook: str, arguments: dict[str, Any]) -> Any:
        plugin = self.manager.get_plugin(name)
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            if impl.plugin is plugin:
                outcome = self._call_impl(name, hook, impl.function, arguments)
                return None if outcome is _FAILED else outcome
        return None

    def _call_impl(self, name: str, hook: str, function: Any, arguments: dict[str, Any]) -> Any:
        try:
            if hook in STARTUP_HOOKS:
                return function(**arguments)
            # The plugin runs in a pool thread with this thread's context (bank, principal, request id), so a slow
            # one cannot hold the request past the time-out. Python cannot stop a thread: a timed-out call finishes
            # in the background and its answer is dropped.
            context = contextvars.copy_context()
            future = self._executor.submit(context.run, function, **arguments)
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            self._failed(HookFailure(name, hook, "timeout", f"no answer within {self.timeout * 1000:.0f} ms"))
        except Exception as exc:
            log.warning("plugin %s failed in %s", name, hook, exc_info=True)
            self._failed(HookFailure(name, hook, "error", f"{type(exc).__name__}: {exc}"))
        return _FAILED

    def _failed(self, failure: HookFailure) -> None:
        PLUGIN_FAILURES.labels(failure.plugin, failure.hook, failure.kind).inc()
        tenant = CurrentTenant.get_or_none()
        log.warning("plugin %s: %s in %s%s: %s", failure.plugin, failure.kind, failure.hook,
                    f" for {tenant.slug}" if tenant else "", failure.message)
        _store_failure(failure, tenant=tenant.slug if tenant else "")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_FAILED = object()
#: Plugin fact types as the decision engine names them.
_FACT_TYPES = {"decimal": "number", "int": "number", "integer": "number", "float": "number", "str": "string",
               "bool": "boolean"}


def _store_failure(failure: HookFailure, *, tenant: str) -> None:
    from ..privacy.logs import mask_text
    from .models import PluginFailure

    try:
        with shared_session() as session, session.begin():
            session.add(PluginFailure(plugin=failure.plugin, hook=failure.hook, tenant=tenant, kind=failure.kind,
                                      message=mask_text(failure.message)[:1000]))
    except Exception:  # reporting must never turn a plugin's failure into the core's
        log.warning("could not record the failure of plugin %s", failure.plugin, exc_info=True)


def recent_failures(session: Session, limit: int = 50) -> list[Any]:
    from .models import PluginFailure

    return list(session.scalars(select(PluginFailure).order_by(PluginFailure.id.desc()).limit(limit)))


# --- per-bank enablement ------------------------------------------------------------------------------------------

_TTL = 2.0
_enabled_cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
_cache_lock = threading.Lock()


def enabled_plugins() -> dict[str, dict[str, Any]]:
    """Plugin name -> configuration of the plugins the acting bank enabled (none without a bank).

    Read through a short per-process cache (like the tenant directory), so a hook called many times per request
    costs no query; a change shows within two seconds everywhere.
    """
    from ..db import tenant_session
    from .models import PluginSetting

    tenant = CurrentTenant.get_or_none()
    if tenant is None:
        return {}
    now = time.monotonic()
    with _cache_lock:
        cached = _enabled_cache.get(tenant.slug)
    if cached is not None and now - cached[0] < _TTL:
        return cached[1]
    with tenant_session(tenant) as session:
        enabled = {row.plugin: dict(row.config or {}) for row in
                   session.scalars(select(PluginSetting).where(PluginSetting.enabled.is_(True)))}
    with _cache_lock:
        _enabled_cache[tenant.slug] = (now, enabled)
    return enabled


def forget_enabled(slug: str | None = None) -> None:
    with _cache_lock:
        if slug is None:
            _enabled_cache.clear()
        else:
            _enabled_cache.pop(slug, None)


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """This process's plugin host, discovering installed plugins on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost()
        return _host


def use_host(host: PluginHost | None) -> PluginHost | None:
    """Install ``host`` as the process's (tests); returns the previous one."""
    global _host
    with _host_lock:
        previous, _host = _host, host
    return previous
