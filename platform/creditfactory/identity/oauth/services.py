"""Registering and revoking OAuth clients; reserved to the head office's ``platform.user.manage`` or the CLI."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...audit import record
from ...tenancy.models import Tenant
from ..authorization import requires
from ..errors import IdentityError
from ..permissions import Context, Permission
from ..scopes import Scope
from . import hashing
from .models import OAuthClient

#: The grant this release implements; authorization code with PKCE and refresh tokens are not built yet.
CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class IssuedClient:
    """A new client with its secret in clear: handed out once, never stored."""

    client: OAuthClient
    client_secret: str


@requires(Permission.PLATFORM_USER_MANAGE, allow_system=True)
def create_client(session: Session, name: str, scope: str, *, context: Context = Context.TENANT,
                  tenant_slug: str | None = None) -> IssuedClient:
    """A machine client acting for ``tenant_slug`` (village-bank context) or for the head office or a regulator,
    allowed ``scope`` (space-separated codes of that context). ``IdentityError`` on bad input, nothing changed."""
    if not name.strip():
        raise IdentityError("a client name is required")
    if (context is Context.TENANT) != (tenant_slug is not None):
        raise IdentityError(f"a {context.label_en} client {'names' if context is Context.TENANT else 'takes no'} "
                            "tenant")
    try:
        scopes = Scope.parse_list(scope, context)
    except ValueError as exc:
        raise IdentityError(str(exc)) from None
    tenant = None
    if tenant_slug is not None:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise IdentityError(f"no village bank {tenant_slug!r} is registered")
    secret = hashing.new_secret()
    client = OAuthClient(client_id="cf_" + secrets.token_urlsafe(18), secret_hash=hashing.digest(secret),
                         name=name.strip(), context=context.value, tenant_id=tenant.id if tenant else None,
                         scope=" ".join(s.code for s in scopes), grant_types=CLIENT_CREDENTIALS)
    session.add(client)
    session.flush()
    record(session, "oauth.client.create", object_type="oauth_client", object_id=client.client_id,
           after={"name": client.name, "context": client.context, "tenant": tenant_slug, "scope": client.scope})
    return IssuedClient(client, secret)


@requires(Permission.PLATFORM_USER_MANAGE, allow_system=True)
def revoke_client(session: Session, client_id: str) -> OAuthClient:
    """Revoke a client: it gets no new tokens, and every token it holds stops working at once."""
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise IdentityError(f"no OAuth client {client_id!r}")
    if client.revoked_at is not None:
        raise IdentityError(f"OAuth client {client_id!r} is already revoked")
    client.revoked_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    record(session, "oauth.client.revoke", object_type="oauth_client", object_id=client.client_id,
           before={"revoked": False}, after={"revoked": True})
    return client
