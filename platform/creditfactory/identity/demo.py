"""Demo staff for ``creditfactory up --demo`` (演示账号): never created without ``--demo``.

For every demo village bank one user per standard village-bank role (``<slug>.<role>``, e.g. ``puer.loan_officer``),
plus, because some work needs more than one person of a role, ``<slug>.credit_committee_member2`` and ``…3`` (a
credit committee needs three voting members) and ``<slug>.operations2`` (a 双录 recording is quality-checked by
someone other than who recorded it), a head-office platform administrator (``demo.platform_admin``) and a regulator
(``demo.regulator``), all with the documented password ``DEMO_PASSWORD``. Running it again creates only what is
missing and grants only what is not held: it never resets a password a demo user has since changed. Administrators
and the regulator still enrol an authenticator app at their first login, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .authorization import requires
from .models import User
from .passwords import hash_password
from .permissions import Context, Permission
from .roles import STANDARD_ROLES
from .services import USERNAME_RE, grant

#: The password of every demo user; printed at startup and in the README. Demo data only.
DEMO_PASSWORD = "credit-factory-demo"
HEAD_OFFICE_USERS = (("demo.platform_admin", "platform_admin", "演示平台管理员"),
                     ("demo.regulator", "regulator", "演示监管人员"))
#: Second and third holders of a bank role, as (username suffix, role): ``<slug>.<suffix>``.
EXTRA_BANK_USERS = (("credit_committee_member2", "credit_committee_member"),
                    ("credit_committee_member3", "credit_committee_member"),
                    ("operations2", "operations"))


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    tenant_slug: str | None
    created: bool


@requires(Permission.PLATFORM_USER_MANAGE, allow_system=True)
def ensure_demo_staff(session: Session, tenant_slugs: list[str]) -> list[DemoUser]:
    """Create the demo staff of ``tenant_slugs`` and the head office where missing; returns every demo user.
    Needs a ``SystemContext`` or ``platform.user.manage``; flushes, the caller commits.

    The demo password is hashed once for all of them (argon2 costs ~0.1 s per hash; thirty-odd hashes would hold up
    the demo's start): the users share a published password anyway, so one salt reveals nothing more."""
    wanted = [(username, role, None, name) for username, role, name in HEAD_OFFICE_USERS]
    for slug in tenant_slugs:
        for code, role in STANDARD_ROLES.items():
            if role.context is Context.TENANT:
                wanted.append((f"{slug}.{code}", code, slug, f"{role.name_zh}（演示）"))
        for suffix, code in EXTRA_BANK_USERS:
            wanted.append((f"{slug}.{suffix}", code, slug, f"{STANDARD_ROLES[code].name_zh}{suffix[-1]}（演示）"))
    done = []
    shared_hash = None
    for username, role, slug, name in wanted:
        exists = session.scalar(select(User.id).where(User.username == username)) is not None
        if not exists:
            assert USERNAME_RE.match(username), username
            shared_hash = shared_hash or hash_password(DEMO_PASSWORD)
            session.add(User(username=username, display_name=name, password_hash=shared_hash, active=True,
                             must_change_password=False, failed_login_count=0))
            session.flush()
        grant(session, username, role, slug)
        done.append(DemoUser(username, role, slug, not exists))
    return done
