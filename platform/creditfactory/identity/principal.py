"""Who acts: the ``Principal`` (行为主体) of a request, job or command, and the context variable that holds it."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import tenant_session
from ..tenancy.models import Tenant
from ..tenancy.registry import directory
from .errors import AccessDenied
from .models import CustomRole, CustomRoleStatus, Membership, User
from .permissions import Context, Permission
from .roles import STANDARD_ROLES


@dataclass(frozen=True)
class Principal:
    """A user, or a machine client (OAuth), acting in exactly one context: one village bank, the head office or
    a regulator."""

    #: None for a machine client, whose ``username`` and ``client_id`` are its OAuth client id.
    user_id: int | None
    username: str
    context: Context
    #: The village bank acted for; None in the head-office and regulator contexts.
    tenant_slug: str | None
    permissions: frozenset[Permission]
    roles: frozenset[str]
    #: The OAuth client acting, for a machine client; None for a person.
    client_id: str | None = None

    def __post_init__(self) -> None:
        if (self.context is Context.TENANT) != (self.tenant_slug is not None):
            raise ValueError("a principal names a tenant exactly when it acts in the tenant context")

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def acting_for(self) -> str:
        """For messages: ``tenant 'puer'`` or ``the head office``."""
        return f"tenant {self.tenant_slug!r}" if self.tenant_slug else f"the {self.context.label_en}"


_current: ContextVar[Principal | None] = ContextVar("creditfactory_principal", default=None)


class CurrentPrincipal:
    """The principal bound to this request, job or command."""

    @staticmethod
    def get() -> Principal:
        principal = _current.get()
        if principal is None:
            raise AccessDenied("no authenticated user is acting here")
        return principal

    @staticmethod
    def get_or_none() -> Principal | None:
        return _current.get()

    @staticmethod
    @contextmanager
    def bind(principal: Principal) -> Iterator[Principal]:
        """Bind ``principal`` for the enclosed block; a unit of work never changes who acts in it."""
        outer = _current.get()
        if outer is not None and outer != principal:
            raise AccessDenied(f"{outer.username!r} is already acting for {outer.acting_for}; "
                               f"refusing to switch to {principal.username!r} acting for {principal.acting_for}")
        token = _current.set(principal)
        try:
            yield principal
        finally:
            _current.reset(token)


class Person(Protocol):
    """What ``load_principal`` reads of a user: a ``User`` row, or a bearer token's ``TokenUser``."""

    id: int
    username: str
    active: bool


def load_principal(shared: Session, user: User | Person, context: Context, tenant_slug: str | None = None, *,
                   tenant_db: Session | None = None) -> Principal:
    """The principal ``user`` is when acting in ``context`` (and for ``tenant_slug``), from their memberships.

    Custom roles are read from the village bank's own schema, through ``tenant_db`` when given (a session bound
    to that bank), else through a new session. ``AccessDenied`` when the user holds no role there.
    """
    if not user.active:
        raise AccessDenied(f"user {user.username!r} is deactivated")
    if (context is Context.TENANT) != (tenant_slug is not None):
        raise AccessDenied(f"the {context.label_en} context {'needs' if context is Context.TENANT else 'takes no'} "
                           "tenant")
    query = select(Membership.role).where(Membership.user_id == user.id, Membership.context == context.value)
    if tenant_slug is not None:
        query = query.join(Tenant, Tenant.id == Membership.tenant_id).where(Tenant.slug == tenant_slug)
    roles = frozenset(shared.scalars(query))
    where = f"tenant {tenant_slug!r}" if tenant_slug else f"the {context.label_en}"
    if not roles:
        raise AccessDenied(f"user {user.username!r} holds no role in {where}")
    permissions: set[Permission] = set()
    custom = roles - STANDARD_ROLES.keys()
    for code in roles & STANDARD_ROLES.keys():
        role = STANDARD_ROLES[code]
        # A standard role held in the wrong context grants nothing there (the CLI never creates one).
        if role.context is context:
            permissions |= role.permissions
    if custom and tenant_slug is not None:
        permissions |= _custom_role_permissions(tenant_slug, custom, tenant_db)
    return Principal(user.id, user.username, context, tenant_slug, frozenset(permissions), roles)


def _custom_role_permissions(tenant_slug: str, codes: frozenset[str], tenant_db: Session | None) -> set[Permission]:
    query = select(CustomRole.permissions).where(CustomRole.code.in_(codes),
                                                CustomRole.status == CustomRoleStatus.ACTIVE.value)
    if tenant_db is not None:
        if tenant_db.info["tenant"].slug != tenant_slug:
            raise AccessDenied(f"the session given is bound to another tenant than {tenant_slug!r}")
        rows = list(tenant_db.scalars(query))
    else:
        with tenant_session(directory.get(tenant_slug)) as own:
            rows = list(own.scalars(query))
    # Only village-bank permissions count, even if a stored row were edited by hand.
    return {p for codes_ in rows for p in map(Permission.parse, codes_) if p.context is Context.TENANT}
