"""``GET /metrics`` for Prometheus, and the per-request measurements behind it.

Who may scrape: with the ``metrics_token`` setting, a caller presenting ``Authorization: Bearer <token>``; without
it, only callers that did not come through the ingress (no ``X-Forwarded-For``: the cluster's Prometheus scraping
the pod directly), so the figures never leak to the internet through the public host.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .. import settings as settings_module
from ..db import CurrentTenant
from ..metrics import HTTP_LATENCY, HTTP_REQUESTS, TENANT_REQUESTS
from .access import public
from .errors import abort_problem

log = logging.getLogger(__name__)

#: Seconds the migration and queue figures are reused between scrapes (reading them costs a query per cluster).
STATUS_TTL = 60.0


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None or request.endpoint == "metrics":
        return response
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    tenant = CurrentTenant.get_or_none()
    if tenant is not None:
        TENANT_REQUESTS.labels(tenant.slug).inc()
    return response


class PlatformCollector:
    """Figures read at scrape time: tenants per migration state, and job queue depth per queue and state."""

    def __init__(self) -> None:
        self._cached: tuple[float, list[Any]] = (0.0, [])

    def collect(self):
        at, families = self._cached
        if time.monotonic() - at > STATUS_TTL:
            families = [*self._migrations(), *self._queues()]
            self._cached = (time.monotonic(), families)
        yield from families

    @staticmethod
    def _migrations() -> list[GaugeMetricFamily]:
        from ..tenancy import migrations

        family = GaugeMetricFamily("creditfactory_tenant_schemas", "Tenant schemas by migration state", labels=["state"])
        try:
            _, head, versions = migrations.status()
        except Exception:
            log.warning("metrics: migration status unavailable", exc_info=True)
            return []
        counts = {"at_head": 0, "behind": 0}
        for version in versions:
            counts["at_head" if version.revision == head else "behind"] += 1
        for state, count in counts.items():
            family.add_metric([state], count)
        return [family]

    @staticmethod
    def _queues() -> list[GaugeMetricFamily]:
        from ..jobs.broker import queue_depths

        family = GaugeMetricFamily("creditfactory_job_queue_messages", "Messages in the job queues",
                                   labels=["queue", "state"])
        try:
            depths = queue_depths()
        except Exception:
            log.warning("metrics: queue depth unavailable", exc_info=True)
            return []
        for (queue, state), count in sorted(depths.items()):
            family.add_metric([queue, state], count)
        return [family]


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    return registry


_collector = PlatformCollector()


@public("Prometheus scrapes it; guarded by the metrics token or by coming from inside the cluster")
def metrics() -> Response:
    token = settings_module.get().metrics_token
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            abort_problem(401, "metrics need the metrics bearer token")
    elif request.headers.get("X-Forwarded-For"):
        abort_problem(403, "metrics are served to the cluster's Prometheus only, not through the ingress")
    registry = _registry()
    body = generate_latest(registry) + generate_latest(_StaticRegistry(_collector))
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class _StaticRegistry:
    """A one-collector registry: the platform figures are computed here, never per process."""

    def __init__(self, collector: PlatformCollector) -> None:
        self.collector = collector

    def collect(self):
        return self.collector.collect()


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics)
