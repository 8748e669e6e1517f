"""Background jobs on dramatiq: every message carries its tenant, and runs bound to it.

Declare work with ``tenant_actor`` (runs for the tenant bound when it was sent) or ``system_actor``
(housekeeping across tenants, sent from a ``SystemContext``). Actors must be idempotent. Processes call
``setup_broker()`` once at start-up; workers run ``dramatiq creditfactory.jobs.worker``. See docs/jobs.md.
"""

from .actors import (
    SYSTEM_QUEUE,
    TENANT_QUEUE,
    BrokerNotConfigured,
    declared_actors,
    installed_broker,
    system_actor,
    tenant_actor,
)
from .broker import broker_reachable, make_broker, setup_broker, use_broker
from .middleware import SendRefused, TenantBindingFailed, TenantMiddleware, standard_middleware

__all__ = [
    "SYSTEM_QUEUE",
    "TENANT_QUEUE",
    "BrokerNotConfigured",
    "SendRefused",
    "TenantBindingFailed",
    "TenantMiddleware",
    "broker_reachable",
    "declared_actors",
    "installed_broker",
    "make_broker",
    "setup_broker",
    "standard_middleware",
    "system_actor",
    "tenant_actor",
    "use_broker",
]
