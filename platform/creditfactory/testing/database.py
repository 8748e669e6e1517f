"""A real PostgreSQL for tests: ``CREDITFACTORY_TEST_DATABASE_URL``, else the embedded server."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from ..db.embedded import start_embedded
from ..db.engines import libpq_url

TEST_URL_VARIABLE = "CREDITFACTORY_TEST_DATABASE_URL"


def embedded_test_dir() -> Path:
    # Under /tmp (world-traversable) because the wheel, run as root, chmods the data dir's parents.
    return Path(tempfile.gettempdir()) / f"creditfactory-test-{os.getuid()}"


def server_url() -> str:
    """URL of a maintenance database on the test server, starting the embedded one if no URL is set."""
    url = os.environ.get(TEST_URL_VARIABLE)
    if url:
        return libpq_url(url)
    server = start_embedded(embedded_test_dir(), stop_on_exit=True)
    return server.get_uri("postgres")


def create_database(prefix: str = "cf_test") -> str:
    """Create a fresh, uniquely named database; returns its URL."""
    base = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    base = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
