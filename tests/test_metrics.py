"""Prometheus metrics at /metrics: request counts and latency by route, per-tenant counts, platform figures."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families

from creditfactory import settings as settings_module
from creditfactory.app import create_app


def samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_requests_are_counted_by_route_status_and_tenant(client, tenant_a):
    for _ in range(3):
        assert client.get(f"/t/{tenant_a.slug}/api/v1/tenant").status_code == 200
    client.get("/no/such/page")
    found = samples(client.get("/metrics"))
    by_route = {labels: value for (name, labels), value in found.items()
                if name == "creditfactory_http_requests_total"}
    assert by_route[(("method", "GET"), ("route", "/api/v1/tenant"), ("status", "200"))] >= 3, by_route
    assert any(dict(labels)["route"] == "<unmatched>" and dict(labels)["status"] == "404" for labels in by_route)
    assert found[("creditfactory_tenant_http_requests_total", (("tenant", tenant_a.slug),))] >= 3
    assert any(name == "creditfactory_http_request_duration_seconds_count" for name, _ in found)
    # Paths never become labels: one series per route, whatever the ids in the URL.
    assert not any("/t/" in dict(labels).get("route", "") for _, labels in found)


def test_platform_figures_are_reported(client, tenant_a):
    found = samples(client.get("/metrics"))
    assert found[("creditfactory_tenant_schemas", (("state", "at_head"),))] >= 1


def test_metrics_are_not_served_through_the_ingress(client):
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403


def test_a_metrics_token_is_required_when_configured(cf_settings):
    app = create_app(dataclasses.replace(cf_settings, metrics_token="s3cret-scrape"), testing=True)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"}).status_code == 200
    finally:
        settings_module.configure(cf_settings)


def test_queue_depths_read_the_configured_broker(cf_settings, stub_broker):
    from creditfactory.jobs.broker import queue_depths

    depths = queue_depths()
    assert all(isinstance(count, int) and count >= 0 for count in depths.values())
