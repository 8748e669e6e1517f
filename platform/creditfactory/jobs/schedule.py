"""Periodic jobs: what runs when, and the scheduler process that sends them (``creditfactory scheduler``).

dramatiq runs messages but has no clock. Capabilities declare their periodic work here when their module is
imported (the modules in ``worker.ACTOR_MODULES``)::

    register_periodic(Periodic("spare-schemas", replenish_spare_schemas, every=dt.timedelta(minutes=10)))
    register_periodic(Periodic("cob", run_cob, daily_at=dt.time(23, 30)))   # per tenant, in its time zone

A job with ``every`` is a system job sent once per interval slot (slots are aligned to the epoch, so restarts do
not shift them). A job with ``daily_at`` is sent once a day to every serving tenant, at that local time in the
tenant's own time zone, bound to that tenant. Each (job, tenant) remembers the last slot it was sent for in
``cf_shared.job_schedule``, updated by compare-and-set in the same transaction as the send, so:

* any number of scheduler replicas may run: one holds a PostgreSQL advisory lock and sends, the others wait as
  hot standbys; and even two leaders (a network partition) would not send one slot twice, because only one
  compare-and-set wins;
* a scheduler that was down sends each missed job once when it comes back (the latest slot), not once per
  missed slot: every periodic actor must be idempotent and catch up by itself (COB runs up to the business date).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from dataclasses import dataclass
from typing import Iterable

import dramatiq
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ..db import CurrentTenant, SystemContext, TenantRef, engine_for
from .heartbeat import beat

log = logging.getLogger(__name__)

#: Key of the PostgreSQL advisory lock held by the scheduler that sends ("leader").
LEADER_LOCK_KEY = 0x43465343  # "CFSC"
#: Seconds between two looks at the clock.
TICK_SECONDS = 15
_EPOCH = dt.datetime(2000, 1, 3, tzinfo=dt.timezone.utc)  # a Monday, so weekly slots start on Mondays
#: Slot of a system job, recorded with this tenant slug in the schedule table.
_SYSTEM = ""


@dataclass(frozen=True)
class Periodic:
    """One periodic job: a ``name`` (unique), the ``actor`` to send (with no arguments), and either ``every``
    (a system job) or ``daily_at`` (per serving tenant, local time)."""

    name: str
    actor: dramatiq.Actor
    every: dt.timedelta | None = None
    daily_at: dt.time | None = None

    def __post_init__(self) -> None:
        if (self.every is None) == (self.daily_at is None):
            raise ValueError(f"periodic job {self.name!r} needs exactly one of every= and daily_at=")
        if self.every is not None and self.every < dt.timedelta(minutes=1):
            raise ValueError(f"periodic job {self.name!r}: every= must be at least one minute")
        system = bool(self.actor.options.get("system"))
        if system != (self.every is not None):
            raise ValueError(f"periodic job {self.name!r}: every= sends a system_actor, daily_at= a tenant_actor")

    def slot(self, now: dt.datetime, timezone: str = "UTC") -> dt.datetime:
        """The latest slot at or before ``now`` (aware), as a UTC instant."""
        if self.every is not None:
            return _EPOCH + ((now - _EPOCH) // self.every) * self.every
        local = now.astimezone(zoneinfo.ZoneInfo(timezone))
        today = dt.datetime.combine(local.date(), self.daily_at, tzinfo=local.tzinfo)
        due = today if local >= today else today - dt.timedelta(days=1)
        return due.astimezone(dt.timezone.utc)


_PERIODIC: dict[str, Periodic] = {}


def register_periodic(job: Periodic) -> Periodic:
    """Declare ``job``; registering another job under a taken name is an error."""
    existing = _PERIODIC.get(job.name)
    if existing is not None and existing != job:
        raise ValueError(f"periodic job {job.name!r} is already registered")
    _PERIODIC[job.name] = job
    return job


def periodic_jobs() -> dict[str, Periodic]:
    return dict(_PERIODIC)


def _serving_tenants() -> list[TenantRef]:
    with engine_for("default").connect() as connection:
        rows = connection.execute(text(
            "SELECT slug, cluster, status, timezone, locale, name_zh, name_en FROM cf_shared.tenant "
            "WHERE status = 'active' ORDER BY slug")).all()
    return [TenantRef(*row) for row in rows]


def _claim(connection, job: str, tenant: str, slot: dt.datetime) -> bool:
    """Compare-and-set: record ``slot`` as sent for (job, tenant) unless it (or a later one) already is."""
    claimed = connection.execute(text(
        "INSERT INTO cf_shared.job_schedule (job, tenant, last_slot, sent_at) VALUES (:job, :tenant, :slot, now()) "
        "ON CONFLICT (job, tenant) DO UPDATE SET last_slot = excluded.last_slot, sent_at = now() "
        "WHERE cf_shared.job_schedule.last_slot < excluded.last_slot RETURNING 1"),
        {"job": job, "tenant": tenant, "slot": slot}).first()
    return claimed is not None


def tick(now: dt.datetime, jobs: Iterable[Periodic] | None = None) -> list[tuple[str, str]]:
    """Send every job whose current slot has not been sent yet; returns the (job, tenant slug) pairs sent.

    Each send and its record commit together: when the broker refuses, the record rolls back and the next tick
    tries again.
    """
    jobs = list(_PERIODIC.values() if jobs is None else jobs)
    tenants = _serving_tenants() if any(job.daily_at is not None for job in jobs) else []
    sent = []
    engine = engine_for("default")
    for job in jobs:
        targets = [(None, job.slot(now))] if job.every is not None else \
            [(tenant, job.slot(now, tenant.timezone)) for tenant in tenants]
        for tenant, slot in targets:
            slug = tenant.slug if tenant is not None else _SYSTEM
            with engine.begin() as connection:
                if not _claim(connection, job.name, slug, slot):
                    continue
                _send(job, tenant)
            sent.append((job.name, slug))
            log.info("periodic job %s sent%s for slot %s", job.name, f" to {slug}" if slug else "", slot.isoformat())
    return sent


def _send(job: Periodic, tenant: TenantRef | None) -> None:
    if tenant is None:
        with SystemContext(f"periodic job {job.name}"):
            job.actor.send()
    else:
        with CurrentTenant.bind(tenant):
            job.actor.send()


def run(stop: threading.Event, *, tick_seconds: float = TICK_SECONDS) -> None:
    """Run until ``stop`` is set: wait to become leader (advisory lock), then tick every ``tick_seconds``.

    A lost database connection ends the lead (PostgreSQL releases the lock with the session); the scheduler
    then waits and stands for election again, so a database restart needs no scheduler restart.
    """
    while not stop.is_set():
        beat()  # a standby is alive too
        try:
            _lead_while_possible(stop, tick_seconds)
        except DBAPIError:
            log.warning("scheduler lost its database connection; standing for election again", exc_info=True)
        stop.wait(tick_seconds)


def _lead_while_possible(stop: threading.Event, tick_seconds: float) -> None:
    with engine_for("default").connect() as lock_connection:
        leader = lock_connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}).scalar()
        lock_connection.commit()
        if not leader:
            log.debug("another scheduler is leader; standing by")
            return
        log.info("scheduler is leader: %d periodic job(s): %s", len(_PERIODIC), ", ".join(sorted(_PERIODIC)))
        try:
            while not stop.is_set():
                try:
                    tick(dt.datetime.now(dt.timezone.utc))
                except Exception:  # a broker outage or one bad job: log, keep the lead, try at the next tick
                    log.exception("scheduler tick failed")
                beat()
                stop.wait(tick_seconds)
                lock_connection.execute(text("SELECT 1"))  # raises when the lock's session is gone
                lock_connection.commit()
        finally:
            if not lock_connection.closed and not lock_connection.invalidated:
                lock_connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY})
                lock_connection.commit()
