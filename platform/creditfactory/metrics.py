"""The platform's Prometheus metrics, defined once so every capability records into the same series.

Naming: ``creditfactory_<what>_<unit>``. Labels stay bounded: routes are URL rules (``/api/v1/loans/<int:id>``),
never paths; the tenant is a label only on ``tenant_http_requests_total`` (one series per registered bank) and
never on histograms. Web processes serve them at ``/metrics`` (web/metrics.py); job workers expose dramatiq's own
on port 9191 (docs/deploy.md#metrics).

Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` (the chart does) so every worker process's samples are summed.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("creditfactory_http_requests_total", "HTTP requests answered, by route and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("creditfactory_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TENANT_REQUESTS = Counter("creditfactory_tenant_http_requests_total", "HTTP requests per village bank", ["tenant"])
DECISION_LATENCY = Histogram("creditfactory_decision_duration_seconds", "Time to evaluate one decision stage",
                             ["stage"], buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1))
COB_DURATION = Histogram("creditfactory_cob_duration_seconds", "Time of one close-of-business step for one tenant",
                         ["step"], buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800))
COB_LOANS = Counter("creditfactory_cob_loans_processed_total", "Loans processed by close of business")
PLUGIN_FAILURES = Counter("creditfactory_plugin_failures_total", "Plugin hook calls that raised or timed out",
                          ["plugin", "hook", "kind"])
