"""Building and upgrading schemas: the compiled ``create_all`` for new tenants and the Alembic runner."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from .. import settings as settings_module
from ..db import SHARED_SCHEMA, TENANT_SCHEMA_PLACEHOLDER, SharedBase, TenantBase
from ..db.context import SLUG_RE
from ..models import import_all_models

Scope = Literal["shared", "tenant"]
VERSION_TABLE = "alembic_version"


class InvalidSlug(ValueError):
    """A tenant slug that does not match ``^[a-z][a-z0-9_]{1,30}$``; refused before any SQL."""


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise InvalidSlug(
            f"invalid tenant slug {slug!r}: use 2-31 characters, lower-case letters, digits and '_', starting with a letter"
        )
    return slug


def schema_name(slug: str) -> str:
    return f"t_{validate_slug(slug)}"


_SPARE_RE = re.compile(r"^cf_spare_[0-9a-f]{16}$")


def quote_schema(schema: str) -> str:
    # Schema names come only from validated slugs; quoting still keeps them identifiers, never SQL.
    if not (schema == SHARED_SCHEMA or _SPARE_RE.match(schema) or (schema.startswith("t_") and SLUG_RE.match(schema[2:]))):
        raise InvalidSlug(f"refusing schema name {schema!r}")
    return f'"{schema}"'


def metadata_for(scope: Scope) -> MetaData:
    import_all_models()
    return SharedBase.metadata if scope == "shared" else TenantBase.metadata


@functools.lru_cache(maxsize=None)
def _alembic_config(migrations_dir: str, scope: Scope) -> Config:
    root = Path(migrations_dir)
    if not (root / scope).is_dir():
        raise FileNotFoundError(f"migrations folder {root / scope} not found (setting CREDITFACTORY_MIGRATIONS_DIR)")
    config = Config()
    config.set_main_option("script_location", str(root))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(root / scope))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["scope"] = scope
    return config


def alembic_config(scope: Scope) -> Config:
    return _alembic_config(settings_module.get().migrations_dir, scope)


@functools.lru_cache(maxsize=None)
def _script_directory(migrations_dir: str, scope: Scope) -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config(migrations_dir, scope))


def script_directory(scope: Scope) -> ScriptDirectory:
    return _script_directory(settings_module.get().migrations_dir, scope)


def head(scope: Scope) -> str:
    heads = script_directory(scope).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"{scope} migrations must have exactly one head, found {heads}")
    return heads[0]


def run_upgrade(connection: Connection, scope: Scope, schema: str, destination: str = "heads") -> tuple[str | None, str | None]:
    """Upgrade ``schema`` inside the caller's transaction; returns (revision before, revision after).

    For tenant schemas the caller has run ``SET LOCAL search_path`` to the schema, so tenant
    migrations name no schema at all.
    """
    script = script_directory(scope)

    def upgrade(rev, context):
        return script._upgrade_revs(destination, rev)

    context = MigrationContext.configure(
        connection=connection,
        opts={
            "version_table_schema": schema,
            "target_metadata": metadata_for(scope),
            "fn": upgrade,
            "transactional_ddl": True,
        },
    )
    before = context.get_current_revision()
    with Operations.context(context):
        context.run_migrations()
    return before, context.get_current_revision()


def current_revision(connection: Connection, schema: str) -> str | None:
    return MigrationContext.configure(connection=connection, opts={"version_table_schema": schema}).get_current_revision()


_UNQUALIFIED = "cf_unqualified_schema"
_UNQUALIFIED_RE = re.compile(r'"?cf_unqualified_schema"?\.')


@functools.lru_cache(maxsize=None)
def _create_script(metadata_id: int, metadata: MetaData) -> str:
    # The statements metadata.create_all() would emit, compiled once per process with the tenant
    # schema removed: they run under SET LOCAL search_path, so one script serves every tenant and
    # goes to the server in a single round trip.
    dialect = postgresql.psycopg.dialect()
    translate = {TENANT_SCHEMA_PLACEHOLDER: _UNQUALIFIED}
    elements = []
    for table in metadata.sorted_tables:
        elements.append(CreateTable(table))
        elements.extend(CreateIndex(index) for index in sorted(table.indexes, key=lambda ix: ix.name or ""))
        elements.extend(_after_create_ddl(table))
    statements = [
        str(element.compile(dialect=dialect, schema_translate_map=translate, render_schema_translate=True)).strip()
        for element in elements
    ]
    return _UNQUALIFIED_RE.sub("", ";\n".join(statements) + ";")


def _after_create_ddl(table: Table) -> list[ExecutableDDLElement]:
    # DDL attached with event.listen(table, "after_create", DDL(...)) (triggers, functions) is part of the
    # table as create_all builds it, so the script must carry it too. Any other listener would run Python
    # that a script cannot replay: refuse rather than build tenants that differ from create_all.
    statements = []
    for listener in table.dispatch.after_create:
        if not isinstance(listener, ExecutableDDLElement):
            raise TypeError(f"table {table.name!r} has an after_create listener {listener!r} that is not DDL; "
                            "the tenant create script can only carry DDL")
        statements.append(listener.against(table))
    return statements


def create_script(metadata: MetaData | None = None) -> str:
    metadata = metadata if metadata is not None else metadata_for("tenant")
    return _create_script(id(metadata), metadata)


def create_tenant_schema(connection: Connection, schema: str, *, metadata: MetaData | None = None,
                         revision: str | None = None) -> None:
    """CREATE SCHEMA + create_all + stamp the tenant head, inside the caller's transaction."""
    quoted = quote_schema(schema)
    revision = revision or head("tenant")
    driver = connection.connection.driver_connection
    # psycopg sends a parameterless query with the simple protocol, so the whole schema is one round trip.
    driver.execute(
        f"CREATE SCHEMA {quoted}; SET LOCAL search_path TO {quoted}; "
        + create_script(metadata)
        + f" CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
        f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num));"
        f" INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{revision}');"
    )


def run_from_alembic_env(context) -> None:
    """Entry point of ``migrations/env.py`` when Alembic itself drives (``creditfactory db revision``)."""
    from ..db import engine_for

    scope: Scope = context.config.attributes.get("scope", "shared")
    if context.is_offline_mode():
        context.configure(url=str(engine_for().url), target_metadata=metadata_for(scope))
        with context.begin_transaction():
            context.run_migrations()
        return
    with engine_for().begin() as connection:
        context.configure(connection=connection, target_metadata=metadata_for(scope),
                          version_table_schema=SHARED_SCHEMA if scope == "shared" else None)
        context.run_migrations()
