"""OAuth clients and their access tokens (shared tables: a token names its tenant, it does not live in it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...db import SharedBase
from ...tenancy.models import Tenant
from ..permissions import Context
from . import hashing

_CONTEXTS = "context IN (" + ", ".join(repr(c.value) for c in Context) + ")"
_TENANT_RULE = "(context = 'tenant') = (tenant_id IS NOT NULL)"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OAuthClient(SharedBase):
    """A machine client (接入系统): a village bank's system, a head-office service or a regulator's collector."""

    __tablename__ = "oauth_client"
    __table_args__ = (CheckConstraint(_CONTEXTS, name="context"),
                      CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the secret (see ``hashing``); the secret itself is shown once at creation.
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True,
                                                  index=True)
    #: Space-separated scope codes the client may be granted (``identity.scopes``).
    scope: Mapped[str] = mapped_column(Text)
    #: Space-separated grant types the client may use.
    grant_types: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    tenant: Mapped[Tenant | None] = relationship(lazy="joined")

    # --- Authlib's ClientMixin ---------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # With no scope asked for, a client gets all of its own; narrowing a request it may not make is refused
        # earlier (grants.ClientCredentialsGrant), never silently.
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hashing.matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Confidential clients only: HTTP Basic (RFC 6749 section 2.3.1 says servers MUST support it) or the body.
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types.split()

    @property
    def tenant_slug(self) -> str | None:
        return self.tenant.slug if self.tenant is not None else None


class OAuthToken(SharedBase):
    """A bearer access token, stored as the SHA-256 of the token, bound to its client's tenant or context."""

    __tablename__ = "oauth_token"
    __table_args__ = (CheckConstraint(_CONTEXTS, name="context"),
                      CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey(OAuthClient.id, ondelete="CASCADE"), index=True)
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    expires_in: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    tenant: Mapped[Tenant | None] = relationship(lazy="joined")

    @property
    def expires_at(self) -> dt.datetime:
        return self.issued_at + dt.timedelta(seconds=self.expires_in)

    @property
    def tenant_slug(self) -> str | None:
        return self.tenant.slug if self.tenant is not None else None

    # --- Authlib's TokenMixin ----------------------------------------------------------------
    def check_client(self, client: OAuthClient) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return _utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        # A revoked client's tokens die with it, without a write to every token.
        return self.revoked_at is not None or self.client.revoked_at is not None
