"""Employee 360 job: compute a period's hits and scores for the bound tenant."""

from __future__ import annotations

from ... import audit
from ...db import CurrentTenant, SystemContext, tenant_session
from ...jobs import tenant_actor
from . import services


@tenant_actor(max_retries=5)
def compute_period(period: str) -> None:
    """Compute every active employee's 360 score of ``period`` (YYYY-MM); replaces the period's rows, so idempotent."""
    services.check_period(period)
    tenant = CurrentTenant.get()
    with SystemContext(f"employee 360: {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        scores = services.compute(session, period, tenant)
        audit.record(session, "employee_risk.compute", object_type="employee_risk_period",
                     object_id=period, after={"employees": len(scores), "by": "job"})
