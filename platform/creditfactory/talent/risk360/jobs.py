"""Employee 360 jobs: compute a period for the bound tenant, and the daily refresh of the current month."""

from __future__ import annotations

import datetime as dt

from ... import audit
from ...db import CurrentTenant, SystemContext, tenant_session
from ...jobs import tenant_actor
from ...jobs.schedule import Periodic, register_periodic
from ...lending.cob.dates import business_date
from . import services


@tenant_actor(max_retries=5)
def compute_period(period: str) -> None:
    """Compute every active employee's 360 score of ``period`` (YYYY-MM); replaces the period's rows, so idempotent."""
    services.check_period(period)
    tenant = CurrentTenant.get()
    with SystemContext(f"employee 360: {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        _compute(session, period, tenant)


@tenant_actor(max_retries=5)
def refresh_current_month() -> None:
    """Recompute the month of the bank's business date, so the dashboard follows the month as it goes."""
    tenant = CurrentTenant.get()
    with SystemContext(f"employee 360: {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        _compute(session, business_date(session).strftime("%Y-%m"), tenant)


def _compute(session, period, tenant) -> None:
    scores = services.compute(session, period, tenant)
    audit.record(session, "employee_risk.compute", object_type="employee_risk_period", object_id=period,
                 after={"employees": len(scores), "by": "job"})


# After the 23:30 COB and the 05:30 KPI snapshots: the night's classification and overdue days are in.
register_periodic(Periodic("employee-risk-refresh", refresh_current_month, daily_at=dt.time(6, 45)))
