"""A village bank administering its own staff (本行用户管理), and the maker-checker grant of roles.

``user.manage`` lets a tenant administrator create users for their bank, reset their passwords, deactivate and
reactivate them, propose roles and revoke them. Granting a role is a configuration change that affects lending
(issue 3, segregation of duties): it is proposed as a ``membership.grant`` change request and takes effect only when
a second person holding ``config.approve`` approves it. Revoking applies at once: it only removes power, and a
compromised account must be stoppable without waiting for a colleague.

A bank administrator acts only on users who belong to no one else: a user holding a role outside this bank
(another bank, the head office, a regulator) is managed by the head office (``platform.user.manage``), otherwise
one bank's administrator could take over an account with power elsewhere by resetting its password.

Users and memberships live in ``cf_shared``; change requests and the audit entries live in the bank's schema.
``shared_for(tenant_db)`` gives a shared session on the tenant session's own connection when both are on the same
database, so a change and its audit entry commit together.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..db import engine_for, shared_session
from ..errors import NotFound
from ..tenancy.models import Tenant
from .authorization import authorize, requires
from .changes import (ChangeKind, ChangeRequestError, approve, change_kind, propose, register_change_kind,
                      reject)
from .errors import AccessDenied, IdentityError
from .models import ChangeRequest, ChangeStatus, CustomRole, CustomRoleStatus, Membership, User
from .passwords import hash_password, one_time_password
from .permissions import Context, Permission
from .principal import CurrentPrincipal
from .roles import ROLE_CODE_RE, STANDARD_ROLES
from .services import USERNAME_RE

#: The change kind of granting a village-bank role to a user; target ``<username>/<role>``.
GRANT = "membership.grant"
_TARGET_RE = re.compile(r"^(?P<username>[^/]+)/(?P<role>[^/]+)$")


# --- sessions ------------------------------------------------------------------------------------------------------


@contextmanager
def shared_for(tenant_db: Session) -> Iterator[Session]:
    """A ``cf_shared`` session in the same transaction as ``tenant_db`` when the bank's schema lives on the main
    database (the usual case); for a bank on another cluster, a session of its own committed on leaving the block,
    before the tenant transaction commits (so a failure after it leaves a grant applied and its request pending:
    approving again is harmless, a grant already held is a no-op)."""
    tenant = tenant_db.info["tenant"]
    if tenant.cluster == "default" or engine_for(tenant.cluster).url == engine_for("default").url:
        # Joining the tenant session's transaction by a savepoint: commit() here releases only the savepoint, the
        # tenant session's commit publishes both.
        shared = shared_session(bind=tenant_db.connection())
        try:
            yield shared
            shared.commit()
        finally:
            shared.close()
        return
    with shared_session() as shared, shared.begin():
        yield shared


def _bank(shared: Session, tenant_db: Session) -> Tenant:
    slug = tenant_db.info["tenant"].slug
    tenant = shared.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no village bank {slug!r}")
    return tenant


# --- listing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankUser:
    """A user as the bank's administrator sees them: roles here, pending grants, status, and whether the bank
    may manage the account (it holds no role elsewhere)."""

    username: str
    display_name: str
    email: str | None
    active: bool
    must_change_password: bool
    locked: bool
    roles: tuple[str, ...]
    pending_roles: tuple[str, ...]
    managed_here: bool


@requires(Permission.USER_MANAGE)
def list_bank_users(shared: Session, tenant_db: Session) -> list[BankUser]:
    """Users holding a role in this bank or waiting for one (a pending ``membership.grant``)."""
    from . import clock
    from .login import is_locked

    tenant = _bank(shared, tenant_db)
    pending: dict[str, list[str]] = {}
    for target in tenant_db.scalars(select(ChangeRequest.target).where(
            ChangeRequest.kind == GRANT, ChangeRequest.status == ChangeStatus.PENDING.value)):
        username, role = _split(target)
        pending.setdefault(username, []).append(role)
    here = select(Membership.user_id).where(Membership.tenant_id == tenant.id)
    users = shared.scalars(select(User).options(selectinload(User.memberships))
                           .where(or_(User.id.in_(here), User.username.in_(list(pending))))
                           .order_by(User.username))
    now = clock.now()
    return [BankUser(
        username=u.username, display_name=u.display_name, email=u.email, active=u.active,
        must_change_password=u.must_change_password, locked=is_locked(u, now),
        roles=tuple(sorted(m.role for m in u.memberships if m.tenant_id == tenant.id)),
        pending_roles=tuple(sorted(pending.get(u.username, ()))),
        managed_here=all(m.tenant_id == tenant.id for m in u.memberships),
    ) for u in users]


@requires(Permission.USER_MANAGE)
def grantable_roles(tenant_db: Session) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every role this bank can grant: the standard village-bank roles, then its active
    custom roles."""
    standard = [(r.code, r.name_zh, r.name_en) for r in STANDARD_ROLES.values() if r.context is Context.TENANT]
    custom = [(r.code, r.name_zh, r.name_en) for r in tenant_db.scalars(
        select(CustomRole).where(CustomRole.status == CustomRoleStatus.ACTIVE.value).order_by(CustomRole.code))]
    return standard + custom


# --- accounts ------------------------------------------------------------------------------------------------------


@requires(Permission.USER_MANAGE)
def create_bank_user(shared: Session, tenant_db: Session, username: str, display_name: str, role: str, *,
                     email: str | None = None) -> tuple[User, str, ChangeRequest]:
    """A new user of this bank with a one-time password (returned, shown once; changed at first login) and a
    proposed grant of ``role``: the user can log in here only once a second person approves the grant."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise IdentityError(f"username {username!r} must match {USERNAME_RE.pattern}")
    if not display_name.strip():
        raise IdentityError("a display name is required")
    password = one_time_password()
    user = User(username=username, display_name=display_name.strip(), email=(email or "").strip() or None,
                password_hash=hash_password(password), active=True, must_change_password=True,
                failed_login_count=0)
    try:
        with shared.begin_nested():
            shared.add(user)
            shared.flush()
    except IntegrityError:
        raise IdentityError(f"user {username!r} already exists") from None
    audit.record(tenant_db, "user.create", object_type="user", object_id=username,
                 after={"display_name": user.display_name, "email": user.email})
    request = propose_grant(shared, tenant_db, username, role)
    return user, password, request


def _manageable(shared: Session, tenant_db: Session, username: str) -> User:
    tenant = _bank(shared, tenant_db)
    user = shared.scalar(select(User).options(selectinload(User.memberships))
                         .where(User.username == username).with_for_update())
    if user is None:
        raise NotFound(f"no user {username!r}")
    pending = tenant_db.scalar(select(ChangeRequest.id).where(
        ChangeRequest.kind == GRANT, ChangeRequest.status == ChangeStatus.PENDING.value,
        ChangeRequest.target.startswith(f"{username}/", autoescape=True)).limit(1))
    if not any(m.tenant_id == tenant.id for m in user.memberships) and pending is None:
        # Not this bank's user: say nothing more than that it is not found here.
        raise NotFound(f"no user {username!r} in this bank")
    if any(m.tenant_id != tenant.id for m in user.memberships):
        raise AccessDenied(f"user {username!r} also holds roles outside this bank; the head office manages the "
                           "account")
    return user


@requires(Permission.USER_MANAGE)
def reset_bank_user_password(shared: Session, tenant_db: Session, username: str) -> str:
    """A new one-time password (returned, shown once) the user must change at next login; lifts a lockout."""
    user = _manageable(shared, tenant_db, username)
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_login_count = 0
    user.locked_until = None
    shared.flush()
    audit.record(tenant_db, "user.password.reset", object_type="user", object_id=username)
    return password


@requires(Permission.USER_MANAGE)
def set_bank_user_active(shared: Session, tenant_db: Session, username: str, active: bool) -> User:
    """Deactivate (lock: every session and token stops at its next request) or reactivate a user of this bank;
    reactivating also lifts a lockout after wrong passwords. One cannot lock oneself out."""
    user = _manageable(shared, tenant_db, username)
    if not active and user.id == CurrentPrincipal.get().user_id:
        raise IdentityError("you cannot deactivate your own account")
    before = {"active": user.active}
    user.active = active
    if active:
        user.failed_login_count, user.locked_until = 0, None
    shared.flush()
    audit.record(tenant_db, "user.activate" if active else "user.deactivate", object_type="user",
                 object_id=username, before=before, after={"active": active})
    return user


# --- roles ---------------------------------------------------------------------------------------------------------


@requires(Permission.USER_MANAGE)
def propose_grant(shared: Session, tenant_db: Session, username: str, role: str) -> ChangeRequest:
    """Propose giving ``username`` the village-bank role ``role`` here; applied when a second person approves."""
    if shared.scalar(select(User.id).where(User.username == username)) is None:
        raise NotFound(f"no user {username!r}")
    return propose(tenant_db, GRANT, f"{username}/{role}", {"username": username, "role": role})


@requires(Permission.USER_MANAGE)
def revoke_role(shared: Session, tenant_db: Session, username: str, role: str) -> None:
    """Take ``role`` in this bank from ``username`` at once (it only removes power), audited."""
    tenant = _bank(shared, tenant_db)
    user = shared.scalar(select(User).where(User.username == username))
    membership = None if user is None else shared.scalar(select(Membership).where(
        Membership.user_id == user.id, Membership.tenant_id == tenant.id, Membership.role == role))
    if membership is None:
        raise NotFound(f"user {username!r} does not hold role {role!r} in this bank")
    shared.execute(delete(Membership).where(Membership.id == membership.id))
    shared.flush()
    audit.record(tenant_db, "membership.revoke", object_type="user", object_id=username,
                 before={"role": role}, after=None)


def _split(target: str) -> tuple[str, str]:
    found = _TARGET_RE.match(target or "")
    if found is None:
        raise ChangeRequestError(f"a role grant's target is '<username>/<role>', not {target!r}")
    return found["username"], found["role"]


def _validate_grant(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    username, role = _split(target)
    if set(payload) != {"username", "role"} or payload["username"] != username or payload["role"] != role:
        raise ChangeRequestError(f"a role grant's payload is {{username, role}} matching its target {target!r}")
    if not USERNAME_RE.match(username):
        raise ChangeRequestError(f"username {username!r} must match {USERNAME_RE.pattern}")
    standard = STANDARD_ROLES.get(role)
    if standard is not None and standard.context is not Context.TENANT:
        raise ChangeRequestError(f"role {role!r} belongs to the {standard.context.label_en}, not to a village bank")
    if standard is None and not ROLE_CODE_RE.match(role):
        raise ChangeRequestError(f"unknown role {role!r}")
    return {"username": username, "role": role}


def _check_role_exists(tenant_db: Session, role: str) -> None:
    if role in STANDARD_ROLES:
        return
    custom = tenant_db.get(CustomRole, role)
    if custom is None or custom.status != CustomRoleStatus.ACTIVE.value:
        raise ChangeRequestError(f"unknown role {role!r}: neither a standard role nor an active custom role of "
                                 "this bank")


def _held(shared: Session, tenant_db: Session, username: str, role: str) -> tuple[User, Tenant, bool]:
    tenant = _bank(shared, tenant_db)
    user = shared.scalar(select(User).where(User.username == username))
    if user is None:
        raise ChangeRequestError(f"no user {username!r}")
    held = shared.scalar(select(Membership.id).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id,
                                                     Membership.role == role)) is not None
    return user, tenant, held


def _prepare_grant(tenant_db: Session, target: str, payload: dict[str, Any]) -> None:
    # At proposal: the role must exist and not be held already, so the checker never approves a no-op.
    _check_role_exists(tenant_db, payload["role"])
    with shared_for(tenant_db) as shared:
        _, _, held = _held(shared, tenant_db, payload["username"], payload["role"])
    if held:
        raise ChangeRequestError(f"user {payload['username']!r} already holds role {payload['role']!r} here")
    audit.record(tenant_db, "membership.grant.propose", object_type="user", object_id=payload["username"],
                 after={"role": payload["role"]})


def _apply_grant(tenant_db: Session, target: str, payload: dict[str, Any]) -> None:
    # The custom role may have been replaced since the proposal: checked again at approval.
    _check_role_exists(tenant_db, payload["role"])
    with shared_for(tenant_db) as shared:
        user, tenant, held = _held(shared, tenant_db, payload["username"], payload["role"])
        if not held:
            shared.add(Membership(user_id=user.id, context=Context.TENANT.value, tenant_id=tenant.id,
                                  role=payload["role"]))
    audit.record(tenant_db, "membership.grant", object_type="user", object_id=payload["username"],
                 before=None, after={"role": payload["role"]})


def _current_grant(tenant_db: Session, target: str) -> dict[str, Any] | None:
    username, role = _split(target)
    with shared_for(tenant_db) as shared:
        try:
            _, _, held = _held(shared, tenant_db, username, role)
        except ChangeRequestError:
            return None
    return {"username": username, "role": role} if held else None


register_change_kind(ChangeKind(GRANT, Permission.USER_MANAGE, _validate_grant, _apply_grant, _prepare_grant,
                                None, _current_grant))


# --- the approvals list --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDiff:
    """One field of a change: its value before and after, and for lists the items added and removed."""

    name: str
    before: Any
    after: Any
    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()

    @property
    def changed(self) -> bool:
        return self.before != self.after


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldDiff]:
    """Field by field, for any kind of change: the approvals page needs nothing kind-specific."""
    before = before or {}
    fields = list(after) + [name for name in before if name not in after]
    rows = []
    for name in fields:
        old, new = before.get(name), after.get(name)
        if isinstance(old, list) or isinstance(new, list):
            old_items, new_items = list(old or []), list(new or [])
            rows.append(FieldDiff(name, old, new, tuple(i for i in new_items if i not in old_items),
                                  tuple(i for i in old_items if i not in new_items)))
        else:
            rows.append(FieldDiff(name, old, new))
    return rows


@dataclass(frozen=True)
class ChangeView:
    """A change request as the approvals page and the API show it."""

    id: int
    kind: str
    target: str
    status: str
    maker: str
    made_at: Any
    checker: str | None
    checked_at: Any
    reason: str
    payload: dict[str, Any]
    before: dict[str, Any] | None
    fields: tuple[FieldDiff, ...]
    mine: bool


def list_changes(shared: Session, tenant_db: Session, *, status: str | None = None, change_id: int | None = None,
                 limit: int = 200) -> list[ChangeView]:
    """Change requests of this bank the current principal may see, newest first: all of them for a checker
    (``config.approve``); otherwise those of the kinds they may propose, and their own.

    The state before the change is read now, for pending requests (what approving would change); for closed ones
    the audit log keeps what was changed."""
    principal = CurrentPrincipal.get()
    kinds = _all_kinds()
    if principal.has(Permission.CONFIG_APPROVE):
        authorize(Permission.CONFIG_APPROVE)
        visible = None
    else:
        proposable = [code for code, kind in kinds.items() if principal.has(kind.permission)]
        if not proposable:
            raise AccessDenied(f"{principal.username!r} may neither propose nor approve configuration changes")
        authorize(kinds[proposable[0]].permission)
        visible = or_(ChangeRequest.kind.in_(proposable), ChangeRequest.maker_id == principal.user_id)
    query = select(ChangeRequest).order_by(ChangeRequest.made_at.desc(), ChangeRequest.id.desc()).limit(limit)
    if status is not None:
        query = query.where(ChangeRequest.status == status)
    if change_id is not None:
        query = query.where(ChangeRequest.id == change_id)
    if visible is not None:
        query = query.where(visible)
    requests = list(tenant_db.scalars(query))
    people = {r.maker_id for r in requests} | {r.checker_id for r in requests if r.checker_id is not None}
    names = dict(shared.execute(select(User.id, User.username).where(User.id.in_(people))).all())
    views = []
    for r in requests:
        kind = kinds.get(r.kind)
        before = kind.current(tenant_db, r.target) if kind is not None and kind.current is not None \
            and r.status == ChangeStatus.PENDING.value else None
        views.append(ChangeView(
            id=r.id, kind=r.kind, target=r.target, status=r.status, maker=names.get(r.maker_id, f"#{r.maker_id}"),
            made_at=r.made_at, checker=names.get(r.checker_id, f"#{r.checker_id}") if r.checker_id else None,
            checked_at=r.checked_at, reason=r.reason, payload=r.payload, before=before,
            fields=tuple(diff(before, r.payload)), mine=r.maker_id == principal.user_id))
    return views


def get_change(shared: Session, tenant_db: Session, change_id: int) -> ChangeView:
    """One change request the current principal may see (``NotFound`` otherwise)."""
    found = list_changes(shared, tenant_db, change_id=change_id)
    if not found:
        raise NotFound(f"no change request {change_id}")
    return found[0]


def approve_change(tenant_db: Session, change_id: int) -> ChangeRequest:
    """Approve and apply change ``change_id`` as the current principal (the checker), audited."""
    request = require_change(tenant_db, change_id)
    approve(tenant_db, request.id)
    audit.record(tenant_db, "change.approve", object_type="change_request", object_id=request.id,
                 after={"kind": request.kind, "target": request.target, "payload": request.payload,
                        "maker_id": request.maker_id, "checker_id": request.checker_id})
    return request


def reject_change(tenant_db: Session, change_id: int, reason: str) -> ChangeRequest:
    """Reject change ``change_id`` with ``reason`` as the current principal, audited."""
    request = require_change(tenant_db, change_id)
    reject(tenant_db, request.id, reason)
    audit.record(tenant_db, "change.reject", object_type="change_request", object_id=request.id,
                 after={"kind": request.kind, "target": request.target, "reason": request.reason,
                        "maker_id": request.maker_id, "checker_id": request.checker_id})
    return request


def require_change(tenant_db: Session, change_id: int) -> ChangeRequest:
    """The request ``change_id`` of this bank, or ``NotFound`` (before approving or rejecting it)."""
    # Only a checker reaches here: the existence of a request is not revealed to anyone else.
    authorize(Permission.CONFIG_APPROVE)
    request = tenant_db.get(ChangeRequest, change_id)
    if request is None:
        raise NotFound(f"no change request {change_id}")
    change_kind(request.kind)
    return request


def _all_kinds() -> dict[str, ChangeKind]:
    from .changes import change_kinds

    return change_kinds()
