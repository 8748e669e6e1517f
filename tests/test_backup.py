"""Per-tenant export and restore: an encrypted archive restored under a new slug into another cluster holds every
row of every table, a verifiable audit chain and working personal-data keys."""

from __future__ import annotations

import base64
import dataclasses
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from creditfactory import settings as settings_module
from creditfactory.audit import Actor, ActorKind, CurrentActor, record
from creditfactory.audit.verify import verify_log
from creditfactory.cli import cli
from creditfactory.db import CurrentTenant, engine_for, tenant_session
from creditfactory.db.engines import dispose_engines
from creditfactory.privacy.identifiers import IdentifierKind
from creditfactory.privacy.fields import PiiField, seal, unseal
from creditfactory.tenancy.backup import ArchiveError, export_archive, read_manifest, restore_archive
from creditfactory.tenancy.registry import directory
from creditfactory.testing.database import create_database, drop_database

ID_NUMBER = "11010519491231002X"
FIELD = PiiField(IdentifierKind.RESIDENT_ID, "tenant_parameter.value")
TESTER = Actor(id="test:backup", kind=ActorKind.SYSTEM)


@pytest.fixture
def east(cf_settings):
    url = create_database("cf_test_backup_east")
    settings_module.configure(dataclasses.replace(cf_settings, clusters={"east": url}))
    yield url
    dispose_engines()
    settings_module.configure(cf_settings)
    drop_database(url)
    # The copies restored there go with the cluster: later tests walk every registered bank.
    with engine_for("default").begin() as conn:
        conn.execute(text("UPDATE cf_shared.tenant SET status = 'offboarded' WHERE cluster = 'east'"))


@pytest.fixture
def key():
    return os.urandom(32)


@pytest.fixture
def populated(tenant_factory):
    """A tenant with parameters, holidays, audit entries and a sealed identity number."""
    tenant = tenant_factory(parameters={"region": "普洱", "limits": {"max": "300000.00"}})
    with CurrentActor.bind(TESTER), CurrentTenant.bind(tenant), tenant_session(tenant) as session, session.begin():
        session.execute(text("INSERT INTO holiday (day, name) VALUES ('2026-10-01', '国庆节'), ('2026-10-02', '国庆节')"))
        sealed = seal(session, FIELD, ID_NUMBER).value
        session.execute(text("INSERT INTO tenant_parameter (key, value) VALUES ('sealed', to_jsonb(CAST(:v AS text)))"),
                        {"v": sealed})
        for n in range(3):
            record(session, "test.change", object_type="thing", object_id=str(n), before={"n": n}, after={"n": n + 1})
    return tenant


def rows(cluster: str, schema: str) -> dict[str, list[tuple]]:
    """Every row of every table of ``schema``, ordered, as text (exact for numerics, JSON and bytes)."""
    with engine_for(cluster).connect() as conn:
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> "
                                   "'alembic_version' ORDER BY 1"), {"s": schema}).all()
        return {table: [tuple(row) for row in conn.execute(text(
            f'SELECT t::text FROM "{schema}"."{table}" t ORDER BY t::text'))] for table in tables}


def test_a_tenant_restored_under_a_new_slug_on_another_cluster_is_identical(populated, east, key, tmp_path):
    archive = tmp_path / "puer.cfarchive"
    with CurrentActor.bind(TESTER):
        info = export_archive(populated.slug, archive, key)
    assert info.tables["holiday"] == 2 and info.audit_head["seq"] >= 3
    assert b"300000.00" not in archive.read_bytes()  # encrypted, not just packed

    with CurrentActor.bind(TESTER):
        copy = restore_archive(archive, key, as_slug=f"{populated.slug}c", cluster="east",
                               legal_entity_code=f"COPY-{populated.slug}")
    assert directory.get_serving(copy.slug).cluster == "east"

    original, restored = rows("default", f"t_{populated.slug}"), rows("east", f"t_{copy.slug}")
    assert original.keys() == restored.keys()
    for table in original:
        # data_key differs by design: re-wrapped for the new slug (checked by unsealing below).
        if table not in ("audit_entry", "audit_head", "data_key"):
            assert restored[table] == original[table], table
    assert len(restored["data_key"]) == len(original["data_key"]) == 1
    # The audit log holds the original chain unchanged, plus one entry recording the restore.
    assert restored["audit_entry"][:len(original["audit_entry"])] == original["audit_entry"]
    assert len(restored["audit_entry"]) == len(original["audit_entry"]) + 1
    with tenant_session(copy) as session, session.begin():
        report = verify_log(session)
        assert report.ok, report
        # The data key was re-wrapped for the new slug: personal data opens in the copy.
        sealed = session.scalar(text("SELECT value #>> '{}' FROM tenant_parameter WHERE key = 'sealed'"))
        assert unseal(session, FIELD, sealed) == ID_NUMBER


def test_the_archive_opens_only_with_its_key_and_only_unaltered(populated, key, tmp_path):
    archive = tmp_path / "a.cfarchive"
    with CurrentActor.bind(TESTER):
        export_archive(populated.slug, archive, key)
    with pytest.raises(ArchiveError, match="does not open with this key"):
        read_manifest(archive, os.urandom(32))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.cfarchive"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="altered"):
        read_manifest(tampered, key)
    truncated = tmp_path / "truncated.cfarchive"
    truncated.write_bytes(archive.read_bytes()[:-20])
    with pytest.raises(ArchiveError):
        read_manifest(truncated, key)


def test_restore_refuses_a_taken_slug_or_legal_entity_code_and_changes_nothing(populated, key, tmp_path):
    archive = tmp_path / "a.cfarchive"
    with CurrentActor.bind(TESTER):
        export_archive(populated.slug, archive, key)
        with pytest.raises(ArchiveError, match="already exists"):
            restore_archive(archive, key)
        with pytest.raises(ArchiveError, match="--legal-entity-code"):
            restore_archive(archive, key, as_slug=f"{populated.slug}x")
    assert directory.lookup(f"{populated.slug}x") is None
    with engine_for("default").connect() as conn:
        assert not conn.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                               {"s": f"t_{populated.slug}x"})


def test_export_and_restore_from_the_command_line(populated, tmp_path):
    key_file = tmp_path / "archive.key"
    key_file.write_text(base64.b64encode(os.urandom(32)).decode())
    archive = tmp_path / "cli.cfarchive"
    runner = CliRunner()
    exported = runner.invoke(cli, ["tenants", "export", populated.slug, "--to", str(archive),
                                   "--key-file", str(key_file)])
    assert exported.exit_code == 0, exported.output
    again = runner.invoke(cli, ["tenants", "export", populated.slug, "--to", str(archive), "--key-file", str(key_file)])
    assert again.exit_code == 2 and "exists" in again.output
    restored = runner.invoke(cli, ["tenants", "restore", str(archive), "--as", f"{populated.slug}r",
                                   "--legal-entity-code", f"R-{populated.slug}", "--key-file", str(key_file)])
    assert restored.exit_code == 0, restored.output
    assert directory.get_serving(f"{populated.slug}r").status == "active"
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not base64!")
    refused = runner.invoke(cli, ["tenants", "restore", str(archive), "--key-file", str(bad_key)])
    assert refused.exit_code == 2 and "base64" in refused.output
