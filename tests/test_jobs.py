"""Jobs: the tenant travels with every message and is bound in the worker; brokers by URL; real round trips."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text

from creditfactory.db import CurrentTenant, SystemContext, engine_for, tenant_session
from creditfactory.jobs import (
    SYSTEM_QUEUE,
    TENANT_QUEUE,
    BrokerNotConfigured,
    SendRefused,
    TenantMiddleware,
    broker_reachable,
    installed_broker,
    make_broker,
    setup_broker,
    system_actor,
    tenant_actor,
    use_broker,
)
from creditfactory.jobs.broker import REDIS_NAMESPACE, CreditFactoryPostgresBroker, broker_kind
from creditfactory.tenancy import registry, services
from creditfactory.tenancy.jobs import finalize_offboarding, set_tenant_parameter
from creditfactory.tenancy.models import TenantParameter

ROOT = Path(__file__).resolve().parents[1]
JOIN_MS = 10_000


@pytest.fixture(autouse=True)
def _global_broker_restored():
    before = (dramatiq.broker.global_broker, installed_broker())
    yield
    after = (dramatiq.broker.global_broker, installed_broker())
    assert after[0] is before[0] and after[1] is before[1], "a test left another broker installed"


@pytest.fixture
def start_worker():
    workers = []

    def start(broker, *, threads=2, queues=None):
        worker = dramatiq.Worker(broker, queues=queues, worker_timeout=50, worker_threads=threads)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=JOIN_MS)


@pytest.fixture
def probe(stub_broker):
    """A tenant actor and a system actor that record the context they ran in."""
    seen = []

    # Record every run, bound or not, so a run that should not have happened shows up.
    @tenant_actor(broker=stub_broker, max_retries=0)
    def tenant_probe(label):
        seen.append(("tenant", label, _bound_slug(), SystemContext.active()))

    @system_actor(broker=stub_broker, max_retries=0)
    def system_probe(label):
        seen.append(("system", label, _bound_slug(), SystemContext.active()))

    return SimpleNamespace(tenant=tenant_probe, system=system_probe, seen=seen)


def _bound_slug():
    tenant = CurrentTenant.get_or_none()
    return tenant.slug if tenant is not None else None


def _join(broker, *queues, fail_fast=True):
    for queue in queues or (TENANT_QUEUE, SYSTEM_QUEUE):
        broker.join(queue, timeout=JOIN_MS, fail_fast=fail_fast)


def _parameter(tenant, key):
    with tenant_session(tenant) as session:
        return session.scalar(select(TenantParameter.value).where(TenantParameter.key == key))


def _wait_for(predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


# --- sending -------------------------------------------------------------------------------------

def test_send_stamps_the_bound_tenant(stub_broker, probe, tenant_a):
    with CurrentTenant.bind(tenant_a):
        message = probe.tenant.send("x")
    assert message.options["tenant"] == tenant_a.slug
    assert "system" not in message.options
    travelled = dramatiq.Message.decode(stub_broker.queues[TENANT_QUEUE].queue[0])
    assert travelled.options["tenant"] == tenant_a.slug


def test_send_with_no_tenant_outside_a_system_context_is_refused(stub_broker, probe, tenant_a):
    with pytest.raises(SendRefused, match="no tenant is bound"):
        set_tenant_parameter.send("jobs.k", 1)
    with SystemContext("fan-out without binding"), pytest.raises(SendRefused, match="no tenant is bound"):
        set_tenant_parameter.send("jobs.k", 1)
    assert stub_broker.queues[TENANT_QUEUE].qsize() == 0


def test_system_actors_are_sent_only_from_a_system_context(stub_broker, probe, tenant_a):
    with pytest.raises(SendRefused, match="SystemContext"):
        probe.system.send("s")
    with CurrentTenant.bind(tenant_a), pytest.raises(SendRefused, match="system actor"):
        probe.system.send("s")
    with SystemContext("fan-out"), CurrentTenant.bind(tenant_a), pytest.raises(SendRefused, match="system actor"):
        probe.system.send("s")
    assert stub_broker.queues[SYSTEM_QUEUE].qsize() == 0


def test_the_tenant_cannot_be_named_by_the_sender(stub_broker, probe, tenant_a, tenant_b):
    with CurrentTenant.bind(tenant_a):
        with pytest.raises(SendRefused, match="'tenant'"):
            probe.tenant.send_with_options(args=("x",), tenant=tenant_b.slug)
        with pytest.raises(SendRefused, match="'system'"):
            probe.tenant.send_with_options(args=("x",), system="escalate")
        # A message built elsewhere, already addressed to B, is not re-addressed from A's context.
        forged = probe.tenant.message("x").copy(options={"tenant": tenant_b.slug})
        with pytest.raises(SendRefused, match="acts for tenant"):
            stub_broker.enqueue(forged)
    assert stub_broker.queues[TENANT_QUEUE].qsize() == 0


def test_sending_before_a_broker_is_installed_is_refused(cf_settings, tenant_a):
    with use_broker(None), CurrentTenant.bind(tenant_a), pytest.raises(BrokerNotConfigured, match="setup_broker"):
        set_tenant_parameter.send("jobs.k", 1)


def test_declaration_rules(stub_broker):
    with pytest.raises(TypeError, match="async"):
        @tenant_actor(broker=stub_broker)
        async def coroutine_actor():
            pass
    with pytest.raises(TypeError, match="system"):
        tenant_actor(broker=stub_broker, system=True)
    with pytest.raises(ValueError, match="TenantMiddleware"):
        @tenant_actor(broker=StubBroker())
        def unguarded():
            pass


# --- processing ----------------------------------------------------------------------------------

def test_worker_binds_the_tenant_each_message_was_sent_for(stub_broker, probe, start_worker, tenant_a, tenant_b):
    for n in range(10):
        tenant = (tenant_a, tenant_b)[n % 2]
        with CurrentTenant.bind(tenant):
            probe.tenant.send(tenant.slug)
    start_worker(stub_broker, threads=4)
    _join(stub_broker)
    assert len(probe.seen) == 10
    assert all(label == bound and reason is None for _, label, bound, reason in probe.seen)
    assert sorted(bound for _, _, bound, _ in probe.seen) == sorted([tenant_a.slug] * 5 + [tenant_b.slug] * 5)


def test_binding_never_outlives_its_message(stub_broker, probe, start_worker, tenant_a, tenant_b):
    @tenant_actor(broker=stub_broker, max_retries=0)
    def failing_probe():
        raise RuntimeError("boom")

    with CurrentTenant.bind(tenant_a):
        probe.tenant.send("first")
        failing_probe.send()
    with SystemContext("after tenant work"):
        probe.system.send("system")
    with CurrentTenant.bind(tenant_b):
        probe.tenant.send("last")
    start_worker(stub_broker, threads=1)  # one thread, so every message runs where the previous one ran
    _join(stub_broker, fail_fast=False)
    assert sorted(probe.seen, key=str) == sorted([
        ("tenant", "first", tenant_a.slug, None),
        ("system", "system", None, "after tenant work"),
        ("tenant", "last", tenant_b.slug, None),
    ], key=str)
    assert [m.actor_name for m in stub_broker.dead_letters] == ["failing_probe"]


def test_follow_up_messages_enqueued_by_the_worker_keep_the_tenant(stub_broker, probe, start_worker, tenant_a):
    # Pipelines enqueue the next step after the actor returned: the binding must still be in place then.
    with CurrentTenant.bind(tenant_a):
        dramatiq.pipeline([probe.tenant.message_with_options(args=("step 1",), pipe_ignore=True),
                           probe.tenant.message_with_options(args=("step 2",), pipe_ignore=True)]).run()
    start_worker(stub_broker)
    _join(stub_broker)
    assert probe.seen == [("tenant", "step 1", tenant_a.slug, None), ("tenant", "step 2", tenant_a.slug, None)]


def test_tenant_job_writes_only_the_senders_schema(stub_broker, start_worker, tenant_a, tenant_b, tenant_db):
    key = f"jobs.isolation.{uuid.uuid4().hex[:8]}"
    with CurrentTenant.bind(tenant_a):
        set_tenant_parameter.send(key, {"max_amount": "50000.00"})
    start_worker(stub_broker)
    _join(stub_broker)
    assert tenant_db(tenant_a).get(TenantParameter, key).value == {"max_amount": "50000.00"}
    assert tenant_db(tenant_b).get(TenantParameter, key) is None


def test_system_actor_runs_in_its_system_context_without_a_tenant(stub_broker, probe, start_worker):
    with SystemContext("nightly housekeeping"):
        message = probe.system.send("s")
    assert message.options["system"] == "nightly housekeeping" and "tenant" not in message.options
    start_worker(stub_broker)
    _join(stub_broker)
    assert probe.seen == [("system", "s", None, "nightly housekeeping")]


def test_finalize_offboarding_job_drops_schemas_past_retention(stub_broker, start_worker, tenant_factory):
    tenant = tenant_factory()
    services.offboard(tenant.slug)
    with engine_for().begin() as conn:
        conn.execute(text("UPDATE cf_shared.tenant SET drop_after = now() - interval '1 day' WHERE slug = :s"),
                     {"s": tenant.slug})
    with SystemContext("retention passed"):
        finalize_offboarding.send()
    start_worker(stub_broker)
    _join(stub_broker, SYSTEM_QUEUE)
    with engine_for().connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": tenant.schema}) == 0
        assert conn.scalar(text("SELECT status FROM cf_shared.tenant WHERE slug = :s"), {"s": tenant.slug}) == "offboarded"


def test_message_for_a_suspended_tenant_is_not_run(stub_broker, probe, start_worker, tenant_factory, caplog):
    tenant = tenant_factory()
    with CurrentTenant.bind(tenant):
        probe.tenant.send("x")
    services.suspend(tenant.slug, "audit by the head office")
    start_worker(stub_broker)
    _join(stub_broker, fail_fast=False)
    assert probe.seen == []
    assert [m.options["tenant"] for m in stub_broker.dead_letters] == [tenant.slug]
    assert "suspended" in caplog.text and "not run" in caplog.text


def _retarget(tenant_slug):
    return lambda options: {**options, "tenant": tenant_slug}


def _without_tenant(system=None):
    def change(options):
        options = {k: v for k, v in options.items() if k != "tenant"}
        return {**options, "system": system} if system else options
    return change


@pytest.mark.parametrize("kind, tamper", [
    ("tenant", _retarget("nosuchbank")),
    ("tenant", _retarget('a"; drop schema cf_shared; --')),
    ("tenant", _retarget(["not", "a", "slug"])),
    ("tenant", _without_tenant()),
    ("tenant", _without_tenant(system="escalated")),
    ("system", lambda options: {"tenant": "nosuchbank"}),
    ("system", lambda options: {}),
], ids=["unknown-slug", "injection", "not-a-string", "no-tenant", "system-stamp-on-tenant-actor",
        "tenant-stamp-on-system-actor", "no-reason"])
def test_tampered_message_is_not_run(stub_broker, probe, start_worker, tenant_a, kind, tamper):
    queue_name = TENANT_QUEUE if kind == "tenant" else SYSTEM_QUEUE
    if kind == "tenant":
        with CurrentTenant.bind(tenant_a):
            probe.tenant.send("x")
    else:
        with SystemContext("housekeeping"):
            probe.system.send("x")
    # Change the message as it sits in the queue, the way someone with access to the broker could.
    queue = stub_broker.queues[queue_name]
    sent = dramatiq.Message.decode(queue.get_nowait())
    queue.task_done()
    queue.put(dataclasses.replace(sent, options=tamper(dict(sent.options))).encode())
    start_worker(stub_broker)
    _join(stub_broker, fail_fast=False)
    assert probe.seen == []
    assert len(stub_broker.dead_letters) == 1


def test_retries_stay_with_the_senders_tenant(stub_broker, start_worker, tenant_a):
    calls = []

    @tenant_actor(broker=stub_broker, max_retries=3, min_backoff=1, max_backoff=10)
    def flaky():
        calls.append(CurrentTenant.get().slug)
        if len(calls) == 1:
            raise ConnectionError("database failover")

    with CurrentTenant.bind(tenant_a):
        flaky.send()
    start_worker(stub_broker)
    _join(stub_broker)
    assert calls == [tenant_a.slug, tenant_a.slug]


def test_registry_outage_retries_instead_of_running_unbound(stub_broker, probe, start_worker, tenant_a, monkeypatch):
    real = registry.directory.get_serving
    outages = []

    def flaky_lookup(slug):
        if not outages:
            outages.append(slug)
            raise ConnectionError("registry unreachable")
        return real(slug)

    monkeypatch.setattr(registry.directory, "get_serving", flaky_lookup)

    @tenant_actor(broker=stub_broker, max_retries=3, min_backoff=1, max_backoff=10)
    def bound_probe():
        probe.seen.append(_bound_slug())

    with CurrentTenant.bind(tenant_a):
        bound_probe.send()
    start_worker(stub_broker)
    _join(stub_broker)
    assert outages == [tenant_a.slug]
    assert probe.seen == [tenant_a.slug]


# --- brokers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, kind", [
    ("postgresql://cf:secret@127.0.0.1:5432/cf", "postgresql"),
    ("postgres://cf@127.0.0.1/cf", "postgresql"),
    ("postgresql+psycopg://cf@127.0.0.1/cf", "postgresql"),
    ("amqp://guest:guest@127.0.0.1:5672/", "amqp"),
    ("amqps://guest:guest@rabbit.example:5671/%2F", "amqp"),
    ("redis://127.0.0.1:6379/0", "redis"),
    ("rediss://:secret@redis.example:6380/0", "redis"),
])
def test_make_broker_chooses_by_scheme(cf_settings, url, kind):
    expected = {"postgresql": CreditFactoryPostgresBroker, "amqp": "RabbitmqBroker", "redis": "RedisBroker"}[kind]
    broker = make_broker(url)
    try:
        assert broker_kind(url) == kind
        assert broker is not dramatiq.broker.global_broker
        if isinstance(expected, str):
            assert type(broker).__name__ == expected
        else:
            assert isinstance(broker, expected)
        assert isinstance(broker.middleware[0], TenantMiddleware)
        assert "system" in broker.actor_options
    finally:
        broker.close()


@pytest.mark.parametrize("url", ["mysql://cf@db/cf", "http://rabbit:15672/", "redis+sentinel://x", "amqp+psycopg://x",
                                 "not a url"])
def test_make_broker_refuses_other_schemes(cf_settings, url):
    with pytest.raises(ValueError, match="unsupported broker URL"):
        make_broker(url)


def test_make_broker_defaults_to_the_main_database(cf_settings):
    broker = make_broker(settings=dataclasses.replace(cf_settings, broker_url=""))
    try:
        assert isinstance(broker, CreditFactoryPostgresBroker)
    finally:
        broker.close()
    with pytest.raises(ValueError, match="both empty"):
        make_broker(settings=dataclasses.replace(cf_settings, broker_url="", database_url=""))


def test_setup_broker_installs_once(cf_settings):
    with use_broker(None):
        broker = setup_broker()
        try:
            assert setup_broker() is broker
            assert dramatiq.get_broker() is broker
            assert set_tenant_parameter.broker is broker and finalize_offboarding.broker is broker
            assert {"set_tenant_parameter", "finalize_offboarding"} <= broker.get_declared_actors()
        finally:
            broker.close()
    assert set_tenant_parameter.broker is not broker


def test_broker_reachable_for_the_configured_broker(cf_settings):
    ok, detail = broker_reachable()
    assert ok, detail


@pytest.mark.parametrize("url", [
    "postgresql://cf:s3cr3t@127.0.0.1:1/cf",
    "amqp://guest:s3cr3t@127.0.0.1:1/",
    "redis://:s3cr3t@127.0.0.1:1/0",
    "mysql://cf:s3cr3t@127.0.0.1/cf",
    "amqp://guest:s3cr3t@[127.0.0.1/",
])
def test_broker_reachable_reports_failure_without_raising_or_leaking(cf_settings, url, caplog):
    started = time.monotonic()
    ok, detail = broker_reachable(timeout=1.0, url=url)
    assert time.monotonic() - started < 5
    assert not ok and "broker unreachable" in detail
    assert "s3cr3t" not in detail and "127.0.0.1" not in detail
    assert "broker check failed" in caplog.text and "s3cr3t" not in caplog.text


# --- real brokers --------------------------------------------------------------------------------

def test_postgres_broker_round_trip(cf_settings, tenant_a, tenant_b, start_worker):
    key = f"jobs.postgres.{uuid.uuid4().hex[:8]}"
    broker = make_broker(cf_settings.database_url)
    try:
        with use_broker(broker):
            with CurrentTenant.bind(tenant_a):
                message = set_tenant_parameter.send(key, "via postgres")
            worker = start_worker(broker, threads=1)
            assert _wait_for(lambda: _parameter(tenant_a, key)) == "via postgres"

            def acked():
                with engine_for().connect() as conn:
                    return conn.scalar(text("SELECT count(*) FROM cf_jobs.queue WHERE message_id = :id"),
                                       {"id": message.message_id}) == 0
            assert _wait_for(acked)
            worker.stop(timeout=JOIN_MS)
    finally:
        broker.close()
    assert _parameter(tenant_b, key) is None


@pytest.mark.broker
def test_external_broker_round_trip(cf_settings, tenant_a, tenant_b, start_worker):
    url = os.environ.get("CREDITFACTORY_TEST_BROKER_URL", "")
    if not url:
        pytest.skip("CREDITFACTORY_TEST_BROKER_URL is not set (CI sets it to amqp://guest:guest@127.0.0.1:5672/)")
    kind = broker_kind(url)
    if kind == "postgresql":
        pytest.skip("the PostgreSQL broker is covered by test_postgres_broker_round_trip")
    suffix = uuid.uuid4().hex[:10]
    queue_name, key = f"cf_test_{suffix}", f"jobs.{kind}.{suffix}"
    broker = make_broker(url)
    try:
        # The real actor's function, declared on this broker only, on a queue no other run uses.
        actor = tenant_actor(broker=broker, queue_name=queue_name,
                             actor_name=f"set_tenant_parameter_{suffix}")(set_tenant_parameter.fn)
        with CurrentTenant.bind(tenant_a):
            actor.send(key, f"via {kind}")
        worker = start_worker(broker, threads=1)
        assert _wait_for(lambda: _parameter(tenant_a, key)) == f"via {kind}"
        worker.stop(timeout=JOIN_MS)
        assert _parameter(tenant_b, key) is None
    finally:
        if kind == "amqp":
            for name in (queue_name, f"{queue_name}.DQ", f"{queue_name}.XQ"):
                broker.channel.queue_delete(name)
        else:
            keys = broker.client.keys(f"{REDIS_NAMESPACE}:*{queue_name}*")
            if keys:
                broker.client.delete(*keys)
            broker.client.zrem(f"{REDIS_NAMESPACE}:__heartbeats__", broker.broker_id)
        broker.close()


def test_worker_command_runs_tenant_jobs(cf_settings, tenant_a, tmp_path):
    """The production entry point: ``dramatiq creditfactory.jobs.worker`` with the default PostgreSQL broker."""
    key = f"jobs.cli.{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITFACTORY_") or k == "CREDITFACTORY_DISABLE_PLUGINS"}
    env.update(CREDITFACTORY_DATABASE_URL=cf_settings.database_url, CREDITFACTORY_DATA_DIR=str(tmp_path),
               CREDITFACTORY_TENANT_CACHE_TTL="0")
    broker = make_broker(cf_settings.database_url)
    try:
        with use_broker(broker), CurrentTenant.bind(tenant_a):
            set_tenant_parameter.send(key, "via the worker command")
    finally:
        broker.close()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "creditfactory.jobs.worker", "--processes", "1", "--threads", "1"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            value = _wait_for(lambda: _parameter(tenant_a, key) or process.poll() is not None, timeout=60)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    assert value == "via the worker command", log_path.read_text(errors="replace")[-4000:]
