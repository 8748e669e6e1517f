"""Staff account pages: log in, log out, the forced password change and "my profile" (我的资料)."""

from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext

from ..db import CurrentTenant, shared_session
from ..identity import sessions
from ..identity.login import LoginFailed, SamePassword, WrongCurrentPassword, authenticate, change_password
from ..identity.models import User
from ..identity.passwords import MAX_LENGTH, MIN_LENGTH, WeakPassword
from ..identity.principal import CurrentPrincipal
from ..identity.roles import STANDARD_ROLES
from ..web.access import LOGIN_REQUIRED, declare, public
from ..web.errors import abort_problem
from .i18n import current_language
from .views import local_path

blueprint = Blueprint("account", __name__)

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
                                    tenant.slug if tenant else None)
            except LoginFailed:
                done = None
        if done is not None:
            sessions.start(done)
            if done.user.must_change_password:
                return redirect(url_for("account.change_password"))
            back = local_path(request.args.get("next"))
            return redirect(request.script_root + back if back else url_for("account.profile"))
        error = gettext("The username or password is incorrect, or the account is locked for a while.")
    return render_template("portal/login.html", username=username, error=error,
                           expired=request.args.get("expired") == "1"), (401 if error else 200)


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
            change_password(shared, user, current, new)
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
    return render_template("portal/profile.html", user=_user(), principal=principal, roles=roles,
                           previous_login_at=sessions.previous_login_at())


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
