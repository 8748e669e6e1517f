"""Server-side record of portal sessions (登录会话): what lets a session end before its cookie expires.

The cookie keeps a random session id next to the login data; this table keeps its SHA-256 with the user, context,
device (user agent), address and times. Every request checks the row, so ending it — logout, a password change or
reset, a lock, a revoked role, "log out everywhere", the revoke button on the profile page — ends the session at
once in every browser holding a copy of the cookie. Functions flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import settings as settings_module
from ..tenancy.models import Tenant
from .models import StaffSession
from .oauth import hashing
from .permissions import Context

#: A request refreshes ``seen_at`` in the table at most this often: the cookie carries the exact idle clock,
#: the table only needs it for the profile page's list.
TOUCH_SECONDS = 60


def open_session(shared: Session, user_id: int, context: Context, tenant_slug: str | None, *, now: dt.datetime,
                 ip: str | None, user_agent: str | None) -> str:
    """Record a new session and return its id (the cookie's; only its hash is stored)."""
    token = hashing.new_secret()
    tenant_id = shared.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug)) if tenant_slug else None
    shared.add(StaffSession(token_hash=hashing.digest(token), user_id=user_id, context=context.value,
                            tenant_id=tenant_id, created_at=now, seen_at=now, ip=(ip or "")[:64] or None,
                            user_agent=(user_agent or "")[:300] or None))
    shared.flush()
    return token


def find_live(shared: Session, token: str | None) -> StaffSession | None:
    """The unended session of ``token``, or None (unknown, ended, or no token at all)."""
    if not token:
        return None
    return shared.scalar(select(StaffSession).where(StaffSession.token_hash == hashing.digest(token),
                                                    StaffSession.ended_at.is_(None)))


def touch(row: StaffSession, now: dt.datetime) -> None:
    if (now - row.seen_at).total_seconds() >= TOUCH_SECONDS:
        row.seen_at = now


def end_token(shared: Session, token: str | None, reason: str, now: dt.datetime) -> None:
    """End the session of ``token`` (logout, expiry)."""
    if token:
        shared.execute(update(StaffSession).where(StaffSession.token_hash == hashing.digest(token),
                                                  StaffSession.ended_at.is_(None))
                       .values(ended_at=now, end_reason=reason))
        shared.flush()


def end_all(shared: Session, user_id: int, reason: str, *, now: dt.datetime | None = None,
            keep_token: str | None = None, context: Context | None = None, tenant_id: int | None = None) -> int:
    """End every live session of the user (optionally only those acting in ``context``/``tenant_id``, and all but
    ``keep_token``); returns how many ended."""
    query = update(StaffSession).where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
    if keep_token:
        query = query.where(StaffSession.token_hash != hashing.digest(keep_token))
    if context is not None:
        query = query.where(StaffSession.context == context.value)
        if context is Context.TENANT:
            query = query.where(StaffSession.tenant_id == tenant_id)
    ended = shared.execute(query.values(ended_at=now or dt.datetime.now(dt.timezone.utc), end_reason=reason)).rowcount
    shared.flush()
    return ended


def end_one(shared: Session, user_id: int, session_id: int, reason: str, now: dt.datetime) -> bool:
    """End one of the user's own sessions (the profile page's revoke button); False if none such is live."""
    ended = shared.execute(update(StaffSession).where(StaffSession.id == session_id,
                                                      StaffSession.user_id == user_id,
                                                      StaffSession.ended_at.is_(None))
                           .values(ended_at=now, end_reason=reason)).rowcount
    shared.flush()
    return bool(ended)


def live_sessions(shared: Session, user_id: int, now: dt.datetime) -> list[StaffSession]:
    """The user's sessions that are neither ended nor past their idle or absolute expiry, newest first."""
    settings = settings_module.get()
    idle = now - dt.timedelta(minutes=settings.session_idle_minutes)
    absolute = now - dt.timedelta(hours=settings.session_absolute_hours)
    # seen_at lags the cookie by up to TOUCH_SECONDS, so the idle cut-off allows for it.
    return list(shared.scalars(select(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.ended_at.is_(None),
        StaffSession.seen_at > idle - dt.timedelta(seconds=TOUCH_SECONDS), StaffSession.created_at > absolute)
        .order_by(StaffSession.created_at.desc())))


def token_of(token: str) -> str:
    return hashing.digest(token)
