"""The scheduler sends each periodic job once per slot, per tenant in its own time zone, whoever ticks."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from creditfactory.db import CurrentTenant, SystemContext, engine_for
from creditfactory.jobs import SYSTEM_QUEUE, TENANT_QUEUE, system_actor, tenant_actor
from creditfactory.jobs.schedule import Periodic, periodic_jobs, register_periodic, run, tick

UTC = dt.timezone.utc


@pytest.fixture
def jobs(stub_broker, cf_settings):
    @system_actor(broker=stub_broker, max_retries=0)
    def housekeeping():
        pass

    @tenant_actor(broker=stub_broker, max_retries=0)
    def nightly():
        pass

    with engine_for("default").begin() as connection:
        connection.execute(text("DELETE FROM cf_shared.job_schedule WHERE job LIKE 'test-%'"))
    return (Periodic("test-housekeeping", housekeeping, every=dt.timedelta(minutes=10)),
            Periodic("test-nightly", nightly, daily_at=dt.time(23, 30)))



def queued(broker, queue) -> int:
    return broker.queues[queue].qsize() if queue in broker.queues else 0


def test_an_interval_job_is_sent_once_per_slot(jobs, stub_broker):
    housekeeping = jobs[0]
    start = dt.datetime(2026, 12, 1, 9, 1, tzinfo=UTC)
    assert tick(start, [housekeeping]) == [("test-housekeeping", "")]
    assert tick(start + dt.timedelta(minutes=8), [housekeeping]) == []  # same 09:00–09:10 slot
    assert tick(start + dt.timedelta(minutes=9), [housekeeping]) == [("test-housekeeping", "")]
    # A scheduler that was down for hours sends the missed job once, not once per missed slot.
    assert tick(start + dt.timedelta(hours=5), [housekeeping]) == [("test-housekeeping", "")]
    assert queued(stub_broker, SYSTEM_QUEUE) == 3


def test_a_daily_job_runs_at_each_tenants_local_time(jobs, stub_broker, tenant_a, tenant_b):
    nightly = jobs[1]
    # 15:00 UTC is 23:00 in Shanghai: not yet; 15:31 UTC is 23:31: due.
    before = [pair for pair in tick(dt.datetime(2026, 12, 1, 15, 0, tzinfo=UTC), [nightly])
              if pair[1] in (tenant_a.slug, tenant_b.slug)]
    # The first look ever sends yesterday's slot (nothing was recorded); the next one waits for 23:30.
    assert sorted(before) == sorted([("test-nightly", tenant_a.slug), ("test-nightly", tenant_b.slug)])
    assert [p for p in tick(dt.datetime(2026, 12, 1, 15, 29, tzinfo=UTC), [nightly])
            if p[1] in (tenant_a.slug, tenant_b.slug)] == []
    due = [p for p in tick(dt.datetime(2026, 12, 1, 15, 31, tzinfo=UTC), [nightly])
           if p[1] in (tenant_a.slug, tenant_b.slug)]
    assert sorted(due) == sorted([("test-nightly", tenant_a.slug), ("test-nightly", tenant_b.slug)])
    tenants = {message.options["tenant"] for message in
               (__import__("dramatiq").Message.decode(raw) for raw in list(stub_broker.queues[TENANT_QUEUE].queue))}
    assert {tenant_a.slug, tenant_b.slug} <= tenants


def test_a_suspended_tenant_gets_no_periodic_jobs(jobs, tenant_factory):
    from creditfactory.tenancy import services

    tenant = tenant_factory()
    with SystemContext("test: suspend"):
        services.suspend(tenant.slug, reason="审计中")
    slugs = {slug for _, slug in tick(dt.datetime(2026, 12, 2, 15, 31, tzinfo=UTC), [jobs[1]])}
    assert tenant.slug not in slugs


def test_two_schedulers_ticking_at_once_send_each_slot_once(jobs, stub_broker):
    housekeeping = jobs[0]
    at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    results, barrier = [], threading.Barrier(4)

    def racer():
        barrier.wait()
        results.extend(tick(at, [housekeeping]))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [("test-housekeeping", "")]
    assert queued(stub_broker, SYSTEM_QUEUE) == 1


def test_only_one_scheduler_leads(jobs, stub_broker):
    """While one scheduler holds the advisory lock, another stands by and sends nothing."""
    from creditfactory.jobs.schedule import LEADER_LOCK_KEY

    with engine_for("default").connect() as holder:
        assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar()
        stop = threading.Event()
        standby = threading.Thread(target=run, args=(stop,), kwargs={"tick_seconds": 0.05})
        standby.start()
        stop.wait(0.3)
        stop.set()
        standby.join(5)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
    assert queued(stub_broker, SYSTEM_QUEUE) == 0


def test_periodic_jobs_are_declared_correctly(stub_broker):
    @system_actor(broker=stub_broker)
    def sys_job():
        pass

    @tenant_actor(broker=stub_broker)
    def tenant_job():
        pass

    with pytest.raises(ValueError, match="exactly one of"):
        Periodic("x", sys_job)
    with pytest.raises(ValueError, match="every= sends a system_actor"):
        Periodic("x", tenant_job, every=dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="at least one minute"):
        Periodic("x", sys_job, every=dt.timedelta(seconds=5))
    import creditfactory.tenancy.jobs  # noqa: F401 - registers replenish-spare-schemas

    with pytest.raises(ValueError, match="already registered"):
        register_periodic(Periodic("replenish-spare-schemas", sys_job, every=dt.timedelta(hours=2)))


def test_the_platform_registers_its_housekeeping():
    import creditfactory.jobs.worker  # noqa: F401

    assert {"finalize-offboarding", "replenish-spare-schemas"} <= periodic_jobs().keys()


def test_a_standby_scheduler_still_beats_its_heartbeat(jobs, monkeypatch, tmp_path):
    """The chart's liveness probe reads the heartbeat file: a standby is alive, not wedged."""
    from creditfactory.jobs.schedule import LEADER_LOCK_KEY

    heartbeat = tmp_path / "heartbeat"
    monkeypatch.setenv("CREDITFACTORY_HEARTBEAT_FILE", str(heartbeat))
    with engine_for("default").connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY})
        stop = threading.Event()
        standby = threading.Thread(target=run, args=(stop,), kwargs={"tick_seconds": 0.05})
        standby.start()
        stop.wait(0.2)
        stop.set()
        standby.join(5)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
    assert heartbeat.exists()


def test_the_worker_heartbeat_touches_its_file_while_the_worker_runs(stub_broker, tmp_path):
    import dramatiq

    from creditfactory.jobs.heartbeat import Heartbeat

    heartbeat = tmp_path / "worker-heartbeat"
    stub_broker.add_middleware(Heartbeat(heartbeat))
    worker = dramatiq.Worker(stub_broker, worker_timeout=50)
    worker.start()
    try:
        for _ in range(50):
            if heartbeat.exists():
                break
            threading.Event().wait(0.05)
    finally:
        worker.stop()
    assert heartbeat.exists()
