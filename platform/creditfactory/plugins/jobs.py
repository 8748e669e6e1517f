"""Plugin jobs: the daily refresh of each bank's industry feeds."""

from __future__ import annotations

import datetime as dt
import logging

from ..db import CurrentTenant, tenant_session
from ..jobs import tenant_actor
from ..jobs.schedule import Periodic, register_periodic
from . import feeds
from .host import enabled_plugins, get_host

log = logging.getLogger(__name__)


@tenant_actor
def refresh_feeds() -> None:
    """Fetch the feeds of the bank's enabled plugins and store their points.

    Idempotent: points are upserted by (feed, day), so a repeated run writes the same values again.
    """
    tenant = CurrentTenant.get()
    with tenant_session(tenant) as session, session.begin():
        written = feeds.refresh(session, get_host(), enabled_plugins())
    log.info("feeds refreshed for %s: %s", tenant.slug, written or "no feed")


register_periodic(Periodic("refresh-feeds", refresh_feeds, daily_at=dt.time(6, 0)))
