"""OAuth clients, their tokens and authorization codes (shared tables: a token names its tenant, it does not live in it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...db import SharedBase
from ...tenancy.models import Tenant
from ..models import User
from ..permissions import Context
from . import hashing

_CONTEXTS = "context IN (" + ", ".join(repr(c.value) for c in Context) + ")"
_TENANT_RULE = "(context = 'tenant') = (tenant_id IS NOT NULL)"

#: The grants a client may be registered for: a machine acting as itself, or an app acting for a logged-in user.
CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
#: Seconds an authorization code lives: the app exchanges it at once, and a leaked code must not stay useful.
AUTHORIZATION_CODE_LIFETIME = 60


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OAuthClient(SharedBase):
    """A client (接入系统): a machine acting as itself (a village bank's system, a head-office service, a regulator's
    collector), or an app staff log in to (the mobile field app), acting for them through the authorization code."""

    __tablename__ = "oauth_client"
    __table_args__ = (CheckConstraint(_CONTEXTS, name="context"),
                      CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the secret (see ``hashing``); the secret itself is shown once at creation. None for a public client
    #: (an app installed on phones cannot keep a secret): PKCE then proves the code's requester (RFC 7636).
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True,
                                                  index=True)
    #: Space-separated scope codes the client may be granted (``identity.scopes``).
    scope: Mapped[str] = mapped_column(Text)
    #: Space-separated grant types the client may use.
    grant_types: Mapped[str] = mapped_column(Text)
    #: Space-separated redirect URIs, compared exactly (RFC 9700 section 4.1.3); empty for machine clients.
    redirect_uris: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    tenant: Mapped[Tenant | None] = relationship(lazy="joined")

    # --- Authlib's ClientMixin ---------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # Every authorization request names its redirect URI, so a client with several never gets a surprise one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # With no scope asked for, a client gets all of its own; narrowing a request it may not make is refused
        # earlier (grants.ClientCredentialsGrant), never silently.
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match: no prefix or pattern lets a code travel to a page the client did not register.
        return redirect_uri in self.redirect_uris.split()

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and hashing.matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A public client names itself only ("none"); a confidential one must prove its secret, by HTTP Basic
        # (RFC 6749 section 2.3.1 says servers MUST support it) or in the body, and may never fall back to "none".
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type(AUTHORIZATION_CODE)

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types.split()

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    @property
    def tenant_slug(self) -> str | None:
        return self.tenant.slug if self.tenant is not None else None


class OAuthToken(SharedBase):
    """A bearer access token, stored as the SHA-256 of the token, bound to a tenant or context; with the
    authorization code also a user and a refresh token (its SHA-256 too) of a rotation family."""

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
    #: Revokes the access token and its refresh token together: rotation, reuse detection and RFC 7009 all do.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The user the token acts for (authorization code); None for a machine acting as itself.
    user_id: Mapped[int | None] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), nullable=True, index=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    refresh_expires_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Every token rotated from one authorization shares its family: a rotated refresh token presented again
    #: revokes them all, since either the client or a thief holds a copy (RFC 6819 section 5.2.2.3).
    family: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    tenant: Mapped[Tenant | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def expires_at(self) -> dt.datetime:
        return self.issued_at + dt.timedelta(seconds=self.expires_in)

    def is_refresh_token_expired(self) -> bool:
        return (self.refresh_expires_in is None
                or _utcnow() >= self.issued_at + dt.timedelta(seconds=self.refresh_expires_in))

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


class OAuthAuthorizationCode(SharedBase):
    """An authorization code (RFC 6749 section 4.1) waiting to be exchanged, stored as its SHA-256: bound to the
    user, the session's tenant or context, the client, the redirect URI and the PKCE challenge; deleted on use."""

    __tablename__ = "oauth_authorization_code"
    __table_args__ = (CheckConstraint(_CONTEXTS, name="context"),
                      CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"),
                      CheckConstraint("code_challenge_method = 'S256'", name="pkce_s256"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey(OAuthClient.id, ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    context: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey(Tenant.id, ondelete="CASCADE"), nullable=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    # --- Authlib's AuthorizationCodeMixin ----------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return _utcnow() >= self.issued_at + dt.timedelta(seconds=AUTHORIZATION_CODE_LIFETIME)
