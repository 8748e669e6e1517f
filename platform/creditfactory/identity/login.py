"""Staff login (登录): password check with uniform work for unknown users, lockout after repeated failures.

Every failure — unknown user, wrong password, locked or deactivated account — raises the same ``LoginFailed``
with the same message after the same argon2 work, so neither the answer nor its timing tells an attacker which
usernames exist or which accounts are locked.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from .. import settings as settings_module
from . import clock, session_store
from .errors import AccessDenied, IdentityError
from .models import Membership, User
from .passwords import MAX_LENGTH, check_policy, hash_password, verify_password
from .permissions import Context
from .principal import Principal, load_principal

#: The one message of every failed login, in English; the portal shows its translation.
FAILED = "The username or password is incorrect, or the account is locked for a while."


class LoginFailed(Exception):
    """The login is refused; deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__(FAILED)


class WrongCurrentPassword(IdentityError):
    """A password change named the wrong current password."""


class SamePassword(IdentityError):
    """A password change would keep the current password (a forced change must really change it)."""


@dataclass(frozen=True)
class Login:
    """A successful login: who, acting as which principal, and when they last logged in before this one.

    ``principal`` is None only for a login at the root whose person must first choose where to act
    (``places``, the context picker)."""

    user: User
    principal: Principal | None
    previous_login_at: dt.datetime | None


@dataclass(frozen=True)
class Place:
    """Somewhere a person may act: a village bank (its slug and names), the head office, or as a regulator."""

    context: Context
    tenant_slug: str | None = None
    name_zh: str = ""
    name_en: str = ""

    @property
    def key(self) -> str:
        return f"tenant:{self.tenant_slug}" if self.tenant_slug else self.context.value


def places(shared: Session, user: User) -> list[Place]:
    """Every place the user holds a role in, head office and regulator first, then the serving village banks by
    slug. A suspended or offboarded bank is not offered."""
    from ..tenancy.models import Tenant

    rows = shared.execute(select(Membership.context, Tenant.slug, Tenant.name_zh, Tenant.name_en, Tenant.status)
                          .outerjoin(Tenant, Tenant.id == Membership.tenant_id)
                          .where(Membership.user_id == user.id).distinct())
    found = {}
    for context, slug, name_zh, name_en, status in rows:
        if slug is not None and status != "active":
            continue
        place = Place(Context(context), slug, name_zh or "", name_en or "")
        found[place.key] = place
    order = {Context.HEAD_OFFICE: 0, Context.REGULATOR: 1, Context.TENANT: 2}
    return sorted(found.values(), key=lambda p: (order[p.context], p.tenant_slug or ""))


@functools.cache
def _dummy_hash() -> str:
    # Hashed with the current parameters, so verifying against it costs what a real user's check costs.
    return hash_password("not a password: uniform work for unknown usernames")


def login_context(shared: Session, user: User, tenant_slug: str | None) -> Context:
    """The context a login acts in: the village bank the login page belongs to, else the head office, else the
    regulator (a person holding both non-bank roles acts for the head office at the root login)."""
    if tenant_slug is not None:
        return Context.TENANT
    held = set(shared.scalars(select(Membership.context).where(Membership.user_id == user.id)))
    return Context.REGULATOR if Context.HEAD_OFFICE.value not in held and Context.REGULATOR.value in held \
        else Context.HEAD_OFFICE


def is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def record_failure(user: User, now: dt.datetime) -> None:
    """Count a failed password or second-factor check; lock the account after ``login_max_failures`` in a row.

    Failures while locked do not extend the lock, so an attacker cannot keep a person locked out for ever.
    """
    if is_locked(user, now):
        return
    settings = settings_module.get()
    user.failed_login_count += 1
    if user.failed_login_count >= settings.login_max_failures:
        user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
        user.failed_login_count = 0
        # A lock also ends the sessions already open: whoever is guessing may be racing a stolen cookie.
        shared = object_session(user)
        if shared is not None:
            session_store.end_all(shared, user.id, "locked", now=now)


def authenticate(shared: Session, username: str, password: str, tenant_slug: str | None, *,
                 choose: bool = False) -> Login:
    """Check ``username``/``password`` for a login into ``tenant_slug`` (None: head office or regulator).

    With ``choose`` (the root login page), a person who may act in several places — or only in village banks —
    gets a ``Login`` without principal: they pick the place next (``places``). One place only is taken at once.

    Counts failures and locks the account after ``login_max_failures`` in a row for ``login_lockout_minutes``;
    a success resets the count, records the login time and upgrades an outdated hash. Flushes; the caller commits,
    failures included (the count must survive the refusal). Raises ``LoginFailed``.
    """
    now = clock.now()
    user = shared.scalar(select(User).where(User.username == username.strip().lower()).with_for_update()) \
        if username.strip() and len(password) <= MAX_LENGTH else None
    if user is None:
        verify_password(_dummy_hash(), password[:MAX_LENGTH])
        raise LoginFailed()
    ok, new_hash = verify_password(user.password_hash, password)
    locked = is_locked(user, now)
    if not ok:
        record_failure(user, now)
        shared.flush()
        raise LoginFailed()
    if locked or not user.active:
        raise LoginFailed()
    try:
        principal = None
        if choose and tenant_slug is None:
            offered = places(shared, user)
            if not offered:
                raise AccessDenied("no role anywhere")
            if len(offered) == 1:
                principal = load_principal(shared, user, offered[0].context, offered[0].tenant_slug)
        else:
            principal = load_principal(shared, user, login_context(shared, user, tenant_slug), tenant_slug)
    except AccessDenied:
        # No role here: the same answer as a wrong password, so memberships are not revealed either.
        raise LoginFailed() from None
    previous = user.last_login_at
    user.failed_login_count, user.locked_until, user.last_login_at = 0, None, now
    if new_hash is not None:
        user.password_hash = new_hash
    shared.flush()
    return Login(user, principal, previous)


def change_password(shared: Session, user: User, current: str, new: str, *, keep_session: str | None = None) -> None:
    """Replace the user's password after checking the current one and the policy; clears a forced change, and
    ends every other session of the user (all but ``keep_session``, the one making the change).

    ``WrongCurrentPassword``, ``WeakPassword`` or ``SamePassword`` says what is wrong; flushes, the caller commits.
    """
    ok, _ = verify_password(user.password_hash, current)
    if not ok:
        raise WrongCurrentPassword("the current password is incorrect")
    check_policy(new, user.username)
    if verify_password(user.password_hash, new)[0]:
        raise SamePassword("the new password must differ from the current one")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session_store.end_all(shared, user.id, "password", keep_token=keep_session)
    shared.flush()
