"""Portal sessions (会话): who is logged in, for which context, until when; bound for each request.

The session lives in Flask's signed cookie: user id, context, tenant slug, login time, last request time and a
random session id whose hash is recorded server-side (``session_store``), so a session can be ended before the
cookie expires. Each request checks that record, idle and absolute expiry, refuses (403) a request whose tenant differs from the session's — a
session is never switched to another bank — and binds ``CurrentPrincipal`` and ``CurrentActor`` until teardown.

A login that still owes its second factor (TOTP) is kept under another key, ``PENDING_KEY``: ``load`` never reads
it, so it binds no principal and opens no page; only the second-factor pages look at it, and it lapses after
``PENDING_MINUTES``.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from typing import Any

from flask import Flask, g, request, session

from .. import settings as settings_module
from ..audit.context import Actor, ActorKind, CurrentActor
from ..db import CurrentTenant, shared_session
from ..web.errors import abort_problem
from . import clock, session_store
from .errors import AccessDenied
from .login import Login
from .models import User
from .permissions import Context
from .principal import CurrentPrincipal, Principal, load_principal

#: Key of the login inside the Flask session.
SESSION_KEY = "login"
#: Key of a login that has passed the password and still owes its second factor.
PENDING_KEY = "pending_login"
#: Time to type the code (or enrol an app) after the password; then the password is asked again.
PENDING_MINUTES = 5
#: Endpoints every session may reach whatever it acts for: the orchestrator's probes carry no data.
UNSCOPED_ENDPOINTS = {"health.healthz", "health.readyz"}


def start(login: Login) -> None:
    """Begin a session for ``login``, dropping everything the previous session held (no session fixation:
    a CSRF token or login planted before this moment does not survive it)."""
    now = clock.now()
    session.clear()
    with shared_session() as shared, shared.begin():
        sid = session_store.open_session(shared, login.user.id, login.principal.context, login.principal.tenant_slug,
                                         now=now, ip=request.remote_addr, user_agent=request.user_agent.string)
    session[SESSION_KEY] = {
        "sid": sid,
        "user_id": login.user.id,
        "context": login.principal.context.value,
        "tenant": login.principal.tenant_slug,
        "login_at": now.timestamp(),
        "seen_at": now.timestamp(),
        "previous_login_at": login.previous_login_at.timestamp() if login.previous_login_at else None,
    }


def start_pending(login: Login, next_path: str | None) -> None:
    """Remember a login that passed the password and owes its second factor; grants nothing yet. Clears the
    session first, like ``start``."""
    session.clear()
    session[PENDING_KEY] = {
        "user_id": login.user.id,
        "context": login.principal.context.value,
        "tenant": login.principal.tenant_slug,
        "at": clock.now().timestamp(),
        "previous_login_at": login.previous_login_at.timestamp() if login.previous_login_at else None,
        "next": next_path,
    }


#: Key of a login at the root that passed the password and must choose where to act (the context picker).
PICK_KEY = "picking_login"


def start_picking(login: Login, next_path: str | None) -> None:
    """Remember a root login whose person holds roles in several places; grants nothing until one is chosen."""
    session.clear()
    session[PICK_KEY] = {
        "user_id": login.user.id,
        "at": clock.now().timestamp(),
        "previous_login_at": login.previous_login_at.timestamp() if login.previous_login_at else None,
        "next": next_path,
    }


def picking() -> dict[str, Any] | None:
    """The login of this session waiting for its place to be chosen, if recent and at the root address."""
    data = session.get(PICK_KEY)
    if not data or CurrentTenant.get_or_none() is not None \
            or clock.now().timestamp() - data["at"] > PENDING_MINUTES * 60:
        return None
    return data


def pending() -> dict[str, Any] | None:
    """The pending login of this session, if it is recent and belongs to this address's bank (or head office)."""
    data = session.get(PENDING_KEY)
    if not data:
        return None
    requested = CurrentTenant.get_or_none()
    if (requested.slug if requested is not None else None) != data["tenant"] \
            or clock.now().timestamp() - data["at"] > PENDING_MINUTES * 60:
        return None
    return data


def complete(user: User, principal: Principal, data: dict[str, Any]) -> None:
    """Turn the pending login ``data`` into a full session once the second factor passed."""
    previous = data["previous_login_at"]
    start(Login(user, principal, dt.datetime.fromtimestamp(previous, dt.timezone.utc) if previous else None))


def end(reason: str = "logout") -> None:
    """Log out: the server-side record ends and the cookie keeps nothing of the login."""
    sid = (session.get(SESSION_KEY) or {}).get("sid")
    if sid:
        with shared_session() as shared, shared.begin():
            session_store.end_token(shared, sid, reason, clock.now())
    session.clear()


def current_sid() -> str | None:
    """The id of this request's session (to keep it when ending the user's others)."""
    return (session.get(SESSION_KEY) or {}).get("sid")


def current_user() -> User | None:
    """The logged-in user of this request (loaded by ``load``), or None."""
    return g.get("login_user")


def previous_login_at() -> dt.datetime | None:
    value = (session.get(SESSION_KEY) or {}).get("previous_login_at")
    return dt.datetime.fromtimestamp(value, dt.timezone.utc) if value is not None else None


def expired(data: dict[str, Any], now: dt.datetime) -> bool:
    """Whether a session started at ``login_at`` and last used at ``seen_at`` has ended by ``now``."""
    settings = settings_module.get()
    at = now.timestamp()
    return (at - data["seen_at"] > settings.session_idle_minutes * 60
            or at - data["login_at"] > settings.session_absolute_hours * 3600)


def load() -> None:
    """``before_request``: end an expired session, refuse a tenant mismatch, bind the principal and actor."""
    data = session.get(SESSION_KEY)
    if not data or _is_static(request.endpoint) or request.endpoint in UNSCOPED_ENDPOINTS:
        return
    now = clock.now()
    if expired(data, now):
        end("expired")
        g.session_expired = True
        return
    requested = CurrentTenant.get_or_none()
    requested_slug = requested.slug if requested is not None else None
    if requested_slug != data["tenant"]:
        acting = f"village bank {data['tenant']!r}" if data["tenant"] else f"the {Context(data['context']).label_en}"
        named = f"village bank {requested_slug!r}" if requested_slug else "the head office"
        abort_problem(403, f"this session acts for {acting}, and this address belongs to {named}; log out first "
                           "to work elsewhere")
    user, principal = _principal(data, now)
    if user is None:
        # Ended server-side (logout elsewhere, password change, lock, revoked role, "log out everywhere").
        session.clear()
        g.session_expired = True
        return
    if principal is None:
        end("no_role")
        return
    data["seen_at"] = now.timestamp()
    session.modified = True
    scope = ExitStack()
    scope.enter_context(CurrentPrincipal.bind(principal))
    scope.enter_context(CurrentActor.bind(Actor(id=str(user.id), kind=ActorKind.USER, display=user.username)))
    g.login_scope = scope
    g.login_user = user


def _principal(data: dict[str, Any], now: dt.datetime) -> tuple[User | None, Principal | None]:
    # Roles are read afresh on every request, so a revoked role or a deactivated user stops working at once.
    with shared_session() as shared, shared.begin():
        row = session_store.find_live(shared, data.get("sid"))
        if row is None or row.user_id != data["user_id"]:
            return None, None
        session_store.touch(row, now)
        user = shared.get(User, data["user_id"])
        if user is None:
            return None, None
        try:
            return user, load_principal(shared, user, Context(data["context"]), data["tenant"])
        except AccessDenied:
            return user, None


def release(exc: BaseException | None = None) -> None:
    """``teardown_request``: unbind the principal and actor, whatever happened to the request."""
    scope = g.pop("login_scope", None)
    if scope is not None:
        scope.close()


def _is_static(endpoint: str | None) -> bool:
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def init_app(app: Flask) -> None:
    """Must follow ``routing.init_app``: the session is checked against the tenant that routing bound."""
    app.before_request(load)
    app.teardown_request(release)
