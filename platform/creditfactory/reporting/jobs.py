"""KPI snapshots as dramatiq jobs: one idempotent refresh per tenant, sent daily by the scheduler."""

from __future__ import annotations

import datetime as dt
import logging

from ..db import CurrentTenant, SystemContext
from ..errors import DomainError
from ..jobs import system_actor, tenant_actor
from ..jobs.schedule import Periodic, register_periodic
from . import services, tasks

log = logging.getLogger(__name__)


@tenant_actor(time_limit=3600 * 1000, max_retries=10)
def refresh_kpi_snapshots(as_of: str | None = None) -> None:
    """Recompute the bound tenant's day and month KPI snapshots (overwrites the same rows: safe to repeat)."""
    tenant = CurrentTenant.get()
    with SystemContext(f"kpi snapshots: {tenant.slug}"):
        result = services.refresh_tenant(tenant, as_of=dt.date.fromisoformat(as_of) if as_of else None)
    log.info("kpi snapshots %s as of %s", tenant.slug, result["as_of"])


# After the nightly COB (23:30 local) has had time to close the day; a late COB only delays the figures by a day.
register_periodic(Periodic("kpi-snapshots", refresh_kpi_snapshots, daily_at=dt.time(5, 30)))


@system_actor(time_limit=3600 * 1000, max_retries=3, throws=(DomainError,))
def generate_regulatory_report(task_id: int) -> None:
    """Build a large regulator report's file for its task (reporting.tasks); a failure is shown on the task."""
    try:
        services.build_report_file(task_id)
    except Exception as exc:
        tasks.advance(task_id, 0, f"{type(exc).__name__}: {exc}".splitlines()[0], status="failed")
        raise
