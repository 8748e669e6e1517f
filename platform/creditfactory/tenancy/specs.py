"""Tenants as code: read ``tenants/``, plan the changes to the registry, apply them idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..db import shared_session
from ..errors import DomainError
from . import spares
from .models import TenantStatus
from .services import TenantError, TenantSpec, TenantSpecError, diff, list_tenants, offboard, provision, update

STANDARD_DIR = "_standard"
#: File in ``tenants/_standard/`` whose values every tenant spec inherits unless it sets its own.
DEFAULTS_FILE = "tenant-defaults.yaml"


class SpecDirectoryError(ValueError):
    """The tenants folder cannot be read as a whole; nothing was applied."""


@dataclass
class Plan:
    create: list[TenantSpec] = field(default_factory=list)
    update: list[tuple[TenantSpec, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Registered tenants with no file; offboarded only with ``--prune``.
    orphans: list[str] = field(default_factory=list)
    #: Tenants with a file whose registry status forbids changes (offboarding, offboarded).
    blocked: list[tuple[str, str]] = field(default_factory=list)
    #: (spec, plugin name) of plugins a file lists that its bank has not enabled (or declined) yet.
    plugins: list[tuple[TenantSpec, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.plugins)

    def lines(self, prune: bool = False) -> list[str]:
        out = [f"+ create   {s.slug:<20} {s.name_zh} / {s.name_en}" for s in self.create]
        for spec, changes in self.update:
            detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
            out.append(f"~ update   {spec.slug:<20} {detail}")
        out += [f"+ plugin   {spec.slug:<20} {name}" for spec, name in self.plugins]
        out += [f"= keep     {slug}" for slug in self.unchanged]
        out += [f"! blocked  {slug:<20} {why}" for slug, why in self.blocked]
        verb = "- offboard" if prune else "? orphan  "
        note = "" if prune else "  (no file; kept, use --prune to offboard)"
        out += [f"{verb} {slug}{note}" for slug in self.orphans]
        return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecDirectoryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecDirectoryError(f"{path}: must hold a mapping")
    return data


def load_specs(directory: str | Path) -> list[TenantSpec]:
    """Every ``<slug>.yaml`` under ``directory`` merged over the standard defaults; all errors at once."""
    root = Path(directory)
    if not root.is_dir():
        raise SpecDirectoryError(f"{root}: no such folder")
    defaults_path = root / STANDARD_DIR / DEFAULTS_FILE
    defaults = _read_yaml(defaults_path) if defaults_path.is_file() else {}
    default_parameters = defaults.pop("parameters", {}) or {}
    specs, errors = [], []
    for path in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
        try:
            data = _read_yaml(path)
            # The bank's products are read and applied by lending.products.declared, not by the registry.
            data.pop("products", None)
            data.setdefault("slug", path.stem)
            if data["slug"] != path.stem:
                raise SpecDirectoryError(f"{path}: slug {data['slug']!r} must match the file name")
            data["parameters"] = {**default_parameters, **(data.get("parameters") or {})}
            specs.append(TenantSpec.from_mapping(data, defaults))
        except (SpecDirectoryError, TenantSpecError) as exc:
            errors.append(f"{path.name}: {exc}")
    codes: dict[str, str] = {}
    for spec in specs:
        other = codes.setdefault(spec.legal_entity_code, spec.slug)
        if other != spec.slug:
            errors.append(f"{spec.slug}.yaml: legal_entity_code {spec.legal_entity_code!r} already used by {other}")
    if errors:
        raise SpecDirectoryError("\n".join(errors))
    return specs


def plan(specs: list[TenantSpec]) -> Plan:
    result = Plan()
    with shared_session() as session:
        registered = {t.slug: t for t in list_tenants(session)}
        for spec in specs:
            tenant = registered.pop(spec.slug, None)
            if tenant is None or tenant.status in (TenantStatus.FAILED.value, TenantStatus.PROVISIONING.value):
                result.create.append(spec)
            elif tenant.status in (TenantStatus.OFFBOARDING.value, TenantStatus.OFFBOARDED.value):
                result.blocked.append((spec.slug, f"is {tenant.status}; remove its file or restore it first"))
                continue
            else:
                changes = diff(tenant, spec)
                if changes:
                    result.update.append((spec, changes))
                else:
                    result.unchanged.append(spec.slug)
            # A bank being created has no settings yet; an existing one keeps what it enabled or disabled itself.
            present = _plugin_settings(spec.slug) if spec.plugins and spec not in result.create else set()
            result.plugins += [(spec, name) for name in spec.plugins if name not in present]
        result.orphans = sorted(slug for slug, t in registered.items()
                                if t.status in (TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value))
    return result


def _plugin_settings(slug: str) -> set[str]:
    """Names of the plugins the bank has a setting for (enabled or deliberately disabled)."""
    from sqlalchemy import select

    from ..db import tenant_session
    from ..plugins.models import PluginSetting
    from .registry import directory

    tenant = directory.lookup(slug)
    if tenant is None:
        return set()
    with tenant_session(tenant) as session:
        return set(session.scalars(select(PluginSetting.plugin)))


def _start_plugin(spec: TenantSpec, name: str) -> None:
    """Enable plugin ``name`` for the bank with the configuration its file gives (audited)."""
    from ..db import CurrentTenant, tenant_session
    from ..plugins import services as plugin_services
    from .registry import directory

    tenant = directory.get(spec.slug)
    with CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
        plugin_services.enable(session, name, dict(spec.plugins[name] or {}))


def apply(current: Plan, *, prune: bool = False, on_step: Callable[[str], None] = lambda line: None) -> list[str]:
    """Carry out ``current``; a failing tenant is reported and does not stop the others. Returns errors."""
    errors = []
    for spec in current.create:
        try:
            provision(spec)
            on_step(f"created {spec.slug}")
        except TenantError as exc:
            errors.append(str(exc))
    for spec, _changes in current.update:
        try:
            on_step(f"updated {spec.slug}: {', '.join(update(spec))}")
        except TenantError as exc:
            errors.append(str(exc))
    if current.create:
        spares.refresh_all()  # refill what the new tenants took, for the next ones
    for spec, name in current.plugins:
        try:
            _start_plugin(spec, name)
            on_step(f"enabled plugin {name} for {spec.slug}")
        except (DomainError, LookupError) as exc:  # not installed, bad config, or the bank failed to provision
            errors.append(f"tenant {spec.slug!r}: plugin {name}: {exc}")
    if prune:
        for slug in current.orphans:
            try:
                offboard(slug, reason="removed from tenants/ (apply --prune)")
                on_step(f"offboarded {slug} (exported; schema dropped after the retention period)")
            except TenantError as exc:
                errors.append(str(exc))
    return errors
