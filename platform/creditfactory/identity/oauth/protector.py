"""The resource side: ``require_token`` checks the bearer token, its scopes and its tenant, then binds who acts."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Callable, ParamSpec, TypeVar

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import g
from sqlalchemy import bindparam, select

from ...audit import Actor, ActorKind, CurrentActor
from ...db import CurrentTenant, shared_reader
from ...db.engines import autocommit_engine
from ...tenancy.models import Tenant
from ...web.errors import abort_problem
from ..errors import AccessDenied
from ..models import User
from ..permissions import Context
from ..principal import CurrentPrincipal, Principal, load_principal
from ..scopes import Scope, permissions_of
from . import hashing
from .models import OAuthClient, OAuthToken

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Sent with every 401 that carries no more precise challenge (RFC 6750 section 3).
_CHALLENGE = 'Bearer realm="creditfactory"'


@dataclass(frozen=True)
class TokenClient:
    """The app a bearer token was issued to, as the resource side needs it."""

    client_id: str
    name: str
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class TokenUser:
    """The person a bearer token acts for, as the resource side needs them (``load_principal`` reads these)."""

    id: int
    username: str
    active: bool


@dataclass(frozen=True)
class BearerToken:
    """An access token as every API request sees it: what Authlib's validator and ``require_token`` read, from one
    statement of a few columns (loading the token, client, tenant and user as ORM objects cost a request more than
    any other statement, and brought the client's secret hash and the user's password hash along)."""

    context: str
    scope: str
    issued_at: dt.datetime
    expires_in: int
    revoked_at: dt.datetime | None
    tenant_slug: str | None
    client: TokenClient
    user: TokenUser | None

    # --- Authlib's TokenMixin, as OAuthToken answers it --------------------------------------------------------
    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return dt.datetime.now(dt.timezone.utc) >= self.issued_at + dt.timedelta(seconds=self.expires_in)

    def is_revoked(self) -> bool:
        # A revoked client's tokens die with it, without a write to every token.
        return self.revoked_at is not None or self.client.revoked_at is not None


def find_token(token_string: str) -> BearerToken | None:
    """The access token whose hash matches ``token_string``, read outside any transaction."""
    with autocommit_engine().connect() as connection:
        row = connection.execute(_TOKEN_BY_HASH, {"digest": hashing.digest(token_string)}).first()
    if row is None:
        return None
    (context, scope, issued_at, expires_in, revoked_at, tenant_slug, client_id, client_name, client_revoked_at,
     user_id, username, active) = row
    return BearerToken(context, scope, issued_at, expires_in, revoked_at, tenant_slug,
                       TokenClient(client_id, client_name, client_revoked_at),
                       None if user_id is None else TokenUser(user_id, username, active))


_TOKEN_BY_HASH = (
    select(OAuthToken.context, OAuthToken.scope, OAuthToken.issued_at, OAuthToken.expires_in, OAuthToken.revoked_at,
           Tenant.slug, OAuthClient.client_id, OAuthClient.name, OAuthClient.revoked_at,
           User.id, User.username, User.active)
    .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)
    .outerjoin(Tenant, Tenant.id == OAuthToken.tenant_id)
    .outerjoin(User, User.id == OAuthToken.user_id)
    .where(OAuthToken.access_token_hash == bindparam("digest")))


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> BearerToken | None:
        return find_token(token_string)


class ProblemResourceProtector(ResourceProtector):
    """Authlib's protector answering in the app's problem+json, keeping the ``WWW-Authenticate`` challenge."""

    def raise_error_response(self, error) -> None:
        headers = {k: v for k, v in error.get_headers() if k.lower() == "www-authenticate"}
        if error.error == "missing_authorization":
            # RFC 6750 section 3.1: a request with no credentials gets the bare challenge, no error code.
            headers = {"WWW-Authenticate": _CHALLENGE}
        elif error.status_code == 401:
            headers.setdefault("WWW-Authenticate", _CHALLENGE)
        abort_problem(error.status_code, error.description or error.error, headers=headers)


protector = ProblemResourceProtector()
protector.register_token_validator(HashedBearerTokenValidator())


def principal_of(token: BearerToken) -> Principal | None:
    """Who acts through ``token``, with only what its scopes grant: the client itself in its context and tenant,
    or the user the token was issued to, holding their own permissions there intersected with the scopes'.
    None when that user may no longer act there (deactivated, membership withdrawn)."""
    context = Context(token.context)
    permissions = frozenset(p for p in permissions_of(token.scope.split()) if p.context is context)
    if token.user is not None:
        # Roles are read afresh, as for a session: a revoked role narrows the token at once, and a scope never
        # grants the user more than they hold.
        with shared_reader() as session:
            try:
                own = load_principal(session, token.user, context, token.tenant_slug)
            except AccessDenied:
                return None
        return Principal(user_id=token.user.id, username=token.user.username, context=context,
                         tenant_slug=token.tenant_slug, permissions=permissions & own.permissions,
                         roles=frozenset(), client_id=token.client.client_id)
    return Principal(user_id=None, username=token.client.client_id, context=context, tenant_slug=token.tenant_slug,
                     permissions=permissions, roles=frozenset(), client_id=token.client.client_id)


def _check_tenant(token: BearerToken) -> None:
    # The token decides whom the request acts for; the address must agree, never switch it (ARCHITECTURE 2).
    tenant = CurrentTenant.get_or_none()
    if token.tenant_slug is not None and tenant is None:
        abort_problem(403, f"this token acts for tenant {token.tenant_slug!r}: address it as /t/{token.tenant_slug}/…")
    if tenant is not None and tenant.slug != token.tenant_slug:
        acting = f"tenant {token.tenant_slug!r}" if token.tenant_slug else f"the {Context(token.context).label_en}"
        abort_problem(403, f"this token acts for {acting}, not for tenant {tenant.slug!r}")


def require_token(*scopes: Scope) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a view: a valid bearer token holding every one of ``scopes``, for the tenant the request names.

    401 (with ``WWW-Authenticate``) for a missing, unknown, expired or revoked token; 403 for a missing scope or a
    tenant mismatch. The view runs with the client bound as ``CurrentPrincipal`` and ``CurrentActor``.
    """
    # Authlib reads a space-separated string as "all of these"; a list would mean "any of these".
    required = " ".join(s.code for s in scopes) or None

    def decorate(view: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(view)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                token = protector.acquire_token(required)
            except OAuth2Error as error:
                protector.raise_error_response(error)
            _check_tenant(token)
            principal = principal_of(token)
            if principal is None:
                abort_problem(401, "the user this token acts for may no longer act here",
                              headers={"WWW-Authenticate": _CHALLENGE})
            if token.user is not None:
                actor = Actor(id=str(token.user.id), kind=ActorKind.USER,
                              display=f"{token.user.username} ({token.client.name})")
            else:
                actor = Actor(id=token.client.client_id, kind=ActorKind.CLIENT, display=token.client.name)
            with CurrentPrincipal.bind(principal), CurrentActor.bind(actor):
                return view(*args, **kwargs)

        wrapper.required_scopes = scopes  # type: ignore[attr-defined]
        return wrapper

    return decorate


def current_token() -> BearerToken:
    """The token ``require_token`` accepted for this request."""
    return g.authlib_server_oauth2_token
