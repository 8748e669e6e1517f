"""Which tenant the current unit of work acts for: ``CurrentTenant`` and the ``SystemContext`` escape hatch."""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class NoTenantBound(RuntimeError):
    """Tenant data was touched with no tenant bound and outside a ``SystemContext``."""


class TenantMismatch(RuntimeError):
    """An attempt to switch to another tenant inside a unit of work bound to one."""


@dataclass(frozen=True)
class TenantRef:
    """What the data layer needs to reach one tenant: its slug, schema and database cluster."""

    slug: str
    cluster: str = "default"
    status: str = "active"
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_Hans_CN"
    name_zh: str = ""
    name_en: str = ""

    def __post_init__(self) -> None:
        if not SLUG_RE.match(self.slug):
            raise ValueError(f"invalid tenant slug {self.slug!r}")

    @property
    def schema(self) -> str:
        return f"t_{self.slug}"


_current: ContextVar[TenantRef | None] = ContextVar("creditfactory_tenant", default=None)
_system: ContextVar[str | None] = ContextVar("creditfactory_system", default=None)


class CurrentTenant:
    """The tenant bound to this request, job or CLI command."""

    @staticmethod
    def get() -> TenantRef:
        tenant = _current.get()
        if tenant is None:
            raise NoTenantBound("no tenant is bound to this unit of work")
        return tenant

    @staticmethod
    def get_or_none() -> TenantRef | None:
        return _current.get()

    @staticmethod
    @contextmanager
    def bind(tenant: TenantRef) -> Iterator[TenantRef]:
        """Bind ``tenant`` for the enclosed block; switching from another tenant needs a SystemContext."""
        outer = _current.get()
        if outer is not None and outer.slug != tenant.slug and _system.get() is None:
            raise TenantMismatch(f"already acting for tenant {outer.slug!r}, refusing to switch to {tenant.slug!r}")
        token = _current.set(tenant)
        try:
            yield tenant
        finally:
            _current.reset(token)


class SystemContext:
    """Explicit, named escape hatch for work that spans tenants (migrations, provisioning, COB fan-out)."""

    def __init__(self, reason: str) -> None:
        if not reason:
            raise ValueError("a SystemContext needs a reason, for the logs")
        self.reason = reason
        self._tokens: list = []

    def __enter__(self) -> "SystemContext":
        self._tokens.append((_system.set(self.reason), _current.set(None)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        system_token, tenant_token = self._tokens.pop()
        _current.reset(tenant_token)
        _system.reset(system_token)

    @staticmethod
    def active() -> str | None:
        """The reason of the enclosing SystemContext, or None."""
        return _system.get()
