"""The dramatiq broker: built from a URL (PostgreSQL, RabbitMQ or Redis), installed once per process."""

from __future__ import annotations

import logging
import math
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import dramatiq
import dramatiq_postgres
from dramatiq.errors import BrokerConnectionError

from .. import settings as settings_module
from ..db.engines import libpq_url
from ..settings import Settings
from . import actors
from .middleware import standard_middleware

#: Where the PostgreSQL broker keeps its queue, worker and result tables (created on first use).
JOBS_SCHEMA = "cf_jobs"
#: Key prefix of the Redis broker, so the platform can share a Redis with other software.
REDIS_NAMESPACE = "cf_jobs"

log = logging.getLogger(__name__)

_KINDS = {"postgresql": "postgresql", "postgres": "postgresql", "amqp": "amqp", "amqps": "amqp",
          "redis": "redis", "rediss": "redis"}
_setup_lock = threading.Lock()


def broker_kind(url: str) -> str:
    """``postgresql``, ``amqp`` or ``redis``, from the URL's scheme; ValueError for anything else."""
    scheme = urlsplit(url.split(";", 1)[0].strip()).scheme.lower()
    base, _, driver = scheme.partition("+")
    if base in _KINDS and (not driver or (driver == "psycopg" and _KINDS[base] == "postgresql")):
        return _KINDS[base]
    raise ValueError(f"unsupported broker URL {redact(url)!r}: use postgresql://, amqp(s):// or redis(s)://")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, for logs and error messages."""
    out = []
    for part in url.split(";"):
        try:
            parts = urlsplit(part)
        except ValueError:
            return "(unparsable URL)"
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            part = urlunsplit(parts._replace(netloc=netloc))
        out.append(part)
    return ";".join(out)


def _passwords(url: str) -> list[str]:
    try:
        return [p for p in (urlsplit(part).password for part in url.split(";")) if p]
    except ValueError:
        return []


def configured_url(settings: Settings | None = None) -> str:
    """``broker_url``, or the main database (the PostgreSQL broker) when it is empty."""
    settings = settings or settings_module.get()
    url = settings.broker_url or settings.database_url
    if not url:
        raise ValueError("no broker: CREDITFACTORY_BROKER_URL and CREDITFACTORY_DATABASE_URL are both empty "
                         "(with the embedded PostgreSQL, `creditfactory up` passes its URL to the workers)")
    return url


class CreditFactoryPostgresBroker(dramatiq_postgres.PostgresBroker):
    """dramatiq-postgres in schema ``cf_jobs``, whose tables are created on first use.

    The tables are created on the first send or consume rather than in the constructor, so building the
    broker (app start-up) needs no database; ``dramatiq_postgres.init`` is idempotent and serialised on an
    advisory lock, so concurrent first uses in several processes are safe.
    """

    def __init__(self, url: str) -> None:
        # No results backend: actors are fire-and-forget, the same on every broker kind.
        super().__init__(url=libpq_url(url), schema=JOBS_SCHEMA, results=False, middleware=standard_middleware())
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                with self.pool.connection() as conn, conn.cursor() as cursor:
                    dramatiq_postgres.init(cursor, schema=JOBS_SCHEMA)
            except Exception as exc:
                raise BrokerConnectionError(f"cannot prepare schema {JOBS_SCHEMA}: {exc}") from exc
            self._schema_ready = True

    def enqueue(self, message, *, delay=None):
        self.ensure_schema()
        return super().enqueue(message, delay=delay)

    def consume(self, queue_name, prefetch=1, timeout=30000):
        self.ensure_schema()
        return super().consume(queue_name, prefetch=prefetch, timeout=timeout)


def make_broker(url: str | None = None, *, settings: Settings | None = None) -> dramatiq.Broker:
    """A broker for ``url`` (default: the configured one), with the TenantMiddleware; chosen by scheme."""
    url = url or configured_url(settings)
    kind = broker_kind(url)
    if kind == "postgresql":
        return CreditFactoryPostgresBroker(url)
    if kind == "amqp":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Publisher confirms: send() returns only once RabbitMQ has taken the message.
        return RabbitmqBroker(url=url, confirm_delivery=True, middleware=standard_middleware())
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=url, namespace=REDIS_NAMESPACE, middleware=standard_middleware())


def setup_broker() -> dramatiq.Broker:
    """Install the broker built from the settings (once per process) and return it; later calls return it.

    Run it at process start-up (``create_app``, the worker module, the CLI) before any job is sent.
    """
    with _setup_lock:
        broker = actors.installed_broker()
        if broker is None:
            broker = make_broker()
            actors.install(broker)
        return broker


@contextmanager
def use_broker(broker: dramatiq.Broker | None) -> Iterator[dramatiq.Broker | None]:
    """Install ``broker`` (None: no broker) for the block, then reinstall whatever was there before.

    For tests and one-off scripts; every actor declared without an explicit broker follows it.
    """
    previous, previous_global = actors.installed_broker(), dramatiq.broker.global_broker
    actors.install(broker)
    try:
        yield broker
    finally:
        actors.install(previous)
        dramatiq.set_broker(previous_global)  # type: ignore[arg-type]


# --- readiness ----------------------------------------------------------------------------------

def _probe_postgresql(url: str, timeout: float) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    # The broker's own pool options are not libpq parameters.
    parsed = make_url(libpq_url(url))
    parsed = parsed.set(query={k: v for k, v in parsed.query.items() if k not in {"maxconn", "minconn"}})
    with psycopg.connect(parsed.render_as_string(hide_password=False), connect_timeout=max(1, math.ceil(timeout)),
                         autocommit=True) as conn:
        conn.execute("SELECT 1")


def _probe_amqp(url: str, timeout: float) -> None:
    import pika

    params = pika.URLParameters(url.split(";", 1)[0].strip())
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    pika.BlockingConnection(params).close()


def _probe_redis(url: str, timeout: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


_PROBES = {"postgresql": _probe_postgresql, "amqp": _probe_amqp, "redis": _probe_redis}


def broker_reachable(timeout: float = 2.0, *, url: str | None = None) -> tuple[bool, str]:
    """(reachable, explanation) for the configured broker (or ``url``): one connection, no message sent.

    Never raises, for /readyz. The probe may be reachable from outside, so the explanation names only the
    broker kind and the exception type; the host and the error go to the log, the password nowhere.
    """
    kind = ""
    try:
        url = url or configured_url()
        kind = broker_kind(url)
        _PROBES[kind](url, timeout)
        return True, f"{kind} broker reachable"
    except Exception as exc:
        detail = str(exc)
        for password in _passwords(url or ""):
            detail = detail.replace(password, "***")
        log.warning("broker check failed for %s: %s: %s", redact(url) if url else "(no URL)", type(exc).__name__,
                    detail)
        return False, f"{kind or 'job'} broker unreachable ({type(exc).__name__})"


def queue_depths(settings: Settings | None = None) -> dict[tuple[str, str], int]:
    """Messages per (queue, state) in the configured broker, for monitoring; states as the broker names them
    (PostgreSQL: queued / consumed / rejected; RabbitMQ: ready / delayed / dead; Redis: queued)."""
    url = configured_url(settings)
    kind = broker_kind(url)
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f"{JOBS_SCHEMA}.queue",)).fetchone()[0]
            if exists is None:  # no job sent yet: the broker creates its tables on first use
                return {}
            rows = conn.execute(f'SELECT queue_name, "state", count(*) FROM {JOBS_SCHEMA}.queue GROUP BY 1, 2')
            return {(queue, state): count for queue, state, count in rows}
    if kind == "amqp":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        installed = actors.installed_broker()
        broker = installed if isinstance(installed, RabbitmqBroker) else make_broker(url, settings=settings)
        queues = {actors.TENANT_QUEUE, actors.SYSTEM_QUEUE} | set(broker.get_declared_queues())
        return {(queue, state): count for queue in sorted(queues)
                for state, count in zip(("ready", "delayed", "dead"), broker.get_queue_message_counts(queue))}
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    queues = [key.decode().split(":", 1)[1] for key in client.scan_iter(f"{REDIS_NAMESPACE}:*")
              if client.type(key) == b"list"]
    return {(queue, "queued"): client.llen(f"{REDIS_NAMESPACE}:{queue}") for queue in queues}
