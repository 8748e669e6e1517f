"""Tenancy jobs: dropping offboarded schemas after retention, the spare-schema pool, parameters pushed by the head office."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from ..db import NoTenantBound, SystemContext, tenant_session
from ..jobs import system_actor, tenant_actor
from ..jobs.schedule import Periodic, register_periodic
from . import services, spares
from .models import TenantParameter

log = logging.getLogger(__name__)

_KEY_LENGTH = TenantParameter.__table__.c.key.type.length


@system_actor
def finalize_offboarding() -> None:
    """Drop the schemas of offboarded tenants whose retention has passed (after their export).

    Idempotent: it acts only on tenants still ``offboarding`` and past ``drop_after``; a repeat finds nothing.
    """
    if SystemContext.active() is None:
        # Reached only by calling the function directly: the worker always runs it in a SystemContext.
        raise NoTenantBound("finalize_offboarding runs inside a SystemContext")
    dropped = services.finalize_offboarding()
    log.info("offboarding finalized: %d schema(s) dropped%s", len(dropped), f" ({', '.join(dropped)})" if dropped else "")


@system_actor
def replenish_spare_schemas() -> None:
    """Top up every cluster's pool of spare tenant schemas (send it after provisioning, or on a schedule).

    Idempotent: it builds only what is missing, and concurrent runs on one cluster do not overbuild.
    """
    for cluster, (dropped, built) in spares.refresh_all().items():
        if dropped or built:
            log.info("spare schemas on %s: %d stale dropped, %d built", cluster, dropped, built)


register_periodic(Periodic("finalize-offboarding", finalize_offboarding, every=dt.timedelta(hours=1)))
register_periodic(Periodic("replenish-spare-schemas", replenish_spare_schemas, every=dt.timedelta(minutes=10)))


# A malformed key never becomes valid: fail at once instead of retrying.
@tenant_actor(throws=(ValueError,))
def set_tenant_parameter(key: str, value: Any) -> None:
    """Set one of the bound tenant's parameters (``tenant_parameter`` row), e.g. pushed from the head office.

    Idempotent: an upsert, so a redelivered message writes the same value again. Two changes of the same
    key are not ordered against each other by the broker; send the complete final value each time.
    """
    if not isinstance(key, str) or not key or len(key) > _KEY_LENGTH:
        raise ValueError(f"parameter key must be 1 to {_KEY_LENGTH} characters, got {key!r}")
    statement = insert(TenantParameter).values(key=key, value=value)
    statement = statement.on_conflict_do_update(
        index_elements=[TenantParameter.key],
        set_={"value": statement.excluded.value, "updated_at": func.now()},
    )
    with tenant_session() as session, session.begin():
        session.execute(statement)
