"""The resource side: ``require_token`` checks the bearer token, its scopes and its tenant, then binds who acts."""

from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import g

from ...audit import Actor, ActorKind, CurrentActor
from ...db import CurrentTenant
from ...db import shared_reader
from ...web.errors import abort_problem
from ..errors import AccessDenied
from ..permissions import Context
from ..principal import CurrentPrincipal, Principal, load_principal
from ..scopes import Scope, permissions_of
from .models import OAuthToken
from .server import find_token

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Sent with every 401 that carries no more precise challenge (RFC 6750 section 3).
_CHALLENGE = 'Bearer realm="creditfactory"'


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
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


def principal_of(token: OAuthToken) -> Principal | None:
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


def _check_tenant(token: OAuthToken) -> None:
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


def current_token() -> OAuthToken:
    """The token ``require_token`` accepted for this request."""
    return g.authlib_server_oauth2_token
