"""Looking tenants up: a small per-process cache of the registry, so routing costs no query per request."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from .. import settings as settings_module
from ..db import TenantRef, engine_for
from ..db.context import SLUG_RE
from .models import TenantStatus

_LOOKUP = text(
    "SELECT slug, cluster, status, timezone, locale, name_zh, name_en FROM cf_shared.tenant WHERE slug = :slug"
)


class UnknownTenant(LookupError):
    """No tenant with that slug is registered."""


class TenantUnavailable(PermissionError):
    """The tenant exists but does not serve requests (suspended, offboarding, not yet provisioned)."""

    def __init__(self, tenant: TenantRef) -> None:
        self.tenant = tenant
        messages = {
            TenantStatus.SUSPENDED.value: "is suspended by the head office; its data is kept",
            TenantStatus.PROVISIONING.value: "is still being provisioned",
            TenantStatus.FAILED.value: "failed to provision",
            TenantStatus.OFFBOARDING.value: "is being offboarded",
            TenantStatus.OFFBOARDED.value: "has been offboarded",
        }
        super().__init__(f"tenant {tenant.slug!r} {messages.get(tenant.status, 'is not available')}")


class TenantDirectory:
    """Slug -> TenantRef, each entry trusted for ``ttl`` seconds (``tenant_cache_ttl``).

    Entries load lazily, one slug at a time: start-up costs nothing however many tenants exist,
    and a suspension reaches every process within ``ttl`` (at once in the process that made it).
    """

    def __init__(self, ttl: float | None = None) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, TenantRef | None]] = {}
        self._lock = threading.Lock()

    @property
    def ttl(self) -> float:
        return self._ttl if self._ttl is not None else settings_module.get().tenant_cache_ttl

    def lookup(self, slug: str) -> TenantRef | None:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            return None
        now = time.monotonic()
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > now:
            return entry[1]
        with engine_for("default").connect() as conn:
            row = conn.execute(_LOOKUP, {"slug": slug}).mappings().first()
        tenant = TenantRef(**row) if row else None
        with self._lock:
            self._entries[slug] = (now + self.ttl, tenant)
        return tenant

    def get(self, slug: str) -> TenantRef:
        """The tenant if it exists, whatever its status."""
        tenant = self.lookup(slug)
        if tenant is None:
            raise UnknownTenant(f"no tenant {slug!r}")
        return tenant

    def get_serving(self, slug: str) -> TenantRef:
        """The tenant if it may serve requests and jobs now (status ``active``)."""
        tenant = self.get(slug)
        if tenant.status != TenantStatus.ACTIVE.value:
            raise TenantUnavailable(tenant)
        return tenant

    def invalidate(self, slug: str | None = None) -> None:
        with self._lock:
            if slug is None:
                self._entries.clear()
            else:
                self._entries.pop(slug, None)


#: The process-wide directory used by routing, jobs and the CLI.
directory = TenantDirectory()
