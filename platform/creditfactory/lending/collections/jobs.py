"""The daily collections and post-loan review as a tenant job, sent by the scheduler every morning.

Idempotent: every statement of ``services.review`` inserts only what is missing (partial unique indexes,
``ON CONFLICT DO NOTHING``) and moves only what changed, so a duplicate message or a scheduler catching up after
downtime changes nothing twice. It reviews the last closed business day (the day before the business date).
"""

from __future__ import annotations

import datetime as dt
import logging

from ...db import CurrentTenant, SystemContext, tenant_session
from ...jobs import tenant_actor
from ...jobs.schedule import Periodic, register_periodic
from . import services

log = logging.getLogger(__name__)


@tenant_actor
def review_collections() -> None:
    """Open/advance/close collection cases, resolve promises to pay, queue pre-due reminders, schedule
    post-loan inspections for the bound tenant."""
    tenant = CurrentTenant.get()
    with SystemContext(f"collections: daily review {tenant.slug}"), CurrentTenant.bind(tenant), \
            tenant_session(tenant) as session, session.begin():
        result = services.review(session)
    log.info("collections %s %s: %s", tenant.slug, result.business_date, result)


# Local morning, after the nightly close of business has advanced the business date.
register_periodic(Periodic("collections-review", review_collections, daily_at=dt.time(6, 30)))
