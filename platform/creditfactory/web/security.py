"""Security headers on every response, and cookies that are ``Secure`` whenever the request came over HTTPS.

The policy is strict because the portal and the API carry borrowers' personal and financial data: no inline
script or style may run (templates keep theirs in static files), no other site may frame a page, and nothing
that may hold personal data is kept in a browser or proxy cache. docs/web-security.md explains each header.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from .assets import is_static_endpoint

#: Everything from this origin only; no inline script or style ('unsafe-inline' is never added), no plugins,
#: no framing. ``data:`` images are the icons inside Swagger UI's stylesheet and the portal's empty favicon.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

#: Loan officers work on phones in the field: pages of this origin may ask for the camera (photographing
#: documents and premises during an on-site investigation, 贷前调查) and the location (where a visit took
#: place); the browser still asks the user. Nothing else may, and no feature is delegated to any frame.
PERMISSIONS_POLICY = ", ".join([
    "camera=(self)",
    "geolocation=(self)",
    "microphone=()",
    "display-capture=()",
    "payment=()",
    "usb=()",
    "serial=()",
    "bluetooth=()",
    "hid=()",
    "midi=()",
    "browsing-topics=()",
])

#: Browsers keep to HTTPS for a year, on every tenant subdomain too. Sent only over HTTPS (RFC 6797, 7.2).
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Older browsers ignore CSP's frame-ancestors; this says the same to them.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
}


def cookie_secure() -> bool:
    """Whether a cookie set now must be ``Secure``: always over HTTPS, and everywhere if the app forces it.

    The request scheme decides (after ProxyFix, so the ingress's TLS counts): a cookie set over HTTPS never
    travels over plain HTTP, while the development server and tests on http://127.0.0.1 keep working, where
    browsers would drop a ``Secure`` cookie. ``SESSION_COOKIE_SECURE = True`` forces the flag for all cookies.
    """
    return bool(current_app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the ``Secure`` flag decided per request by ``cookie_secure``."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_secure()


def _secure_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    if not is_static_endpoint(request.endpoint):
        # Pages, API answers and errors may hold personal data: no browser, proxy or back/forward cache
        # keeps them. Static assets are the same for everyone; web.assets sets their caching.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.after_request(_secure_headers)
