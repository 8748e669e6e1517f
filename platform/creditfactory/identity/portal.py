"""Administration pages (管理): the bank's users and roles, custom roles, pending approvals; the head office's users.

Each page needs a login and one permission (``permission_required``), checked again below the web layer by the
services. Forms POST with the CSRF token and redirect back (post/redirect/get), except where a one-time password
must be shown once: that answer is rendered directly and never stored.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import shared_session, tenant_session
from ..errors import DomainError
from ..portal.account import login_required
from ..portal.i18n import current_language
from ..portal.nav import N_, NavLink, register_nav
from ..web.access import LOGIN_REQUIRED, PageAccess, declare
from ..web.errors import abort_problem
from . import administration, services
from .authorization import authorize
from .custom_roles import propose_custom_role
from .errors import AccessDenied
from .models import CustomRole, CustomRoleStatus
from .permissions import Context, Permission
from .principal import CurrentPrincipal
from .roles import STANDARD_ROLES

blueprint = Blueprint("identity", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/identity")

register_nav(NavLink("identity.users", N_("Users and roles"), Permission.USER_MANAGE, order=800))
register_nav(NavLink("identity.custom_roles", N_("Custom roles"), Permission.ROLE_MANAGE, order=810))
register_nav(NavLink("identity.approvals", N_("Approvals"), Permission.CONFIG_APPROVE, order=820))
register_nav(NavLink("identity.head_office_users", N_("Users and memberships"), Permission.PLATFORM_USER_MANAGE,
                     order=800))

_P = ParamSpec("_P")
_R = TypeVar("_R")


def permission_required(permission: Permission) -> Callable[[Callable[_P, _R]], Callable[_P, _R | Response]]:
    """A page for logged-in staff holding ``permission`` here: anyone else logged in gets a 403 page (the
    anonymous are sent to log in first). The services check again; this only spares a page that cannot work."""

    def decorate(view: Callable[_P, _R]) -> Callable[_P, _R | Response]:
        @functools.wraps(view)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R | Response:
            try:
                authorize(permission)
            except AccessDenied as refused:
                abort_problem(403, str(refused))
            return view(*args, **kwargs)

        wrapper = login_required(checked)
        assert getattr(wrapper, "page_access", None) is LOGIN_REQUIRED
        return declare(wrapper, PageAccess(permission=permission))

    return decorate


@contextmanager
def _bank_units() -> Iterator[tuple[Session, Session]]:
    """The acting bank's session and a shared one in the same transaction, committed together on success."""
    with tenant_session() as tenant_db, tenant_db.begin():
        with administration.shared_for(tenant_db) as shared:
            yield shared, tenant_db


def _role_names(codes, custom: dict[str, tuple[str, str]]) -> list[str]:
    zh = current_language() == "zh"
    names = []
    for code in codes:
        role = STANDARD_ROLES.get(code)
        if role is not None:
            names.append(role.name_zh if zh else role.name_en)
        elif code in custom:
            names.append(custom[code][0] if zh else custom[code][1])
        else:
            names.append(code)
    return names


# --- the bank's users ----------------------------------------------------------------------------------------------


@blueprint.route("/admin/users", methods=["GET", "POST"], endpoint="users")
@permission_required(Permission.USER_MANAGE)
def users_page() -> str | tuple[str, int] | Response:
    """The bank's users with their roles and status; creates a user (with a proposed first role)."""
    error = created = None
    form: dict[str, str] = {}
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip()[:200] for key in ("username", "display_name", "email", "role")}
        try:
            with _bank_units() as (shared, tenant_db):
                user, password, _ = administration.create_bank_user(
                    shared, tenant_db, form["username"], form["display_name"], form["role"], email=form["email"])
                created = {"username": user.username, "password": password}
        except DomainError as problem:
            error = str(problem)
    return _users(error=error, created=created, form=form if error else {}), (422 if error else 200)


def _users(**extra: Any) -> str:
    with tenant_session() as tenant_db, shared_session() as shared:
        people = administration.list_bank_users(shared, tenant_db)
        grantable = administration.grantable_roles(tenant_db)
    custom = {code: (zh, en) for code, zh, en in grantable}
    rows = [{"user": person, "roles": list(zip(person.roles, _role_names(person.roles, custom))),
             "pending": _role_names(person.pending_roles, custom)} for person in people]
    zh = current_language() == "zh"
    choices = [(code, name_zh if zh else name_en) for code, name_zh, name_en in grantable]
    me = CurrentPrincipal.get().username
    page = {"error": None, "created": None, "reset": None, "form": {}, **extra}
    return render_template("identity/users.html", rows=rows, choices=choices, me=me, **page)


def _user_action(action: Callable[[Session, Session], Any]) -> tuple[str | None, Any]:
    try:
        with _bank_units() as (shared, tenant_db):
            return None, action(shared, tenant_db)
    except DomainError as problem:
        return str(problem), None


@blueprint.post("/admin/users/<username>/password", endpoint="reset_password")
@permission_required(Permission.USER_MANAGE)
def reset_password(username: str) -> tuple[str, int]:
    """Give the user a one-time password, shown once on the answer; they must change it at next login."""
    error, password = _user_action(lambda shared, tenant_db: administration.reset_bank_user_password(
        shared, tenant_db, username))
    reset = None if error else {"username": username, "password": password}
    return _users(error=error, reset=reset), (422 if error else 200)


@blueprint.post("/admin/users/<username>/active", endpoint="set_active")
@permission_required(Permission.USER_MANAGE)
def set_active(username: str) -> Response | tuple[str, int]:
    """Deactivate (``active=0``) or reactivate (``active=1``) a user of this bank."""
    active = request.form.get("active") == "1"
    error, _ = _user_action(lambda shared, tenant_db: administration.set_bank_user_active(
        shared, tenant_db, username, active))
    if error:
        return _users(error=error), 422
    return redirect(url_for("identity.users", done="activated" if active else "deactivated"))


@blueprint.post("/admin/users/<username>/roles", endpoint="grant_role")
@permission_required(Permission.USER_MANAGE)
def grant_role(username: str) -> Response | tuple[str, int]:
    """Propose a role for the user; it takes effect when a second administrator approves it."""
    role = request.form.get("role", "")[:64]
    error, _ = _user_action(lambda shared, tenant_db: administration.propose_grant(shared, tenant_db, username,
                                                                                   role))
    if error:
        return _users(error=error), 422
    return redirect(url_for("identity.users", done="proposed"))


@blueprint.post("/admin/users/<username>/roles/<role>/revoke", endpoint="revoke_role")
@permission_required(Permission.USER_MANAGE)
def revoke_role(username: str, role: str) -> Response | tuple[str, int]:
    """Take a role from the user at once."""
    error, _ = _user_action(lambda shared, tenant_db: administration.revoke_role(shared, tenant_db, username, role))
    if error:
        return _users(error=error), 422
    return redirect(url_for("identity.users", done="revoked"))


# --- custom roles --------------------------------------------------------------------------------------------------


@blueprint.route("/admin/roles", methods=["GET", "POST"], endpoint="custom_roles")
@permission_required(Permission.ROLE_MANAGE)
def custom_roles_page() -> str | tuple[str, int] | Response:
    """The bank's custom roles; proposes a new one or a change (``?code=`` fills the form from an existing one)."""
    error = None
    form: dict[str, Any] = {"code": "", "name_zh": "", "name_en": "", "permissions": []}
    with tenant_session() as tenant_db:
        roles = list(tenant_db.scalars(select(CustomRole).order_by(CustomRole.code)))
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip()[:200] for key in ("code", "name_zh", "name_en")}
        form["permissions"] = request.form.getlist("permissions")[:100]
        try:
            with tenant_session() as tenant_db, tenant_db.begin():
                propose_custom_role(tenant_db, form["code"], form["name_zh"], form["name_en"], form["permissions"])
        except DomainError as problem:
            error = str(problem)
        else:
            return redirect(url_for("identity.custom_roles", done="proposed"))
    elif request.args.get("code"):
        chosen = next((r for r in roles if r.code == request.args["code"]), None)
        if chosen is not None:
            form = {"code": chosen.code, "name_zh": chosen.name_zh, "name_en": chosen.name_en,
                    "permissions": list(chosen.permissions)}
    zh = current_language() == "zh"
    permissions = [(p.code, p.label_zh if zh else p.label_en) for p in Permission.of_context(Context.TENANT)]
    permissions.sort(key=lambda item: item[0])
    labels = dict(permissions)
    return render_template("identity/custom_roles.html", roles=roles, permissions=permissions, labels=labels,
                           form=form, error=error, active=CustomRoleStatus.ACTIVE.value), (422 if error else 200)


# --- approvals -----------------------------------------------------------------------------------------------------


@blueprint.get("/admin/approvals", endpoint="approvals")
@permission_required(Permission.CONFIG_APPROVE)
def approvals_page() -> str:
    """Pending configuration changes of the bank with their before/after, and the current user's own requests."""
    return _approvals()


def _approvals(error: str | None = None) -> str:
    with tenant_session() as tenant_db, shared_session() as shared:
        views = administration.list_changes(shared, tenant_db)
    pending = [v for v in views if v.status == "pending"]
    mine = [v for v in views if v.mine and v.status != "pending"]
    return render_template("identity/approvals.html", pending=pending, mine=mine, error=error,
                           me=CurrentPrincipal.get().username)


@blueprint.post("/admin/approvals/<int:change_id>", endpoint="decide")
@permission_required(Permission.CONFIG_APPROVE)
def decide(change_id: int) -> Response | tuple[str, int]:
    """Approve (``decision=approve``) or reject with a reason (``decision=reject``) one pending change."""
    decision = request.form.get("decision")
    try:
        with tenant_session() as tenant_db, tenant_db.begin():
            if decision == "approve":
                administration.approve_change(tenant_db, change_id)
            elif decision == "reject":
                administration.reject_change(tenant_db, change_id, request.form.get("reason", "")[:2000])
            else:
                abort_problem(400, "decision must be approve or reject")
    except DomainError as problem:
        return _approvals(error=str(problem)), 422
    except AccessDenied as refused:
        # The maker trying to check their own change: say so on the page rather than on an error page.
        return _approvals(error=str(refused)), 403
    return redirect(url_for("identity.approvals", done="approved" if decision == "approve" else "rejected"))


# --- head office ---------------------------------------------------------------------------------------------------


@blueprint.get("/head-office/users", endpoint="head_office_users")
@permission_required(Permission.PLATFORM_USER_MANAGE)
def head_office_users_page() -> str:
    """Every user with their memberships in every bank, the head office and the regulator context."""
    with shared_session() as shared:
        people = services.list_users(shared)
    zh = current_language() == "zh"
    contexts = {c.value: (c.label_zh if zh else c.label_en) for c in Context}
    for person in people:
        for membership in person["memberships"]:
            role = STANDARD_ROLES.get(membership["role"])
            membership["name"] = (role.name_zh if zh else role.name_en) if role else membership["role"]
            membership["where"] = membership["tenant"] or contexts[membership["context"]]
    return render_template("identity/head_office_users.html", people=people)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)

