"""Serving behind an ingress: believe ``X-Forwarded-*`` headers from exactly ``trusted_proxies`` hops, no more."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Wrap the WSGI app in ProxyFix when proxies are trusted; with none, forwarded headers are ignored.

    Installed after ``tenancy.routing``, so ProxyFix is the outer middleware: the scheme, host and
    ``X-Forwarded-Prefix`` are restored before the tenant path prefix and host are read. Every header is
    trusted for the same number of hops: each proxy in the chain must set (overwrite) all of them, or a
    client's own value would be believed (docs/web-security.md).
    """
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
