"""One engine (one connection pool) per database cluster, never one per tenant."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from .. import settings as settings_module

_engines: dict[str, Engine] = {}
_autocommit: dict[str, Engine] = {}
_lock = threading.Lock()


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` (psycopg 3 driver)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, for psycopg and the dramatiq broker."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def build_engine(url: str, **kwargs) -> Engine:
    settings = settings_module.get()
    options = dict(
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_recycle=1800,
        connect_args={"application_name": "creditfactory"},
    )
    options.update(kwargs)
    return create_engine(sqlalchemy_url(url), **options)


def engine_for(cluster: str = "default") -> Engine:
    """The shared engine of a database cluster named in ``settings.clusters`` (``default``: the main database)."""
    engine = _engines.get(cluster)
    if engine is not None:
        return engine
    with _lock:
        if cluster not in _engines:
            urls = settings_module.get().cluster_urls()
            if cluster not in urls or not urls[cluster]:
                raise LookupError(f"database cluster {cluster!r} is not configured")
            _engines[cluster] = build_engine(urls[cluster])
        return _engines[cluster]


def autocommit_engine(cluster: str = "default") -> Engine:
    """``engine_for(cluster)`` in autocommit mode, on the same pool (built once: deriving it costs a request a
    copy of the engine's event dispatch)."""
    engine = _autocommit.get(cluster)
    if engine is None:
        engine = _autocommit[cluster] = engine_for(cluster).execution_options(isolation_level="AUTOCOMMIT")
    return engine


def dispose_engines() -> None:
    """Close every pool (settings changed, or a forked child must not share its parent's sockets)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _autocommit.clear()
