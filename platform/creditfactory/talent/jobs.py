"""Talent jobs: the monthly recomputation of loan-officer scorecards and, from them, the officers' pay."""

from __future__ import annotations

from ..db import CurrentTenant, SystemContext, tenant_session
from ..jobs import tenant_actor
from . import pay, scorecards


@tenant_actor(max_retries=5)
def recompute_scorecards(period: str) -> None:
    """Recompute the bound tenant's officer scorecards of ``period`` (YYYY-MM) and the pay that follows from them;
    both are upserts, so idempotent."""
    tenant = CurrentTenant.get()
    with SystemContext(f"talent scorecards: {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        scorecards.compute(session, period)
        pay.compute(session, period)
