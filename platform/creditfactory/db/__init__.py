"""Database layer: declarative bases, engines per cluster, tenant-bound sessions."""

from .base import SHARED_SCHEMA, TENANT_SCHEMA_PLACEHOLDER, SharedBase, TenantBase
from .context import CurrentTenant, NoTenantBound, SystemContext, TenantRef
from .engines import engine_for, dispose_engines
from .session import shared_reader, shared_reads, shared_session, tenant_session, session

__all__ = [
    "SHARED_SCHEMA",
    "TENANT_SCHEMA_PLACEHOLDER",
    "SharedBase",
    "TenantBase",
    "CurrentTenant",
    "NoTenantBound",
    "SystemContext",
    "TenantRef",
    "engine_for",
    "dispose_engines",
    "shared_reader",
    "shared_reads",
    "shared_session",
    "tenant_session",
    "session",
]
