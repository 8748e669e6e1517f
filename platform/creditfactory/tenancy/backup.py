"""One village bank's data as one encrypted file: export it, restore it (under the same or a new slug, into the same
or another cluster), and hand it back when the bank leaves.

An archive is a tar stream, encrypted in 1 MiB AES-256-GCM chunks with the operator's key (see :class:`Sealer`),
holding:

* ``manifest.json`` — the registry row, the schema's Alembic revision, the audit chain head, and per table its
  columns, row count and the SHA-256 of its data;
* ``tables/<table>.copy`` — each table in PostgreSQL's binary COPY format, ordered by primary key, all read in one
  REPEATABLE READ snapshot so the archive is consistent;
* ``sequences`` in the manifest — each sequence's position.

Why not ``pg_dump -n``: its output names the schema in every statement, and a restore under a new slug (the copy
next to the original in one cluster) needs another name. The DDL instead comes from the platform's own migrations,
replayed to the archive's revision (tests/test_migrations.py holds them equal to the models), then the data is
loaded with COPY and the schema upgraded to head. So an archive taken by an older release restores into a newer one.
The tenant's data keys are re-wrapped for the new slug (they are bound to it), which needs the same master key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import struct
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text

from .. import settings as settings_module
from ..audit import record
from ..errors import DomainError
from ..db import CurrentTenant, SystemContext, TenantBase, TenantRef, engine_for, shared_session, tenant_session
from ..db.engines import libpq_url
from ..models import import_all_models
from .models import Tenant, TenantStatus
from .schema import VERSION_TABLE, quote_schema, run_upgrade, schema_name, validate_slug

MAGIC = b"CFTENANT1\n"
CHUNK = 1 << 20
_NONCE_PREFIX = 8


class ArchiveError(DomainError):
    """The archive cannot be written or restored as asked (bad key, tampered file, slug taken); nothing changed."""


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    slug: str
    revision: str
    tables: dict[str, int]
    audit_head: dict[str, Any] | None


def archive_key(settings: settings_module.Settings | None = None) -> bytes:
    """The platform's archive key: ``export_key`` if set, else derived from the master key (HKDF, own label)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from ..privacy.keys import master_key

    settings = settings or settings_module.get()
    if settings.export_key:
        return settings_module.decode_master_key(settings.export_key, name="EXPORT_KEY")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"creditfactory tenant archive v1").derive(master_key(settings))


def load_key(raw: str) -> bytes:
    """The operator's archive key: base64 of 32 bytes (``--key-file`` content or ``CREDITFACTORY_EXPORT_KEY``)."""
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (ValueError, TypeError):
        raise ArchiveError("the archive key must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ArchiveError(f"the archive key must be 32 bytes, got {len(key)}")
    return key


class Sealer:
    """Chunked AES-256-GCM (the STREAM construction): each chunk's nonce is a random prefix plus its index, and the
    last chunk is marked in its associated data, so reordering, dropping or truncating chunks fails to decrypt."""

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)

    def seal(self, source: BinaryIO, target: BinaryIO) -> None:
        prefix = os.urandom(_NONCE_PREFIX)
        target.write(MAGIC + prefix)
        index, chunk = 0, source.read(CHUNK)
        while True:
            following = source.read(CHUNK)
            last = not following
            sealed = self.aead.encrypt(prefix + struct.pack(">I", index), chunk, b"last" if last else b"more")
            target.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return
            index, chunk = index + 1, following

    def open(self, source: BinaryIO, target: BinaryIO) -> None:
        if source.read(len(MAGIC)) != MAGIC:
            raise ArchiveError("not a Credit Factory tenant archive")
        prefix = source.read(_NONCE_PREFIX)
        index = 0
        while True:
            header = source.read(4)
            if len(header) != 4:
                raise ArchiveError("the archive is truncated")
            sealed = source.read(struct.unpack(">I", header)[0])
            nonce = prefix + struct.pack(">I", index)
            try:
                target.write(self.aead.decrypt(nonce, sealed, b"more"))
            except InvalidTag:
                try:
                    target.write(self.aead.decrypt(nonce, sealed, b"last"))
                except InvalidTag:
                    raise ArchiveError("the archive does not open with this key, or it was altered") from None
                if source.read(1):
                    raise ArchiveError("the archive has data after its last chunk")
                return
            index += 1


# --- export -------------------------------------------------------------------------------------------------------

def export_archive(slug: str, target: Path, key: bytes) -> ArchiveInfo:
    """Write tenant ``slug`` to the encrypted archive ``target`` (which must not exist); audited in the shared log."""
    import psycopg

    target = Path(target)
    if target.exists():
        raise ArchiveError(f"{target} exists; choose a new file")
    with shared_session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise ArchiveError(f"no tenant {slug!r} is registered")
        profile = {c.name: getattr(tenant, c.name) for c in Tenant.__table__.columns if c.name != "id"}
    schema = tenant.schema_name
    url = libpq_url(settings_module.get().cluster_urls()[tenant.cluster])
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        plain = Path(work) / "archive.tar"
        with psycopg.connect(url) as conn, tarfile.open(plain, "w") as tar:
            # One snapshot for every table: the archive is one consistent moment of the bank.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            revision = conn.execute(f"SELECT version_num FROM {quote_schema(schema)}.{VERSION_TABLE}").fetchone()[0]
            tables = _export_tables(conn, schema, tar, Path(work))
            sequences = {name: value for name, value in conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s", (schema,))}
            head = _audit_head(conn, schema)
            manifest = {"format": 1, "tenant": profile, "revision": revision, "tables": tables,
                        "sequences": sequences, "audit_head": head,
                        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat()}
            _add_bytes(tar, "manifest.json", json.dumps(manifest, default=str, ensure_ascii=False, indent=2).encode())
        partial = target.with_name(target.name + ".partial")
        with plain.open("rb") as source, partial.open("wb") as sealed:
            Sealer(key).seal(source, sealed)
        partial.replace(target)
    with SystemContext(f"export of tenant {slug}"), shared_session() as session, session.begin():
        record(session, "tenant.export", object_type="tenant", object_id=slug,
               after={"file": str(target), "revision": revision, "rows": {t: v["rows"] for t, v in tables.items()},
                      "audit_head": head})
    return ArchiveInfo(target, slug, revision, {t: v["rows"] for t, v in tables.items()}, head)


def _export_tables(conn, schema: str, tar: tarfile.TarFile, work: Path) -> dict[str, dict[str, Any]]:
    tables = {}
    for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> %s "
                                "ORDER BY tablename", (schema, VERSION_TABLE)).fetchall():
        columns = [row[0] for row in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", (f'{quote_schema(schema)}."{name}"',))]
        key = [row[0] for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
            (f'{quote_schema(schema)}."{name}"',))]
        order = ", ".join(f'"{c}"' for c in (key or columns[:1]))
        column_list = ", ".join(f'"{c}"' for c in columns)
        path = work / f"{name}.copy"
        digest, rows = hashlib.sha256(), conn.execute(
            f'SELECT count(*) FROM {quote_schema(schema)}."{name}"').fetchone()[0]
        with path.open("wb") as out, conn.cursor().copy(
                f'COPY (SELECT {column_list} FROM {quote_schema(schema)}."{name}" ORDER BY {order}) '
                "TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                out.write(chunk)
                digest.update(chunk)
        tar.add(path, arcname=f"tables/{name}.copy")
        path.unlink()
        tables[name] = {"columns": columns, "rows": rows, "sha256": digest.hexdigest()}
    return tables


def _audit_head(conn, schema: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT seq, hash FROM {quote_schema(schema)}.audit_entry ORDER BY seq DESC LIMIT 1").fetchone()
    return {"seq": row[0], "hash": row[1]} if row else None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


# --- restore ------------------------------------------------------------------------------------------------------

def read_manifest(path: Path, key: bytes) -> dict[str, Any]:
    """The archive's manifest, after checking the whole file opens with ``key``."""
    with _opened(path, key) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


class _opened:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path, self.key = Path(path), key

    def __enter__(self) -> tarfile.TarFile:
        if not self.path.is_file():
            raise ArchiveError(f"no archive at {self.path}")
        self.plain = tempfile.TemporaryFile()
        with self.path.open("rb") as source:
            Sealer(self.key).open(source, self.plain)
        self.plain.seek(0)
        self.tar = tarfile.open(fileobj=self.plain, mode="r")
        return self.tar

    def __exit__(self, *exc: Any) -> None:
        self.tar.close()
        self.plain.close()


def restore_archive(path: Path, key: bytes, *, as_slug: str | None = None, cluster: str | None = None,
                    legal_entity_code: str | None = None) -> TenantRef:
    """Restore the archive as tenant ``as_slug`` (default: its own slug) on ``cluster`` (default: the settings'
    default cluster); returns the new tenant, active. Everything is checked before anything is written; the schema
    and its data are one transaction, so a failure leaves no half-restored bank."""
    settings = settings_module.get()
    cluster = cluster or settings.default_cluster
    if cluster not in settings.cluster_urls():
        raise ArchiveError(f"no database cluster {cluster!r} is configured")
    import_all_models()
    with _opened(path, key) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        source = manifest["tenant"]
        slug = as_slug or source["slug"]
        validate_slug(slug)
        code = legal_entity_code or source["legal_entity_code"]
        _check_free(slug, code)
        _check_digests(tar, manifest)
        schema = schema_name(slug)
        with engine_for(cluster).begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {quote_schema(schema)}")
            connection.exec_driver_sql(f"SET LOCAL search_path TO {quote_schema(schema)}")
            # The archive's own DDL: migrations up to its revision, then its rows, then the rest of the migrations.
            run_upgrade(connection, "tenant", schema, manifest["revision"])
            _load_tables(connection, schema, tar, manifest)
            for name, value in manifest["sequences"].items():
                if value is not None:
                    connection.exec_driver_sql(f"SELECT setval('{quote_schema(schema)}.\"{name}\"', {int(value)})")
            if slug != source["slug"]:
                _rewrap_data_keys(connection, source["slug"], slug)
            run_upgrade(connection, "tenant", schema)
    ref = _register(slug, code, cluster, schema, source)
    with SystemContext(f"restore of tenant {slug}"):
        with shared_session() as session, session.begin():
            record(session, "tenant.restore", object_type="tenant", object_id=slug,
                   after={"file": str(path), "from": source["slug"], "cluster": cluster,
                          "revision": manifest["revision"], "audit_head": manifest["audit_head"]})
        with CurrentTenant.bind(ref), tenant_session(ref) as session, session.begin():
            record(session, "tenant.restore", object_type="tenant", object_id=slug,
                   after={"from": source["slug"], "exported_at": manifest["exported_at"]})
    return ref


def _check_free(slug: str, code: str) -> None:
    with shared_session() as session:
        if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
            raise ArchiveError(f"tenant {slug!r} already exists; restore with --as NEW_SLUG")
        if session.scalar(select(Tenant.id).where(Tenant.legal_entity_code == code)) is not None:
            raise ArchiveError(f"legal entity code {code!r} is registered to another tenant; give the copy its own "
                               "with --legal-entity-code")


def _check_digests(tar: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    for name, table in manifest["tables"].items():
        digest = hashlib.sha256()
        for chunk in _chunks(tar, name):
            digest.update(chunk)
        if digest.hexdigest() != table["sha256"]:
            raise ArchiveError(f"table {name} does not match its checksum in the manifest")


def _chunks(tar: tarfile.TarFile, table: str) -> Iterator[bytes]:
    member = tar.extractfile(f"tables/{table}.copy")
    while chunk := member.read(CHUNK):
        yield chunk


def _load_tables(connection, schema: str, tar: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    """COPY every table in foreign-key order (parents first), then compare the row counts with the manifest."""
    driver = connection.connection.driver_connection
    known = [t.name for t in TenantBase.metadata.sorted_tables]
    archived = manifest["tables"]
    order = [name for name in known if name in archived] + sorted(set(archived) - set(known))
    with driver.cursor() as cursor:
        for name in order:
            columns = ", ".join(f'"{c}"' for c in archived[name]["columns"])
            with cursor.copy(f'COPY {quote_schema(schema)}."{name}" ({columns}) FROM STDIN (FORMAT binary)') as copy:
                for chunk in _chunks(tar, name):
                    copy.write(chunk)
            loaded = cursor.execute(f'SELECT count(*) FROM {quote_schema(schema)}."{name}"').fetchone()[0]
            if loaded != archived[name]["rows"]:
                raise ArchiveError(f"table {name}: {loaded} rows loaded, the archive holds {archived[name]['rows']}")


def _rewrap_data_keys(connection, old_slug: str, new_slug: str) -> None:
    from ..privacy.keys import master_key, unwrap, wrap

    master = master_key()
    for key_id, wrapped in connection.exec_driver_sql("SELECT id, wrapped_key FROM data_key").all():
        rewrapped = wrap(master, new_slug, unwrap(master, old_slug, bytes(wrapped)))
        connection.execute(text("UPDATE data_key SET wrapped_key = :w WHERE id = :i"), {"w": rewrapped, "i": key_id})


def _register(slug: str, code: str, cluster: str, schema: str, source: dict[str, Any]) -> TenantRef:
    keep = ("name_zh", "name_en", "province", "city", "county", "timezone", "locale", "currency")
    with SystemContext(f"restore of tenant {slug}"), shared_session() as session, session.begin():
        tenant = Tenant(slug=slug, legal_entity_code=code, cluster=cluster, schema_name=schema,
                        status=TenantStatus.ACTIVE.value, status_reason="", export_path="",
                        business_date=dt.date.fromisoformat(str(source["business_date"])),
                        **{name: source[name] for name in keep})
        session.add(tenant)
        session.flush()
        return TenantRef(slug=slug, cluster=cluster, status=tenant.status, timezone=tenant.timezone,
                         locale=tenant.locale, name_zh=tenant.name_zh, name_en=tenant.name_en)
