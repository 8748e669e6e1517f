"""Application jobs: the expiry sweep and the SLA reminders, one tenant per message; both idempotent.

The scheduler (``jobs/schedule.py``) sends them to every serving tenant in its own time zone: the expiry sweep
once a night, the SLA reminders three times a working day (a case's SLA is counted in hours, and a reminder is sent
once per state visit, so a later run finds only the cases that went over since).
"""

from __future__ import annotations

import datetime as dt
import logging

from ...db import CurrentTenant, SystemContext, tenant_session
from ...jobs import tenant_actor
from ...jobs.schedule import Periodic, register_periodic
from . import services

log = logging.getLogger(__name__)


def _unattended(reason: str):
    # The sweeps act for no person: a SystemContext attributes their transitions and audit entries to the system,
    # with the message's tenant bound again inside it.
    tenant = CurrentTenant.get()
    return tenant, SystemContext(reason)


@tenant_actor
def expire_applications() -> None:
    """Expire the bound tenant's pre-contract applications older than ``applications.expiry_days`` (default 30)."""
    tenant, system = _unattended("applications: expiry sweep")
    with system, CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
        expired = services.expire_stale(session)
    if expired:
        log.info("tenant %s: %d application(s) expired", tenant.slug, len(expired))


@tenant_actor
def send_sla_reminders() -> None:
    """Remind the assignee of every case over its state's SLA (``applications.sla_hours``); one row per visit."""
    tenant, system = _unattended("applications: SLA reminders")
    with system, CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
        sent = services.send_reminders(session)
    if sent:
        log.info("tenant %s: %d SLA reminder(s) sent", tenant.slug, len(sent))


register_periodic(Periodic("application-expiry", expire_applications, daily_at=dt.time(0, 45)))
#: Morning, midday and afternoon, local time: when the assignees are at work to act on a reminder.
SLA_REMINDER_TIMES = (dt.time(8, 30), dt.time(12, 30), dt.time(16, 30))
for _at in SLA_REMINDER_TIMES:
    register_periodic(Periodic(f"application-sla-reminders-{_at:%H%M}", send_sla_reminders, daily_at=_at))
