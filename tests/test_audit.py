"""The audit log: a gap-free hash chain per log, append-only in the database, tampering found and located."""

import contextvars
import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from creditfactory.audit import Actor, ActorKind, CurrentActor, Unattributed, record, verify_log
from creditfactory.audit.chain import GENESIS_HASH, canonical_json, canonical_pieces, entry_hash, plain
from creditfactory.audit.models import AuditEntry, SharedAuditEntry
from creditfactory.cli import cli
from creditfactory.db import SystemContext, engine_for, shared_session, tenant_session
from creditfactory.tenancy import services


def append(tenant, count, *, start=0):
    """Commit ``count`` entries to the tenant's log, one transaction for all."""
    with tenant_session(tenant) as session, session.begin():
        for n in range(start, start + count):
            record(session, "parameter.set", object_type="parameter", object_id=f"rate.{n}",
                   before={"value": Decimal(n)}, after={"value": Decimal(n) + Decimal("0.00125")})


def verify(tenant):
    with tenant_session(tenant) as session:
        return verify_log(session)


def entries(tenant):
    with tenant_session(tenant) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def tamper(tenant, sql):
    """What a superuser could do: switch the guard off, change the log, switch it back on."""
    with engine_for(tenant.cluster).begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{tenant.schema}"')
        conn.exec_driver_sql("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_refuse_changes")
        conn.exec_driver_sql(sql)
        conn.exec_driver_sql("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_refuse_changes")


# --- the chain as pure functions ---------------------------------------------------------------

def test_canonical_form_is_stable_and_refuses_floats():
    at = dt.datetime(2026, 12, 1, 8, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    fields = {"seq": 1, "at": at, "actor": "cli:ops", "actor_kind": "system", "tenant": None,
              "action": "tenant.update", "object_type": "tenant", "object_id": "puer",
              "before": {"rate": Decimal("0.0125"), "day": dt.date(2026, 12, 1)}, "after": None,
              "ip": None, "request_id": None}
    text = canonical_json(fields)
    assert '"at":"2026-12-01T00:00:00.000005+00:00"' in text and '"rate":"0.0125"' in text
    assert " " not in text and text == canonical_json(dict(reversed(list(fields.items()))))
    assert entry_hash(GENESIS_HASH, fields) != entry_hash("1" * 64, fields)
    with pytest.raises(TypeError, match="Decimal"):
        plain({"amount": 1.5})


def test_canonical_pieces_leave_room_for_at_and_seq_only():
    # The database fills in at and seq between the pieces; nested keys named like them must stay where they are.
    at = dt.datetime(2026, 12, 1, 8, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    fields = {"seq": 41, "at": at, "actor": "7", "actor_kind": "user", "tenant": "puer", "action": "loan.repay",
              "object_type": "loan", "object_id": "LN1", "before": {"seq": 3, "at": "早上", "q": 'a"b'},
              "after": [Decimal("10.00"), None], "ip": "10.0.0.1", "request_id": "r-1"}
    head, middle, tail = canonical_pieces(fields)
    assert head + '"2026-12-01T00:00:00.000005+00:00"' + middle + "41" + tail == canonical_json(fields)


# --- appending -----------------------------------------------------------------------------------

def test_appends_form_a_valid_gap_free_chain(tenant_factory, audit_actor):
    tenant = tenant_factory()
    append(tenant, 3)
    append(tenant, 2, start=3)
    rows = entries(tenant)
    assert [e.seq for e in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(rows, rows[1:]))
    assert {(e.actor, e.actor_kind, e.tenant) for e in rows} == {(audit_actor.id, "system", tenant.slug)}
    assert rows[2].after == {"value": "2.00125"}  # Decimal kept exact, as text
    report = verify(tenant)
    assert report.ok and report.entries == 5 and report.problems == []
    assert (report.head_seq, report.head_hash) == (5, rows[-1].hash)


def test_a_large_batch_chains_the_same(tenant_factory):
    # Entries go to the database as one JSON array whatever their number: a batch job's hundreds in one commit
    # chain as a single entry does.
    tenant = tenant_factory()
    append(tenant, 2)
    append(tenant, 450, start=2)
    append(tenant, 1, start=452)
    report = verify(tenant)
    assert report.ok and report.entries == report.head_seq == 453


def test_request_ip_and_id_are_recorded(tenant_factory):
    tenant = tenant_factory()
    with Flask(__name__).test_request_context(environ_base={"REMOTE_ADDR": "10.8.0.7"},
                                              headers={"X-Request-ID": "req-42"}):
        with tenant_session(tenant) as session, session.begin():
            record(session, "holiday.add", object_type="holiday", object_id="2026-12-25")
            entry = session.scalars(select(AuditEntry)).one()
    assert (entry.ip, entry.request_id) == ("10.8.0.7", "req-42")
    assert verify(tenant).ok


def test_rolled_back_append_leaves_no_gap(tenant_factory):
    tenant = tenant_factory()
    append(tenant, 1)
    with tenant_session(tenant) as session, session.begin():
        record(session, "parameter.set", object_type="parameter", object_id="rolled.back")
        session.rollback()
    append(tenant, 1, start=1)
    assert [e.seq for e in entries(tenant)] == [1, 2] and verify(tenant).ok


def test_concurrent_appends_stay_gap_free_and_linear(tenant_factory):
    tenant = tenant_factory()
    errors = []

    def worker(n):
        try:
            with CurrentActor.bind(Actor(id=f"worker-{n}", kind=ActorKind.SYSTEM)):
                for i in range(10):
                    with tenant_session(tenant) as session, session.begin():
                        record(session, "parameter.set", object_type="parameter", object_id=f"w{n}.{i}")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.seq for e in entries(tenant)] == list(range(1, 41))
    report = verify(tenant)
    assert report.ok and report.entries == 40


def test_unattributed_change_is_refused_system_context_attributes(tenant_factory):
    tenant = tenant_factory()

    def unattributed():
        with tenant_session(tenant) as session, session.begin():
            record(session, "parameter.set", object_type="parameter", object_id="x")

    def in_system_context():
        with SystemContext("nightly COB"), tenant_session(tenant) as session, session.begin():
            record(session, "cob.run", object_type="business_date", object_id="2026-12-01")
            return session.scalars(select(AuditEntry.actor)).one()

    # A fresh context has neither the test's actor nor a SystemContext bound.
    with pytest.raises(Unattributed):
        contextvars.Context().run(unattributed)
    assert contextvars.Context().run(in_system_context) == "system:nightly COB"
    assert [e.action for e in entries(tenant)] == ["cob.run"]


def test_tenant_logs_are_separate(tenant_factory, tenant_db):
    # Fresh tenants rather than the session's tenant_a/tenant_b: test_cli's `apply --prune` offboards every
    # tenant that exists before it runs, and test_clusters then drops their schemas.
    tenant_a, tenant_b = tenant_factory(), tenant_factory()
    session_a, session_b = tenant_db(tenant_a), tenant_db(tenant_b)
    record(session_a, "parameter.set", object_type="parameter", object_id="only.in.a")
    record(session_b, "parameter.set", object_type="parameter", object_id="only.in.b")
    in_a = set(session_a.scalars(select(AuditEntry.object_id)))
    in_b = set(session_b.scalars(select(AuditEntry.object_id)))
    assert "only.in.a" in in_a and "only.in.b" in in_b  # positive control: each sees its own
    assert "only.in.b" not in in_a and "only.in.a" not in in_b
    assert set(session_a.scalars(select(AuditEntry.tenant))) == {tenant_a.slug}


def test_shared_log_chain(shared_db):
    record(shared_db, "plugin.enable", object_type="plugin", object_id="yn-tea", after={"enabled": True})
    record(shared_db, "plugin.disable", object_type="plugin", object_id="yn-tea", before={"enabled": True})
    first, second = shared_db.scalars(select(SharedAuditEntry).order_by(SharedAuditEntry.seq.desc()).limit(2)).all()[::-1]
    assert isinstance(first, SharedAuditEntry) and first.tenant is None
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    assert verify_log(shared_db).ok


# --- the database refuses changes ---------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "UPDATE audit_entry SET actor = 'someone else'",
    "DELETE FROM audit_entry",
    "TRUNCATE audit_entry",
    "DELETE FROM audit_head",
    "TRUNCATE audit_head",
])
def test_database_refuses_changing_the_log(tenant_factory, statement):
    tenant = tenant_factory()
    append(tenant, 1)
    with engine_for().connect() as conn:
        conn.exec_driver_sql(f'SET search_path TO "{tenant.schema}"')
        with pytest.raises(ProgrammingError, match="append-only"):
            conn.exec_driver_sql(statement)
        conn.rollback()
        conn.exec_driver_sql("RESET search_path")
    assert verify(tenant).ok


# --- tampering is found and located --------------------------------------------------------------

def test_edited_entry_is_located(tenant_factory):
    tenant = tenant_factory()
    append(tenant, 5)
    tamper(tenant, """UPDATE audit_entry SET after = '{"value": "9.99"}' WHERE seq = 3""")
    report = verify(tenant)
    assert not report.ok and report.first_broken == 3
    assert report.problems == ["entry 3 was edited (hash mismatch)"]


def test_edit_with_recomputed_hash_breaks_the_next_link(tenant_factory):
    tenant = tenant_factory()
    append(tenant, 4)
    tamper(tenant, "UPDATE audit_entry SET hash = repeat('a', 64) WHERE seq = 2")
    report = verify(tenant)
    assert report.first_broken == 2
    assert report.problems == ["entry 2 was edited (hash mismatch)", "entry 3 does not chain to 2 (prev_hash)"]


def test_deleted_middle_entry_is_located(tenant_factory):
    tenant = tenant_factory()
    append(tenant, 5)
    tamper(tenant, "DELETE FROM audit_entry WHERE seq = 3")
    report = verify(tenant)
    assert report.first_broken == 3 and report.problems == ["entry 3 missing (seq jumps 2 → 4)"]


def test_deleted_tail_is_caught_by_the_head_and_stays_visible(tenant_factory):
    tenant = tenant_factory()
    append(tenant, 5)
    tamper(tenant, "DELETE FROM audit_entry WHERE seq > 3")
    report = verify(tenant)
    assert report.first_broken == 4
    assert report.problems == ["last entries deleted: head says 5 entries, log ends at 3"]
    # The next append follows the head, not the shortened log, so the hole is never papered over.
    append(tenant, 1)
    assert verify(tenant).problems == ["entries 4-5 missing (seq jumps 3 → 6)"]


# --- the command ---------------------------------------------------------------------------------

@pytest.fixture
def run(cf_settings):
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def test_cli_verify_exit_codes(run, tenant_factory):
    intact, broken = tenant_factory(), tenant_factory()
    append(intact, 2)
    append(broken, 3)
    tamper(broken, "DELETE FROM audit_entry WHERE seq = 2")

    shared = run("audit", "verify")
    assert shared.exit_code == 0, shared.output
    assert shared.output.startswith("shared: intact")

    good = run("audit", "verify", "--tenant", intact.slug, "--json")
    assert good.exit_code == 0, good.output
    (log,) = json.loads(good.output)["logs"]
    assert log["log"] == intact.slug and log["head_seq"] == 2 and len(log["head_hash"]) == 64

    bad = run("audit", "verify", "--tenant", broken.slug)
    assert bad.exit_code == 1
    assert f"{broken.slug}: BROKEN from entry 2" in bad.output and "entry 2 missing (seq jumps 1 → 3)" in bad.output

    everything = json.loads(run("audit", "verify", "--all", "--json").output)
    by_log = {entry["log"]: entry for entry in everything["logs"]}
    assert not everything["ok"] and by_log["shared"]["ok"] and by_log[intact.slug]["ok"]
    assert not by_log[broken.slug]["ok"]
    assert run("audit", "verify", "--all").exit_code == 1

    for args in (["--tenant", "Bad-Slug"], ["--tenant", "nosuchbank"], ["--tenant", intact.slug, "--all"]):
        assert run("audit", "verify", *args).exit_code == 2, args


def test_cli_commands_act_as_the_os_user(run, tenant_factory):
    tenant = tenant_factory()
    assert run("tenants", "suspend", tenant.slug, "--reason", "licence review").exit_code == 0
    with shared_session() as session:
        last = session.scalars(select(SharedAuditEntry).where(SharedAuditEntry.object_id == tenant.slug)
                               .order_by(SharedAuditEntry.seq.desc())).first()
    assert last.action == "tenant.suspend" and last.actor.startswith("cli:") and last.actor_kind == "system"


# --- the tenant lifecycle in the shared log ------------------------------------------------------

def test_lifecycle_is_recorded_in_the_shared_log(tenant_factory, audit_actor):
    tenant = tenant_factory()
    spec = services.TenantSpec.from_mapping({**_spec_fields(tenant.slug), "name_en": "Renamed Village Bank"})
    assert services.update(spec) == ["name_en"]
    services.suspend(tenant.slug, "licence review")
    services.resume(tenant.slug)
    services.offboard(tenant.slug)
    services.finalize_offboarding(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650))
    with shared_session() as session:
        log = list(session.scalars(select(SharedAuditEntry).where(SharedAuditEntry.object_id == tenant.slug)
                                   .order_by(SharedAuditEntry.seq)))
        assert verify_log(session).ok
    assert [e.action for e in log] == ["tenant.provision", "tenant.update", "tenant.suspend", "tenant.resume",
                                       "tenant.offboard", "tenant.export", "tenant.schedule_drop", "tenant.finalize"]
    provision, update, suspend, resume, offboard, export, schedule_drop, finalize = log
    assert provision.actor == "test:tenant_factory" and provision.after["status"] == "active"
    assert provision.after["schema_name"] == tenant.schema and provision.before is None
    assert update.actor == audit_actor.id
    assert (update.before, update.after) == ({"name_en": tenant.name_en}, {"name_en": "Renamed Village Bank"})
    assert suspend.after == {"status": "suspended", "status_reason": "licence review"}
    assert suspend.before == {"status": "active", "status_reason": ""}
    assert resume.after == {"status": "active", "status_reason": ""}
    assert offboard.after["status"] == "offboarding" and export.after["file"].endswith(".cfarchive")
    assert schedule_drop.after["export_path"] == export.after["file"] and schedule_drop.after["drop_after"]
    assert finalize.after == {"status": "offboarded", "status_reason": "schema dropped after retention"}


def _spec_fields(slug):
    with shared_session() as session:
        tenant = services.get_tenant(session, slug)
        return {key: getattr(tenant, key) for key in ("slug", *services.TenantSpec.MANAGED)}
