"""Security headers, caching, HSTS and Secure cookies over HTTPS, and templates free of inline script and style."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from flask import session

from creditfactory import settings as settings_module
from creditfactory.app import create_app
from creditfactory.web import assets, security

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "creditfactory"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def app_behind(cf_settings):
    """``app_behind(hops)``: an app trusting ``hops`` proxies, with a route that writes the session."""

    def build(hops: int):
        app = create_app(dataclasses.replace(cf_settings, trusted_proxies=hops), testing=True)

        def remember():
            session["seen"] = True
            return {"ok": True}

        app.add_url_rule("/remember", view_func=remember)
        return app

    yield build
    # create_app made these settings the process-wide ones: later tests get the suite's own back.
    settings_module.configure(cf_settings)


def versioned(client, page: str, asset: str) -> str:
    """The URL a page links ``asset`` with, version included."""
    return re.search(rf'(?:href|src)="([^"]*{re.escape(asset)}\?v=[0-9a-f]+)"', client.get(page).get_data(as_text=True))[1]


# --- headers on every kind of response --------------------------------------------------------


@pytest.fixture
def responses(client, tenant_a):
    """One response of every kind the app serves."""
    return {
        "portal page": client.get("/"),
        "tenant portal page": client.get(f"/t/{tenant_a.slug}/"),
        "HTML error page": client.get("/no/such/page", headers=HTML),
        "API JSON": client.get(f"/t/{tenant_a.slug}/api/v1/tenant"),
        "API problem+json": client.get("/api/v1/tenant"),
        "405 problem": client.delete(f"/t/{tenant_a.slug}/api/v1/tenant"),
        "OpenAPI": client.get("/api/v1/openapi.json"),
        "API docs": client.get("/api/v1/docs"),
        "liveness": client.get("/healthz"),
        "language switch": client.get("/lang/en"),
        "portal stylesheet": client.get("/static/portal/portal.css"),
        "Swagger UI asset": client.get("/api/v1/docs/assets/swagger-ui.css"),
        "docs start-up script": client.get("/api/v1/docs/static/swagger-init.js"),
    }


def test_every_response_carries_the_security_headers(responses):
    for kind, response in responses.items():
        for name, value in security.HEADERS.items():
            assert response.headers.get(name) == value, (kind, name)
        assert "Strict-Transport-Security" not in response.headers, kind


def test_the_kinds_of_response_are_what_they_claim(responses):
    assert responses["API problem+json"].mimetype == "application/problem+json"
    assert responses["HTML error page"].mimetype == "text/html"
    assert responses["API JSON"].status_code == 200 and responses["liveness"].status_code == 200
    assert all(responses[kind].status_code == 200 for kind in responses if "asset" in kind or "script" in kind)


def test_policy_allows_no_inline_code_and_no_framing():
    policy = dict(directive.split(" ", 1) for directive in security.CONTENT_SECURITY_POLICY.split("; "))
    assert "unsafe-inline" not in security.CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in security.CONTENT_SECURITY_POLICY
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


def test_permissions_policy_denies_the_microphone_and_keeps_camera_and_location_to_this_origin():
    features = dict(item.split("=") for item in security.PERMISSIONS_POLICY.split(", "))
    assert features["microphone"] == "()"
    assert features["camera"] == features["geolocation"] == "(self)"


# --- caching ----------------------------------------------------------------------------------


def test_nothing_that_may_hold_personal_data_is_cached(responses):
    for kind, response in responses.items():
        if "asset" not in kind and "script" not in kind and "stylesheet" not in kind:
            assert response.headers["Cache-Control"] == "no-store", kind


def test_static_assets_are_linked_with_versions_and_cached_for_a_year(client):
    for page, asset in [("/", "portal.css"), ("/api/v1/docs", "swagger-ui-bundle.js"),
                        ("/api/v1/docs", "swagger-init.js")]:
        response = client.get(versioned(client, page, asset))
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == assets.IMMUTABLE, asset


def test_unversioned_or_outdated_asset_urls_are_revalidated_not_kept(client):
    for url in ["/static/portal/portal.css", "/static/portal/portal.css?v=0123456789abcdef"]:
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("Cache-Control", "") and "ETag" in response.headers


def test_versions_follow_the_tenant_prefix(client, tenant_a):
    url = versioned(client, f"/t/{tenant_a.slug}/", "portal.css")
    assert url.startswith(f"/t/{tenant_a.slug}/static/portal/portal.css?v=")
    assert client.get(url).headers["Cache-Control"] == assets.IMMUTABLE


# --- HTTPS: HSTS and Secure cookies -----------------------------------------------------------


def test_hsts_over_https_only(client):
    assert client.get("/", base_url="https://localhost").headers["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_behind_a_trusted_tls_proxy(app_behind):
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" in app_behind(1).test_client().get("/healthz", headers=forwarded).headers
    # Untrusted, the header is the client's say-so: plain HTTP stays plain HTTP.
    assert "Strict-Transport-Security" not in app_behind(0).test_client().get("/healthz", headers=forwarded).headers


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_cookies_are_secure_over_https(app_behind):
    client = app_behind(0).test_client()
    for base_url, secure in [("https://localhost", True), ("http://localhost", False)]:
        cookies = {**set_cookies(client.get("/lang/en", base_url=base_url)),
                   **set_cookies(client.get("/remember", base_url=base_url))}
        assert set(cookies) == {"cf_lang", "session"}
        for name, cookie in cookies.items():
            assert ("; Secure" in cookie) is secure, (base_url, cookie)
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_secure_behind_a_trusted_tls_proxy(app_behind):
    client = app_behind(1).test_client()
    forwarded = {"X-Forwarded-Proto": "https"}
    cookies = {**set_cookies(client.get("/lang/en", headers=forwarded)),
               **set_cookies(client.get("/remember", headers=forwarded))}
    assert all("; Secure" in cookie for cookie in cookies.values()) and len(cookies) == 2


def test_secure_cookies_can_be_forced_for_every_request(app_behind):
    app = app_behind(0)
    app.config["SESSION_COOKIE_SECURE"] = True
    cookies = {**set_cookies(app.test_client().get("/lang/en")), **set_cookies(app.test_client().get("/remember"))}
    assert all("; Secure" in cookie for cookie in cookies.values()) and len(cookies) == 2


# --- templates --------------------------------------------------------------------------------

INLINE_CODE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"""\sstyle\s*=\s*["'{]""", re.IGNORECASE),
    "event handler attribute": re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_no_template_holds_inline_script_style_or_event_handlers():
    templates = sorted(PACKAGE.glob("**/templates/**/*.html"))
    assert {"base.html", "error.html", "home.html", "swagger_ui.html"} <= {path.name for path in templates}
    found = [f"{path.relative_to(PACKAGE)}: {what}" for path in templates
             for what, pattern in INLINE_CODE.items() if pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []


def test_the_template_scan_would_catch_inline_code():
    samples = ['<script>alert(1)</script>', '<style>p{}</style>', '<p style="color:red">', '<a onclick="x()">',
               '<a href="javascript:void(0)">']
    for sample, pattern in zip(samples, INLINE_CODE.values()):
        assert pattern.search(sample), sample
    assert not INLINE_CODE["inline <script>"].search('<script src="/static/x.js"></script>')
