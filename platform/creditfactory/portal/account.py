"""Staff account pages: log in (with the context picker), log out, the forced password change, "my profile"
(我的资料) with the user's sessions, second-factor self-enrolment and recovery codes."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Callable, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy.orm import Session

from ..audit.context import Actor, ActorKind, CurrentActor
from ..db import CurrentTenant, shared_session
from ..identity import clock, session_store, sessions, totp
from ..identity.errors import AccessDenied, IdentityError
from ..identity.login import (Login, LoginFailed, SamePassword, WrongCurrentPassword, authenticate, change_password,
                              places)
from ..identity.models import User
from ..identity.passwords import MAX_LENGTH, MIN_LENGTH, WeakPassword
from ..identity.permissions import Context
from ..identity.principal import CurrentPrincipal, Principal, load_principal
from ..identity.roles import STANDARD_ROLES
from ..web.access import LOGIN_REQUIRED, declare, public
from ..web.errors import abort_problem
from .i18n import current_language
from .nav import N_, NavLink, register_nav
from .views import local_path

blueprint = Blueprint("account", __name__)
register_nav(NavLink("account.profile", N_("My profile"), order=900))

_P = ParamSpec("_P")
_R = TypeVar("_R")
#: Endpoints a user who must change their password may still reach.
_WHILE_CHANGE_PENDING = {"account.change_password", "account.logout", "portal.set_language"}


def login_required(view: Callable[_P, _R]) -> Callable[_P, _R | Response]:
    """Pages for logged-in staff only: anyone else is sent to the login page, and back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R | Response:
        if CurrentPrincipal.get_or_none() is None:
            expired = {"expired": 1} if g.get("session_expired") else {}
            return redirect(url_for("account.login", next=request.full_path.rstrip("?"), **expired))
        return view(*args, **kwargs)

    return declare(wrapper, LOGIN_REQUIRED)


@blueprint.route("/login", methods=["GET", "POST"])
@public("the login form itself")
def login() -> str | Response:
    """Log in to the village bank of this address, or at the root to the head office or as a regulator."""
    if CurrentPrincipal.get_or_none() is not None:
        return redirect(url_for("account.profile"))
    username = request.form.get("username", "")[:64]
    error = None
    if request.method == "POST":
        tenant = CurrentTenant.get_or_none()
        with shared_session() as shared, shared.begin():
            try:
                done = authenticate(shared, username, request.form.get("password", ""),
                                    tenant.slug if tenant else None, choose=True)
            except LoginFailed:
                done = None
        if done is not None:
            return _after_password(done)
        error = gettext("The username or password is incorrect, or the account is locked for a while.")
    return render_template("portal/login.html", username=username, error=error,
                           expired=request.args.get("expired") == "1"), (401 if error else 200)


def _after_password(done: Login, next_path: str | None = None) -> Response:
    next_path = next_path if next_path is not None else local_path(request.args.get("next"))
    if done.principal is None:
        sessions.start_picking(done, next_path)
        return redirect(url_for("account.choose_context"))
    where = done.principal.tenant_slug
    if totp.enrolled(done.user):
        sessions.start_pending(done, next_path)
        return redirect(_url_in(where, "account.second_factor"))
    if done.user.totp_must_enrol or totp.totp_required(done.principal):
        sessions.start_pending(done, next_path)
        return redirect(_url_in(where, "account.enrol_second_factor"))
    sessions.start(done)
    return _landing(done.user, next_path, where)


def _url_in(tenant_slug: str | None, endpoint: str) -> str:
    """``endpoint``'s URL at the address of where a login acts: a village bank chosen at the root login continues
    under that bank's ``/t/<slug>/`` prefix, since a session acts only at its own bank's address."""
    url = url_for(endpoint)
    current = CurrentTenant.get_or_none()
    if tenant_slug is None or (current is not None and current.slug == tenant_slug):
        return url
    return f"{request.script_root}/t/{tenant_slug}{url[len(request.script_root):]}"


def _landing(user: User, next_path: str | None, tenant_slug: str | None = None) -> Response:
    if user.must_change_password:
        return redirect(_url_in(tenant_slug, "account.change_password"))
    current = CurrentTenant.get_or_none()
    if next_path and (tenant_slug is None or (current is not None and current.slug == tenant_slug)):
        return redirect(request.script_root + next_path)
    return redirect(_url_in(tenant_slug, "account.profile"))


@blueprint.route("/login/context", methods=["GET", "POST"], endpoint="choose_context")
@public("the login's context picker; it acts only on the login its own session has begun with the password")
def choose_context_page() -> str | Response:
    """After the password at the root: choose the village bank, the head office or the regulator context to act
    for. The choice binds the whole session; another place needs a new login."""
    if CurrentPrincipal.get_or_none() is not None:
        return redirect(url_for("account.profile"))
    picking = sessions.picking()
    if picking is None:
        return render_template("portal/choose_context.html", picking=False), 200
    error = None
    with shared_session() as shared, shared.begin():
        user = shared.get(User, picking["user_id"])
        offered = places(shared, user) if user is not None and user.active else []
        chosen = None
        if request.method == "POST":
            chosen = next((p for p in offered if p.key == request.form.get("place")), None)
            if chosen is None:
                error = gettext("Choose one of the places offered.")
            else:
                try:
                    principal = load_principal(shared, user, chosen.context, chosen.tenant_slug)
                except AccessDenied:
                    chosen, error = None, gettext("Choose one of the places offered.")
    if chosen is not None:
        previous = picking["previous_login_at"]
        login = Login(user, principal, dt.datetime.fromtimestamp(previous, dt.timezone.utc) if previous else None)
        return _after_password(login, picking["next"])
    english = current_language() == "en"
    choices = [{"key": p.key, "label": (p.name_en if english else p.name_zh) or p.tenant_slug
                if p.tenant_slug else (gettext("Head office") if p.context is Context.HEAD_OFFICE
                                       else gettext("Regulator")), "slug": p.tenant_slug} for p in offered]
    return render_template("portal/choose_context.html", picking=True, choices=choices, error=error), \
        (400 if error else 200)


@blueprint.route("/login/totp", methods=["GET", "POST"], endpoint="second_factor")
@public("the login's second step; it acts only on the login its own session has begun with the password")
def second_factor_page() -> str | Response:
    """Second step of the login: the six-digit code of the user's authenticator app."""
    if CurrentPrincipal.get_or_none() is not None:
        return redirect(url_for("account.profile"))
    pending = sessions.pending()
    error = None
    if pending is not None and request.method == "POST":
        with shared_session() as shared, shared.begin():
            user = shared.get(User, pending["user_id"], with_for_update=True)
            try:
                if user is None:
                    raise totp.CodeRefused("the user is gone")
                recovery = request.form.get("recovery_code", "")[:40]
                if recovery:
                    # The use is audited as the person whose code it is; no session exists yet to bind them.
                    with CurrentActor.bind(Actor(id=str(user.id), kind=ActorKind.USER, display=user.username)):
                        totp.use_recovery_code(shared, user, recovery)
                else:
                    totp.verify(shared, user, request.form.get("code", "")[:16])
                principal = _fresh_principal(shared, user, pending)
            except (totp.CodeRefused, AccessDenied):
                principal = None
        if principal is not None:
            return _complete(user, principal, pending)
        error = _code_refused()
    return render_template("portal/totp.html", pending=pending is not None, error=error), (401 if error else 200)


@blueprint.route("/login/totp/enrol", methods=["GET", "POST"], endpoint="enrol_second_factor")
@public("the enrolment a login that requires a second factor must pass; it acts only on the login its own "
        "session has begun with the password")
def enrol_second_factor_page() -> str | Response:
    """Set up an authenticator app, required before the first login of administrators and regulators."""
    if CurrentPrincipal.get_or_none() is not None:
        return redirect(url_for("account.profile"))
    pending = sessions.pending()
    if pending is None:
        return render_template("portal/totp_enrol.html", pending=False)
    error = principal = None
    with shared_session() as shared, shared.begin():
        user = shared.get(User, pending["user_id"], with_for_update=True)
        if user is None or totp.enrolled(user):
            # Enrolled meanwhile (another tab): the code is asked like at any other login.
            return redirect(url_for("account.second_factor"))
        secret = totp.begin_enrolment(shared, user)
        if request.method == "POST":
            try:
                totp.confirm_enrolment(shared, user, request.form.get("code", "")[:16])
                principal = _fresh_principal(shared, user, pending)
            except (totp.CodeRefused, AccessDenied):
                error = _code_refused()
        uri = totp.provisioning_uri(user, secret)
    if principal is not None:
        return _complete(user, principal, pending)
    # Four-character groups are what people can copy into an app without losing their place.
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("portal/totp_enrol.html", pending=True, secret=grouped, uri=uri, error=error), \
        (401 if error else 200)


def _code_refused() -> str:
    # One message for a wrong, late or reused code and a locked account, like the password step.
    return gettext("The code is incorrect or was already used. Wait for the next code and try again.")


def _fresh_principal(shared: Session, user: User, pending: dict[str, Any]) -> Principal:
    # Roles are read again: one revoked during the second step must not come back with the session.
    return load_principal(shared, user, Context(pending["context"]), pending["tenant"])


def _complete(user: User, principal: Principal, pending: dict[str, Any]) -> Response:
    # Only after the transaction committed (the accepted time step is stored): the session opens last.
    sessions.complete(user, principal, pending)
    return _landing(user, pending["next"], principal.tenant_slug)


@blueprint.post("/logout")
def logout() -> Response:
    """End the session (POST with the CSRF token, so another site cannot log a user out)."""
    sessions.end()
    return redirect(url_for("account.login"))


@blueprint.route("/account/password", methods=["GET", "POST"], endpoint="change_password")
@login_required
def password_page() -> str | Response:
    """Change one's password; forced after an administrator set a one-time password."""
    error = None
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            error = gettext("The two new passwords differ.")
        else:
            error = _change(request.form.get("current_password", ""), new)
        if error is None:
            return redirect(url_for("account.profile"))
    return render_template("portal/change_password.html", error=error, forced=_user().must_change_password,
                           min_length=MIN_LENGTH, max_length=MAX_LENGTH), (400 if error else 200)


def _change(current: str, new: str) -> str | None:
    with shared_session() as shared, shared.begin():
        user = shared.get(User, _user().id)
        try:
            change_password(shared, user, current, new, keep_session=sessions.current_sid())
        except WrongCurrentPassword:
            return gettext("The current password is incorrect.")
        except WeakPassword:
            return gettext("The new password needs %(min)d to %(max)d characters and must not be the username.",
                           min=MIN_LENGTH, max=MAX_LENGTH)
        except SamePassword:
            return gettext("The new password must differ from the current one.")
    return None


@blueprint.get("/account")
@login_required
def profile() -> str:
    """My profile: who I am, my roles where I act now, and when I last logged in before this session."""
    principal = CurrentPrincipal.get()
    english = current_language() == "en"
    roles = sorted((STANDARD_ROLES[code].name_en if english else STANDARD_ROLES[code].name_zh)
                   if code in STANDARD_ROLES else code for code in principal.roles)
    user = _user()
    with shared_session() as shared:
        live = session_store.live_sessions(shared, user.id, clock.now())
        codes_left = totp.recovery_codes_left(shared, user)
    current = sessions.current_sid()
    current_hash = session_store.token_of(current) if current else None
    return render_template("portal/profile.html", user=user, principal=principal, roles=roles,
                           previous_login_at=sessions.previous_login_at(), sessions=live,
                           current_hash=current_hash, enrolled=totp.enrolled(user), codes_left=codes_left,
                           bank_label=_bank_label)


def _bank_label(row) -> str:
    if row.tenant is not None:
        return (row.tenant.name_en if current_language() == "en" else row.tenant.name_zh) or row.tenant.slug
    return gettext("Regulator") if row.context == Context.REGULATOR.value else gettext("Head office")


@blueprint.post("/account/sessions/<int:session_id>/end", endpoint="end_session")
@login_required
def end_session(session_id: int) -> Response:
    """End one of my sessions (another browser or device); ending this one logs out here."""
    user = _user()
    current = sessions.current_sid()
    with shared_session() as shared, shared.begin():
        row = shared.get(session_store.StaffSession, session_id)
        is_current = row is not None and current is not None and row.token_hash == session_store.token_of(current)
        session_store.end_one(shared, user.id, session_id, "revoked", clock.now())
    if is_current:
        sessions.end("revoked")
        return redirect(url_for("account.login"))
    return redirect(url_for("account.profile"))


@blueprint.post("/account/sessions/end-all", endpoint="end_all_sessions")
@login_required
def end_all_sessions() -> Response:
    """Log out everywhere: every session of mine, in every bank and context, this one included."""
    with shared_session() as shared, shared.begin():
        session_store.end_all(shared, _user().id, "everywhere", now=clock.now())
    sessions.end("everywhere")
    return redirect(url_for("account.login"))


@blueprint.route("/account/totp", methods=["GET", "POST"], endpoint="self_enrol")
@login_required
def self_enrol_page() -> str | Response:
    """Set up a second factor of my own accord (where it is optional); then the recovery codes are shown once."""
    error = codes = None
    with shared_session() as shared, shared.begin():
        user = shared.get(User, _user().id, with_for_update=True)
        if totp.enrolled(user):
            return redirect(url_for("account.profile"))
        secret = totp.begin_enrolment(shared, user)
        if request.method == "POST":
            try:
                totp.confirm_enrolment(shared, user, request.form.get("code", "")[:16])
                codes = totp.generate_recovery_codes(shared, user)
            except totp.CodeRefused:
                error = _code_refused()
        uri = totp.provisioning_uri(user, secret)
    if codes is not None:
        return render_template("portal/recovery_codes.html", codes=codes, enrolled_now=True)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("portal/totp_enrol.html", pending=True, self_service=True, secret=grouped, uri=uri,
                           error=error), (401 if error else 200)


@blueprint.post("/account/totp/recovery-codes", endpoint="regenerate_recovery_codes")
@login_required
def regenerate_recovery_codes() -> str | Response:
    """New recovery codes, shown once; the old ones stop working."""
    with shared_session() as shared, shared.begin():
        user = shared.get(User, _user().id, with_for_update=True)
        try:
            codes = totp.generate_recovery_codes(shared, user)
        except IdentityError:
            return redirect(url_for("account.profile"))
    return render_template("portal/recovery_codes.html", codes=codes, enrolled_now=False)


def _user() -> User:
    user = sessions.current_user()
    if user is None:
        abort_problem(401, "log in first")
    return user


def _force_password_change() -> Response | None:
    """``before_request``: a user with a one-time password changes it before anything else."""
    user = sessions.current_user()
    if user is None or not user.must_change_password or request.endpoint in _WHILE_CHANGE_PENDING \
            or (request.endpoint or "").endswith("static"):
        return None
    if request.path.startswith("/api/"):
        abort_problem(403, "the password must be changed first (it was set by an administrator)")
    return redirect(url_for("account.change_password"))


def init_app(app: Flask) -> None:
    """Must follow ``sessions.init_app``: the forced change is judged on the user the session loaded."""
    app.register_blueprint(blueprint)
    app.before_request(_force_password_change)
