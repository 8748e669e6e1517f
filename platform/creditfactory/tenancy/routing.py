"""Which village bank a request is for: the ``/t/<slug>/`` path prefix or the ``<slug>.<base_domain>`` host.

The tenant is resolved once per request from the in-process registry cache and bound as ``CurrentTenant``
until the request is torn down; a request naming no tenant is a head-office or public one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

from flask import Flask, g, request

from .. import settings as settings_module
from ..db import CurrentTenant, TenantRef
from ..db.context import SLUG_RE
from ..web.errors import abort_problem
from .registry import TenantUnavailable, UnknownTenant, directory

#: WSGI environ key holding the slug of a ``/t/<slug>/`` path prefix.
PATH_TENANT_KEY = "creditfactory.path_tenant"
PATH_PREFIX = "/t/"


class TenantPathPrefix:
    """WSGI middleware: move a leading ``/t/<slug>`` from PATH_INFO to SCRIPT_NAME.

    Routes then match as if the app were mounted at ``/t/<slug>``, and ``url_for`` builds prefixed URLs.
    A malformed slug stays in the path (so no URL is ever built with it) and is refused by ``bind_tenant``.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PATH_PREFIX):
            slug, _, rest = path[len(PATH_PREFIX):].partition("/")
            environ[PATH_TENANT_KEY] = slug
            if SLUG_RE.match(slug):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PATH_PREFIX + slug
                environ["PATH_INFO"] = "/" + rest
        return self.wsgi_app(environ, start_response)


def host_slug(host: str, base_domain: str) -> str | None:
    """The tenant slug of ``<slug>.<base_domain>[:port]``, or None for any other host."""
    hostname = host.partition(":")[0].lower().rstrip(".")
    suffix = "." + base_domain.lower()
    return hostname[: -len(suffix)] if hostname.endswith(suffix) else None


def requested_slug() -> str | None:
    """The slug the request names by path prefix or host; a 400 problem when the two disagree."""
    by_path = request.environ.get(PATH_TENANT_KEY)
    by_host = host_slug(request.host, settings_module.get().base_domain)
    if by_path is not None and by_host is not None and by_path != by_host:
        abort_problem(400, f"the host names tenant {by_host!r} but the path names {by_path!r}")
    return by_path if by_path is not None else by_host


def bind_tenant() -> None:
    """``before_request``: bind the named tenant, or refuse the request when it cannot be served."""
    slug = requested_slug()
    # Static files are the same for every tenant; they must load even on an unknown tenant's error page.
    if slug is None or _is_static(request.endpoint):
        return
    try:
        tenant = directory.get_serving(slug)
    except UnknownTenant:
        abort_problem(404, f"no village bank {slug!r} is registered")
    except TenantUnavailable as exc:
        abort_problem(403, str(exc))
    scope = ExitStack()
    scope.enter_context(CurrentTenant.bind(tenant))
    g.tenant_scope = scope


def _is_static(endpoint: str | None) -> bool:
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def unbind_tenant(exc: BaseException | None = None) -> None:
    """``teardown_request``: release the tenant, whatever happened to the request."""
    scope = g.pop("tenant_scope", None)
    if scope is not None:
        scope.close()


def tenant_required() -> TenantRef:
    """The tenant of this request; a 404 problem when the request names none."""
    tenant = CurrentTenant.get_or_none()
    if tenant is None:
        base_domain = settings_module.get().base_domain
        abort_problem(404, f"this belongs to a village bank: address it as /t/<slug>/... or <slug>.{base_domain}")
    return tenant


def init_app(app: Flask) -> None:
    app.wsgi_app = TenantPathPrefix(app.wsgi_app)
    app.before_request(bind_tenant)
    app.teardown_request(unbind_tenant)
