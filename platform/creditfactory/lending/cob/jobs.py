"""COB as dramatiq jobs: a fan-out over serving tenants, and one idempotent close per tenant."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import text

from ...db import CurrentTenant, SystemContext, shared_session
from ...jobs import system_actor, tenant_actor
from ...tenancy.registry import directory
from . import services

log = logging.getLogger(__name__)


@tenant_actor(time_limit=6 * 3600 * 1000, max_retries=20)
def close_business_day(expected: str | None = None) -> None:
    """Close the bound tenant's business date (``expected``: only if it is still that date).

    Idempotent and resumable: finished steps carry a marker committed with their work, so a redelivery after a
    crash resumes at the first unfinished step and a duplicate of a finished close does nothing.
    """
    tenant = CurrentTenant.get()
    with SystemContext(f"cob: {tenant.slug}"):
        result = services.close_day(tenant, expected=dt.date.fromisoformat(expected) if expected else None)
    if result is not None:
        log.info("cob %s %s: ran %s, skipped %s", tenant.slug, result.business_date, result.steps_run,
                 result.steps_skipped)


@system_actor
def close_business_day_everywhere() -> None:
    """Send ``close_business_day`` for every active tenant (each runs in parallel on the workers)."""
    with shared_session() as session, session.begin():
        slugs = session.execute(text("SELECT slug FROM cf_shared.tenant WHERE status = 'active' ORDER BY slug")).scalars().all()
    for slug in slugs:
        with CurrentTenant.bind(directory.get(slug)):
            close_business_day.send()
