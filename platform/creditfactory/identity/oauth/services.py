"""Registering and revoking OAuth clients; reserved to the head office's ``platform.user.manage`` or the CLI."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...audit import record
from ...tenancy.models import Tenant
from ..authorization import requires
from ..errors import IdentityError
from ..permissions import Context, Permission
from ..scopes import Scope
from . import hashing
from .models import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN, OAuthClient

#: Hosts a native app may redirect to over plain HTTP: its own loopback listener (RFC 8252 section 7.3). Not
#: "localhost", which a hostile resolver or hosts file may point elsewhere (section 8.3).
_LOOPBACK = {"127.0.0.1", "::1"}


@dataclass(frozen=True)
class IssuedClient:
    """A new client with its secret in clear: handed out once, never stored (None for a public client)."""

    client: OAuthClient
    client_secret: str | None


def check_redirect_uri(uri: str) -> str:
    """``uri`` if an app may register it; else ``IdentityError``. HTTPS, a loopback address over HTTP, or a
    native app's private-use scheme in reverse domain notation (RFC 8252 sections 7.1 and 7.3); never a fragment,
    since the code is appended as a query."""
    parts = urlsplit(uri)
    if parts.fragment or " " in uri:
        raise IdentityError(f"redirect URI {uri!r} must have no fragment or spaces")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return uri
    if "." in parts.scheme and parts.scheme not in ("http", "https") and not parts.netloc:
        return uri
    raise IdentityError(f"redirect URI {uri!r} must be https://…, http://127.0.0.1…, or an app scheme such as "
                        "cn.creditfactory.field:/oauth")


@requires(Permission.PLATFORM_USER_MANAGE, allow_system=True)
def create_client(session: Session, name: str, scope: str, *, context: Context = Context.TENANT,
                  tenant_slug: str | None = None, redirect_uris: tuple[str, ...] = (),
                  public: bool = False) -> IssuedClient:
    """A client acting for ``tenant_slug`` (village-bank context) or for the head office or a regulator, allowed
    ``scope`` (space-separated codes of that context). ``IdentityError`` on bad input, nothing changed.

    Without ``redirect_uris`` a machine client (client credentials); with them an app staff log in to
    (authorization code with PKCE, refresh tokens), which is ``public`` when it cannot keep a secret.
    """
    if not name.strip():
        raise IdentityError("a client name is required")
    if (context is Context.TENANT) != (tenant_slug is not None):
        raise IdentityError(f"a {context.label_en} client {'names' if context is Context.TENANT else 'takes no'} "
                            "tenant")
    try:
        scopes = Scope.parse_list(scope, context)
    except ValueError as exc:
        raise IdentityError(str(exc)) from None
    machine_only = [s.code for s in scopes if s.user_only and not redirect_uris]
    if machine_only:
        raise IdentityError(f"scope {', '.join(machine_only)} is only for apps staff log in to (give redirect URIs): "
                            "a machine client never approves, votes or reads personal data in clear")
    if public and not redirect_uris:
        raise IdentityError("a public client is an app users log in to: it needs at least one redirect URI")
    uris = tuple(dict.fromkeys(check_redirect_uri(uri) for uri in redirect_uris))
    # A client either acts as itself or for its users, never both: a delegated app holding client credentials
    # could act without any user.
    grant_types = f"{AUTHORIZATION_CODE} {REFRESH_TOKEN}" if uris else CLIENT_CREDENTIALS
    tenant = None
    if tenant_slug is not None:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise IdentityError(f"no village bank {tenant_slug!r} is registered")
    secret = None if public else hashing.new_secret()
    client = OAuthClient(client_id="cf_" + secrets.token_urlsafe(18),
                         secret_hash=hashing.digest(secret) if secret else None, name=name.strip(),
                         context=context.value, tenant_id=tenant.id if tenant else None,
                         scope=" ".join(s.code for s in scopes), grant_types=grant_types, redirect_uris=" ".join(uris))
    session.add(client)
    session.flush()
    record(session, "oauth.client.create", object_type="oauth_client", object_id=client.client_id,
           after={"name": client.name, "context": client.context, "tenant": tenant_slug, "scope": client.scope,
                  "grant_types": client.grant_types, "redirect_uris": list(uris), "public": public})
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
