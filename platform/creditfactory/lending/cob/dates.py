"""The tenant's servicing business date (``cob_state``), seeded from the tenant registry on first use."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .models import CobState


def _registry_date(session: Session) -> dt.date:
    tenant = session.info.get("tenant")
    if tenant is not None:
        try:
            with session.begin_nested():
                found = session.execute(text("SELECT business_date FROM cf_shared.tenant WHERE slug = :slug"),
                                        {"slug": tenant.slug}).scalar()
            if found is not None:
                return found
        except DBAPIError:  # a tenant on another cluster: the registry is not in this database
            pass
    zone = ZoneInfo(getattr(tenant, "timezone", None) or "Asia/Shanghai")
    return dt.datetime.now(zone).date()


def business_date(session: Session, *, lock: bool = False) -> dt.date:
    """Today's business date for this tenant (``lock``: hold the COB row until commit, serialising COB steps)."""
    query = _BUSINESS_DATE_LOCKED if lock else BUSINESS_DATE
    found = session.execute(query).scalar()
    if found is None:
        session.execute(pg_insert(CobState).values(id=1, business_date=_registry_date(session))
                        .on_conflict_do_nothing())
        found = session.execute(query).scalar_one()
    return found


#: The business date as a query, for reading it within a larger statement; it finds nothing (NULL) until the
#: first ``business_date()`` seeds the row. Built once: read on every decision and posting, and a reused statement
#: keeps its SQLAlchemy cache key.
BUSINESS_DATE = select(CobState.business_date).where(CobState.id == 1)
_BUSINESS_DATE_LOCKED = BUSINESS_DATE.with_for_update()


def set_business_date(session: Session, day: dt.date) -> None:
    """Set the business date (tests, onboarding a tenant mid-life); COB advances it on its own."""
    business_date(session)
    session.execute(text("UPDATE cob_state SET business_date = :d, updated_at = now() WHERE id = 1"), {"d": day})
