"""Rate limits by client address on the endpoints that check secrets: the login form and its second step, and the
OAuth2 client endpoints.

Account lockout (identity/login.py) stops guessing one account's password; these limits stop one address from
trying many accounts or client secrets, and from making the server run argon2 at will. Only those endpoints are
limited: a limit on API or portal traffic as a whole would lock out a village bank behind one NAT address, and
the health probes must always answer the orchestrator.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.wrappers import Response

from ..settings import Settings
from .errors import Problem

if TYPE_CHECKING:
    from flask_limiter import RequestLimit

log = logging.getLogger(__name__)

#: Endpoints whose every request is limited by ``ratelimit_oauth`` (each endpoint counts on its own).
OAUTH_ENDPOINTS = ("oauth.issue_token", "oauth.revoke_token", "oauth.introspect_token")
#: The portal login view; only its POST (a password check) is limited, so the form itself always loads.
LOGIN_ENDPOINT = "account.login"
#: The login's second step and forced enrolment: their POST checks a six-digit code, limited like the password.
SECOND_FACTOR_ENDPOINTS = ("account.second_factor", "account.enrol_second_factor")
DETAIL = "Too many attempts from this address; try again after the time in Retry-After (seconds)."

_RETRY_AFTER = "creditfactory_retry_after"


def client_address() -> str:
    """The limits' key: the peer address, which ProxyFix has replaced by the client's when proxies are trusted.

    With ``trusted_proxies`` 0 a client's own ``X-Forwarded-For`` is ignored, so it cannot pick a fresh key per
    request; behind an untrusted ingress every client shares the ingress's address, which is why that setting
    must match the deployment (docs/web-security.md).
    """
    return request.remote_addr or "unknown"


def _remember_retry_after(limit: RequestLimit) -> None:
    # Called once per breached limit: the client must wait for the latest of their windows to move on.
    wait = max(1, math.ceil(limit.reset_at - time.time()))
    setattr(g, _RETRY_AFTER, max(wait, g.get(_RETRY_AFTER, 0)))


def _too_many_requests(error: RateLimitExceeded) -> Response:
    # Answered by the app's one error handler, so API clients get problem+json and browsers the portal's
    # translated error page, both with Retry-After (RFC 6585, section 4).
    problem = Problem(429, DETAIL, headers={"Retry-After": str(g.get(_RETRY_AFTER, 60))})
    return current_app.handle_http_exception(problem)


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Limit the login and second-factor POSTs and the OAuth2 client endpoints; must follow the blueprints that define them."""
    storage = settings.ratelimit_storage_url or "memory://"
    if not settings.ratelimit_storage_url:
        log.warning("CREDITFACTORY_RATELIMIT_STORAGE_URL is not set: rate limits count in this process only; "
                    "set a redis:// URL wherever more than one web worker runs")
    limiter = Limiter(
        client_address, app=app, storage_uri=storage,
        # A moving window has no boundary at which twice the limit gets through in a few seconds.
        strategy="moving-window",
        # Should Redis fail, each process keeps counting in memory rather than leaving logins unlimited or
        # refusing every login with a 500.
        in_memory_fallback_enabled=bool(settings.ratelimit_storage_url),
        on_breach=_remember_retry_after,
        key_prefix="creditfactory",
    )
    login = app.view_functions[LOGIN_ENDPOINT]
    app.view_functions[LOGIN_ENDPOINT] = limiter.limit(settings.ratelimit_login, methods=["POST"])(login)
    for endpoint in SECOND_FACTOR_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(settings.ratelimit_login, methods=["POST"])(
            app.view_functions[endpoint])
    for endpoint in OAUTH_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(settings.ratelimit_oauth)(app.view_functions[endpoint])
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    # Every limit here is a view's own, which its decorator checks. The extension's check before every request
    # looks for default, application and blueprint limits only, and there are none: it would cost every API and
    # portal request a few hundred calls to find nothing.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    return limiter
