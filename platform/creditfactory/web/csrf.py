"""Cross-site request forgery protection (synchronizer token): every state-changing request carries the session's
token, in a form field or a header, unless it authenticates with a bearer token instead of the cookie.

``SameSite=Lax`` already keeps the cookie off most cross-site POSTs; the token also covers older browsers, sibling
subdomains (tenants live at ``<slug>.<base_domain>``, which count as the same site) and login forms.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, current_app, request, session

from .errors import abort_problem

#: Session key of the token; form field and header that carry it back.
SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


#: Endpoints where a machine client authenticates itself in the request (RFC 6749 §2.3, RFC 7009, RFC 7662).
CLIENT_AUTHENTICATED_PATHS = frozenset({"/oauth/token", "/oauth/revoke", "/oauth/introspect"})


def csrf_token() -> str:
    """This session's token, created on first use; templates put it in a hidden ``csrf_token`` field."""
    token = session.get(SESSION_KEY)
    if not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def _exempt() -> bool:
    # A bearer token is never sent by a browser on its own, so a forged request cannot carry one; the API's
    # machine clients (OAuth2) use it instead of the cookie. An API call without a session cookie has no ambient
    # authority to abuse either; portal pages always need the token, the login form included.
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    # The OAuth2 client endpoints authenticate the client by its own credentials in every request, never by
    # the cookie (the user-facing /oauth/authorize is not among them and keeps the check).
    if request.path in CLIENT_AUTHENTICATED_PATHS:
        return True
    return request.path.startswith("/api/") and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies


def check() -> None:
    """``before_request``: refuse (400) an unsafe request without this session's token."""
    if request.method not in UNSAFE_METHODS or _exempt():
        return
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        abort_problem(400, "the form has expired or did not come from this site (CSRF token missing or invalid); "
                           "reload the page and try again")


def init_app(app: Flask) -> None:
    app.before_request(check)
    app.jinja_env.globals["csrf_token"] = csrf_token
