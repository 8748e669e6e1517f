"""Provisioning a village bank from the head-office console, as a job with progress (``reporting.tasks``).

The page validates the declaration at once (bad fields are shown on the form, nothing is queued), records a
task and sends ``provision_tenant``; the job provisions (``services.provision``: registry entry, schema, plugin
tables, parameters, all or nothing), records the net capital when given, and computes the first KPI snapshots so
the bank appears in the dashboard at once. Each step is written to the task before it starts.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..db import SystemContext, shared_session
from ..jobs import system_actor
from ..portal.nav import N_
from ..reporting import tasks

log = logging.getLogger(__name__)

STEPS = 3


def queue_provisioning(spec: dict[str, Any], net_capital: str | None) -> int:
    """Validate ``spec`` (``TenantSpecError`` names every bad field; nothing is queued), record the task of the
    current principal and send the job; returns the task id."""
    from ..identity.authorization import authorize
    from ..identity.permissions import Permission
    from .models import Tenant
    from .services import TenantSpec, TenantSpecError

    authorize(Permission.TENANT_PROVISION)
    declared = TenantSpec.from_mapping(dict(spec))
    with shared_session() as session, session.begin():
        # Said on the form at once rather than as a failed job (provision checks again under a lock).
        status = session.scalar(select(Tenant.status).where(Tenant.slug == declared.slug))
        if status is not None and status not in ("failed", "provisioning"):
            raise TenantSpecError(declared.slug, {"slug": f"tenant {declared.slug!r} already exists ({status})"})
        task_id = tasks.create(session, "provision", {"spec": spec, "net_capital": net_capital}, steps=STEPS).id
        requested_by = tasks.requester()
    with SystemContext(f"console: provisioning {spec['slug']} for {requested_by} (task {task_id})"):
        provision_tenant.send(task_id)
    return task_id


def run_provisioning(task_id: int) -> None:
    """The job's work: provision, record the capital, compute the first snapshots (each step recorded first)."""
    from ..reporting.models import ConsoleTask
    from ..reporting.services import refresh_tenant, set_capital
    from .services import TenantSpec, provision

    with shared_session() as session:
        parameters = dict(session.get(ConsoleTask, task_id).parameters)
    spec = TenantSpec.from_mapping(dict(parameters["spec"]))
    tasks.advance(task_id, 0, N_("Building the schema of %(bank)s."), args={"bank": spec.slug})
    ref = provision(spec)
    tasks.advance(task_id, 1, N_("Recording the net capital."))
    if parameters.get("net_capital"):
        with shared_session() as session, session.begin():
            set_capital(session, spec.slug, net_capital=Decimal(parameters["net_capital"]))
    tasks.advance(task_id, 2, N_("Computing the first KPI snapshots."))
    refresh_tenant(ref)
    tasks.advance(task_id, 3, N_("%(bank)s is active."), args={"bank": spec.slug}, status="done")


@system_actor(time_limit=1800 * 1000, max_retries=0)
def provision_tenant(task_id: int) -> None:
    """Provision the bank a console task declares; a failure is shown on the task (and leaves the registry entry
    ``failed`` with the reason, so the same declaration can be provisioned again)."""
    try:
        run_provisioning(task_id)
    except Exception as exc:
        log.exception("console provisioning task %s failed", task_id)
        tasks.advance(task_id, 0, f"{type(exc).__name__}: {exc}".splitlines()[0], status="failed")
