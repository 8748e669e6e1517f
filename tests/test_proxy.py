"""Behind the ingress: X-Forwarded-* headers are believed from exactly ``trusted_proxies`` hops, never from clients."""

from __future__ import annotations

import dataclasses

import pytest
from flask import request

from creditfactory import settings as settings_module
from creditfactory.app import create_app
from creditfactory.settings import SettingsError, load


@pytest.fixture
def trusting(cf_settings):
    """``trusting(hops)``: an app behind ``hops`` trusted proxies, with ``/whoami`` answering the client address."""

    def build(hops: int):
        app = create_app(dataclasses.replace(cf_settings, trusted_proxies=hops), testing=True)
        app.add_url_rule("/whoami", view_func=lambda: {"addr": request.remote_addr})
        return app

    yield build
    # create_app made these settings the process-wide ones: later tests get the suite's own back.
    settings_module.configure(cf_settings)


def test_a_trusted_proxy_forwarded_host_names_the_tenant(trusting, cf_settings, tenant_a):
    response = trusting(1).test_client().get(
        "/api/v1/tenant", headers={"X-Forwarded-Host": f"{tenant_a.slug}.{cf_settings.base_domain}"})
    assert response.status_code == 200 and response.get_json()["slug"] == tenant_a.slug


def test_an_untrusted_forwarded_host_is_ignored(trusting, cf_settings, tenant_a):
    response = trusting(0).test_client().get(
        "/api/v1/tenant", headers={"X-Forwarded-Host": f"{tenant_a.slug}.{cf_settings.base_domain}"})
    assert response.status_code == 404
    assert tenant_a.name_en not in response.get_data(as_text=True)


def test_a_client_cannot_pick_the_tenant_past_the_trusted_proxy(trusting, cf_settings, tenant_a, tenant_b):
    # The client sent tenant_b's host; the one trusted proxy appended the host it really served (tenant_a).
    chain = f"{tenant_b.slug}.{cf_settings.base_domain}, {tenant_a.slug}.{cf_settings.base_domain}"
    response = trusting(1).test_client().get("/api/v1/tenant", headers={"X-Forwarded-Host": chain})
    assert response.get_json()["slug"] == tenant_a.slug


def test_forwarded_prefix_and_tenant_prefix_compose(trusting, tenant_a):
    # ProxyFix runs outside TenantPathPrefix: the ingress's prefix comes first, then the tenant's.
    html = trusting(1).test_client().get(f"/t/{tenant_a.slug}/", headers={"X-Forwarded-Prefix": "/bank"})
    assert f'href="/bank/t/{tenant_a.slug}/static/portal/portal.css' in html.get_data(as_text=True)
    assert tenant_a.name_zh in html.get_data(as_text=True)


def test_forwarded_client_address_only_from_trusted_proxies(trusting):
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert trusting(1).test_client().get("/whoami", headers=forwarded).get_json() == {"addr": "203.0.113.7"}
    assert trusting(0).test_client().get("/whoami", headers=forwarded).get_json() == {"addr": "127.0.0.1"}


@pytest.mark.parametrize("value", ["-1", "6", "two"])
def test_trusted_proxies_is_validated_naming_the_key(value):
    with pytest.raises(SettingsError, match="CREDITFACTORY_TRUSTED_PROXIES"):
        load(environ={"CREDITFACTORY_TRUSTED_PROXIES": value})


def test_trusted_proxies_defaults_to_none():
    assert load(environ={}).trusted_proxies == 0
    assert load(environ={"CREDITFACTORY_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
