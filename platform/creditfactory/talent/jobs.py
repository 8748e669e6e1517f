"""Talent jobs: the monthly recomputation of loan-officer scorecards."""

from __future__ import annotations

from ..db import CurrentTenant, SystemContext, tenant_session
from ..jobs import tenant_actor
from . import scorecards


@tenant_actor(max_retries=5)
def recompute_scorecards(period: str) -> None:
    """Recompute the bound tenant's officer scorecards of ``period`` (YYYY-MM); an upsert, so idempotent."""
    tenant = CurrentTenant.get()
    with SystemContext(f"talent scorecards: {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        scorecards.compute(session, period)
