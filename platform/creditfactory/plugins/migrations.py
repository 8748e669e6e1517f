"""Plugins' own tenant tables: each plugin's Alembic migrations, run in every bank's schema with its own version
table (``alembic_version_<plugin>``), by the migration orchestrator and at provisioning."""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..errors import DomainError
from .types import PluginMigrations


class PluginMigrationError(DomainError):
    """A plugin's migrations failed or broke the rules (a table without the plugin's prefix)."""


def declared(host: Any) -> dict[str, PluginMigrations]:
    """Plugin name -> its migrations, for every loaded plugin that declares some."""
    return {name: answer for name, answer in host.call("register_migrations") if answer is not None}


def version_table(plugin: str) -> str:
    return f"alembic_version_{plugin}"


def _tables(connection: Connection, schema: str) -> set[str]:
    return set(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}))


def upgrade_schema(connection: Connection, schema: str, host: Any) -> dict[str, tuple[str | None, str | None]]:
    """Upgrade every plugin's tables in ``schema`` inside the caller's transaction, whose ``search_path`` is already
    the schema; returns plugin -> (revision before, after)."""
    results = {}
    for plugin, migrations in sorted(declared(host).items()):
        before_tables = _tables(connection, schema)
        config = Config()
        config.set_main_option("script_location", str(migrations.script_location))
        script = ScriptDirectory.from_config(config)

        def upgrade(rev, context, script=script):
            return script._upgrade_revs("heads", rev)

        context = MigrationContext.configure(connection=connection, opts={
            "version_table": version_table(plugin), "version_table_schema": schema, "fn": upgrade,
            "transactional_ddl": True})
        before = context.get_current_revision()
        with Operations.context(context):
            context.run_migrations()
        created = _tables(connection, schema) - before_tables - {version_table(plugin)}
        stray = sorted(table for table in created if not table.startswith(migrations.table_prefix))
        if stray:
            raise PluginMigrationError(f"plugin {plugin}: tables {', '.join(stray)} lack its prefix "
                                       f"{migrations.table_prefix!r}")
        results[plugin] = (before, context.get_current_revision())
    return results
