"""Users and memberships (shared), custom roles and configuration change requests (per village bank)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import SharedBase, TenantBase
from ..tenancy.models import Tenant
from .permissions import Context

_JSONB = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class User(SharedBase):
    """A person who logs in once (用户); what they may do comes from their memberships."""

    # "user" is a reserved word in PostgreSQL; a plain name keeps raw SQL and psql sessions simple.
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    #: argon2id PHC string (``$argon2id$v=19$m=...``): parameters travel with the hash, so they can be raised later.
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Shown on the profile page, so a user notices a login that was not theirs.
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: TOTP secret sealed with the master key (``identity/totp.py``); set from the start of enrolment, so a
    #: reloaded enrolment page keeps showing the secret already typed into the app.
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: When the first code confirmed the enrolment; None while the second factor is not in use.
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The 30-second time step of the last accepted code: a code seen once (shoulder-surfed, phished) never counts
    #: again.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Set by ``users reset-totp``: the next login enrols a new app even where the second factor is optional.
    totp_must_enrol: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                           passive_deletes=True)


class Membership(SharedBase):
    """A role a user holds in one village bank, in the head office or as a regulator (任职/授权)."""

    __tablename__ = "membership"
    __table_args__ = (
        CheckConstraint(_one_of("context", (c.value for c in Context)), name="context"),
        # A village-bank role names its bank; head-office and regulator roles name none.
        CheckConstraint("(context = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_for_tenant_context"),
        # NULLS NOT DISTINCT: a head-office role (no tenant) can be held only once too.
        UniqueConstraint("user_id", "context", "tenant_id", "role", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No separate index on user_id: the unique constraint leads with it.
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"))
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True,
                                                  index=True)
    #: A standard role code, or (in a village bank) one of that bank's custom roles.
    role: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant: Mapped[Tenant | None] = relationship()


class CustomRoleStatus(str, enum.Enum):
    #: Proposed by a maker and not yet approved: the code is reserved, the role grants nothing.
    PENDING = "pending"
    ACTIVE = "active"


class CustomRole(TenantBase):
    """A village bank's own role (自定义角色), built only from village-bank permissions."""

    __tablename__ = "custom_role"
    __table_args__ = (CheckConstraint(_one_of("status", (s.value for s in CustomRoleStatus)), name="status"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: Permission codes, validated against the registry whenever a change is approved.
    permissions: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    status: Mapped[str] = mapped_column(String(20), default=CustomRoleStatus.PENDING.value)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class ChangeStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"


class ChangeRequest(TenantBase):
    """A proposed change to lending configuration awaiting a second person (双人复核, maker-checker)."""

    __tablename__ = "change_request"
    __table_args__ = (
        CheckConstraint(_one_of("status", (s.value for s in ChangeStatus)), name="status"),
        CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="checker_is_not_maker"),
        # One open request per target: a checker never approves a change already overtaken by another.
        Index("ix_change_request_open_target", "kind", "target", unique=True,
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(_JSONB)
    status: Mapped[str] = mapped_column(String(20), default=ChangeStatus.PENDING.value)
    # Users live in cf_shared; tenant tables keep only their ids (no foreign key leaves the tenant schema
    # except to small reference tables, which keeps schemas movable between clusters).
    maker_id: Mapped[int] = mapped_column(Integer)
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    checker_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class StaffSession(SharedBase):
    """A portal login, recorded server-side (登录会话) so it can be ended before its cookie expires: by logout, a
    password change or reset, a lock, a role revocation, or "log out everywhere". The cookie holds only a random
    id; its SHA-256 is stored here, so a database dump hands out no live session."""

    __tablename__ = "staff_session"
    __table_args__ = (
        CheckConstraint(_one_of("context", (c.value for c in Context)), name="context"),
        CheckConstraint("(context = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_for_tenant_context"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: When and why it ended (``logout``, ``revoked``, ``password``, ``locked``, ``role``, ``everywhere``, ...).
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    tenant: Mapped[Tenant | None] = relationship(lazy="joined")


class RecoveryCode(SharedBase):
    """A one-time TOTP recovery code (备用恢复码) for a lost phone, stored as its SHA-256: each code carries 80
    random bits, so a fast hash is enough against a stolen table, and checking ten costs nothing."""

    __tablename__ = "totp_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
