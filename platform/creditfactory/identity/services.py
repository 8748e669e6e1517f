"""Users and memberships (用户与授权): create, grant, revoke, reset password, list.

Reserved to the head office's ``platform.user.manage`` or the operator's CLI (a ``SystemContext``): whoever can
grant roles can grant themselves anything, so this stays with the platform until delegated administration
is designed with its own limits. Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..db import tenant_session
from ..tenancy.models import STATUSES_WITH_SCHEMA, Tenant
from ..tenancy.registry import directory
from . import session_store
from .authorization import requires
from .errors import IdentityError
from .models import CustomRole, CustomRoleStatus, Membership, User
from .passwords import check_policy, hash_password, one_time_password
from .permissions import Context, Permission
from .roles import STANDARD_ROLES

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_MANAGE = Permission.PLATFORM_USER_MANAGE


@requires(_MANAGE, allow_system=True)
def create_user(session: Session, username: str, display_name: str, *, email: str | None = None,
                password: str | None = None) -> tuple[User, str | None]:
    """A new active user; without ``password`` a one-time password is generated and returned (shown once),
    and the user must change it at first login."""
    if not USERNAME_RE.match(username):
        raise IdentityError(f"username {username!r} must match {USERNAME_RE.pattern}")
    if not display_name.strip():
        raise IdentityError("a display name is required")
    generated = None if password is not None else one_time_password()
    if password is not None:
        check_policy(password, username)
    user = User(username=username, display_name=display_name.strip(), email=(email or "").strip() or None,
                password_hash=hash_password(password or generated), active=True,
                must_change_password=generated is not None, failed_login_count=0)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise IdentityError(f"user {username!r} already exists") from None
    return user, generated


@requires(_MANAGE, allow_system=True)
def reset_password(session: Session, username: str) -> str:
    """A new one-time password (returned, shown once); the user must change it, and any lockout is lifted."""
    user = get_user(session, username)
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_login_count = 0
    user.locked_until = None
    session_store.end_all(session, user.id, "password_reset")
    session.flush()
    return password


@requires(_MANAGE, allow_system=True)
def grant(session: Session, username: str, role: str, tenant_slug: str | None = None, *,
          tenant_db: Session | None = None) -> Membership:
    """Give ``username`` role ``role``: a standard role (its context decides whether a tenant is named) or an
    active custom role of ``tenant_slug``, read through ``tenant_db`` when given (a session bound to that bank).
    Granting a role already held is a no-op."""
    user = get_user(session, username)
    context, tenant = _resolve(session, role, tenant_slug, tenant_db=tenant_db)
    existing = session.scalar(_membership_query(user, context, tenant, role))
    if existing is not None:
        return existing
    membership = Membership(user=user, context=context.value, tenant_id=tenant.id if tenant else None, role=role)
    session.add(membership)
    session.flush()
    return membership


@requires(_MANAGE, allow_system=True)
def revoke(session: Session, username: str, role: str, tenant_slug: str | None = None) -> None:
    """Take role ``role`` (in ``tenant_slug``) from ``username``; ``IdentityError`` if they do not hold it."""
    user = get_user(session, username)
    context, tenant = _resolve(session, role, tenant_slug, custom_must_be_active=False)
    membership = session.scalar(_membership_query(user, context, tenant, role))
    if membership is None:
        where = f" in tenant {tenant_slug!r}" if tenant_slug else ""
        raise IdentityError(f"user {username!r} does not hold role {role!r}{where}")
    session.execute(delete(Membership).where(Membership.id == membership.id))
    # Sessions acting where the role was held end at once (another role there would need a fresh login).
    session_store.end_all(session, user.id, "role_revoked", context=context, tenant_id=tenant.id if tenant else None)
    session.flush()


@requires(_MANAGE, allow_system=True)
def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user with their memberships, for listings (no password material)."""
    users = session.scalars(select(User).options(selectinload(User.memberships).selectinload(Membership.tenant))
                            .order_by(User.username))
    return [{
        "username": u.username, "display_name": u.display_name, "email": u.email, "active": u.active,
        "must_change_password": u.must_change_password,
        "memberships": sorted(({"role": m.role, "context": m.context, "tenant": m.tenant.slug if m.tenant else None}
                               for m in u.memberships), key=lambda m: (m["context"], m["tenant"] or "", m["role"])),
    } for u in users]


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise IdentityError(f"no user {username!r}")
    return user


def _resolve(session: Session, role: str, tenant_slug: str | None, *, custom_must_be_active: bool = True,
             tenant_db: Session | None = None) -> tuple[Context, Tenant | None]:
    standard = STANDARD_ROLES.get(role)
    if standard is not None and standard.context is not Context.TENANT:
        if tenant_slug is not None:
            raise IdentityError(f"role {role!r} belongs to the {standard.context.label_en}; it takes no --tenant")
        return standard.context, None
    if tenant_slug is None:
        if standard is None:
            raise IdentityError(f"unknown role {role!r}; standard roles: {', '.join(STANDARD_ROLES)}")
        raise IdentityError(f"role {role!r} is a village-bank role: name the tenant")
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None or tenant.status not in {s.value for s in STATUSES_WITH_SCHEMA}:
        raise IdentityError(f"no village bank {tenant_slug!r} with a schema is registered")
    if standard is None and custom_must_be_active and not _is_active_custom_role(tenant_slug, role,
                                                                                            tenant_db):
        raise IdentityError(f"unknown role {role!r}: neither a standard role nor an active custom role of "
                            f"tenant {tenant_slug!r}")
    return Context.TENANT, tenant


def _is_active_custom_role(tenant_slug: str, role: str, tenant_db: Session | None) -> bool:
    if tenant_db is not None:
        if tenant_db.info["tenant"].slug != tenant_slug:
            raise IdentityError(f"the session given is bound to another tenant than {tenant_slug!r}")
        found = tenant_db.get(CustomRole, role)
    else:
        with tenant_session(directory.get(tenant_slug)) as own:
            found = own.get(CustomRole, role)
    return found is not None and found.status == CustomRoleStatus.ACTIVE.value


def _membership_query(user: User, context: Context, tenant: Tenant | None, role: str):
    return select(Membership).where(Membership.user_id == user.id, Membership.context == context.value,
                                    Membership.role == role,
                                    Membership.tenant_id.is_(None) if tenant is None
                                    else Membership.tenant_id == tenant.id)
