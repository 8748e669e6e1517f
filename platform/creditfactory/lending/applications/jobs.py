"""Application jobs: the expiry sweep and the SLA reminders, one tenant per message; both idempotent.

Schedule them per tenant (e.g. hourly) by sending inside ``CurrentTenant.bind(tenant)``.
"""

from __future__ import annotations

import logging

from ...db import CurrentTenant, SystemContext, tenant_session
from ...jobs import tenant_actor
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
