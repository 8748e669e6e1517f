"""The authorization server: Authlib's, fed by our client and token tables; endpoints under ``/oauth/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError, UnauthorizedClientError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Blueprint, Flask
from sqlalchemy import select, update

from ...db import CurrentTenant, shared_session
from ..scopes import Scope
from . import hashing
from .models import OAuthClient, OAuthToken

#: Seconds a machine client's access token lives; short, since getting a new one costs one request.
ACCESS_TOKEN_LIFETIME = 3600


#: An unknown client's presented secret is checked against this, so a miss costs what a wrong secret costs.
_NO_CLIENT_DIGEST = hashing.digest("no client: uniform work for unknown client ids")


class UnknownClient:
    """Stands in for a client id that names no active client. Authlib would answer ``None`` with "the client does
    not exist", telling an attacker which ids are real; this one fails the secret check like a wrong secret does,
    after the same hashing, so both get the same ``invalid_client`` answer."""

    def check_client_secret(self, client_secret: str) -> bool:
        hashing.matches(client_secret, _NO_CLIENT_DIGEST)
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return False


def query_client(client_id: str) -> OAuthClient | UnknownClient:
    """The active client ``client_id``; a revoked or unknown one is ``UnknownClient``, so it gets ``invalid_client``."""
    with shared_session() as session:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id,
                                                          OAuthClient.revoked_at.is_(None)))
    return client if client is not None else UnknownClient()


def save_token(token: dict[str, Any], request: Any) -> None:
    """Store the new token's hash, bound to the client's tenant or context; the token itself goes to the client."""
    client: OAuthClient = request.client
    with shared_session() as session, session.begin():
        session.add(OAuthToken(access_token_hash=hashing.digest(token["access_token"]), client_pk=client.id,
                               context=client.context, tenant_id=client.tenant_id, scope=token.get("scope", ""),
                               issued_at=dt.datetime.now(dt.timezone.utc), expires_in=token["expires_in"]))


def find_token(token_string: str) -> OAuthToken | None:
    """The token whose hash matches ``token_string``, with its client and tenant loaded."""
    with shared_session() as session:
        return session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == hashing.digest(token_string)))


def _generate_token(client: OAuthClient, grant_type: str, user: Any = None, scope: str | None = None) -> str:
    return hashing.new_secret()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Client credentials (RFC 6749 section 4.4) that refuses, rather than narrows, scopes the client lacks."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: OAuthClient = self.request.client
        asked = set((self.request.payload.scope or "").split())
        refused = asked - set(client.scope.split())
        if refused:
            raise InvalidScopeError(f"this client may not ask for {' '.join(sorted(refused))}")
        # A token acts for its client's tenant; asking for one at another bank's address is a mistake to report.
        tenant = CurrentTenant.get_or_none()
        if tenant is not None and tenant.slug != client.tenant_slug:
            raise UnauthorizedClientError(f"this client does not act for tenant {tenant.slug!r}")


class _TokenLookup:
    """Shared by revocation and introspection: access tokens only, looked up by hash."""

    SUPPORTED_TOKEN_TYPES = ("access_token",)
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return find_token(token_string)


class TokenRevocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009: a client revokes its own token; an unknown token still answers 200, as the RFC requires."""

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        with shared_session() as session, session.begin():
            session.execute(update(OAuthToken).where(OAuthToken.id == token.id, OAuthToken.revoked_at.is_(None))
                            .values(revoked_at=dt.datetime.now(dt.timezone.utc)))


class TokenIntrospection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662 for authenticated clients, about their own tokens: any other token reads ``{"active": false}``."""

    def check_permission(self, token: OAuthToken, client: OAuthClient, request: Any) -> bool:
        # No separate resource servers exist: a client learns nothing about tokens of other clients.
        return token.check_client(client)

    def introspect_token(self, token: OAuthToken) -> dict[str, Any]:
        return {"active": True, "client_id": token.client.client_id, "token_type": "Bearer", "scope": token.scope,
                "iat": int(token.issued_at.timestamp()), "exp": int(token.expires_at.timestamp()),
                "context": token.context, "tenant": token.tenant_slug}


authorization = AuthorizationServer()
blp = Blueprint("oauth", __name__, url_prefix="/oauth")


@blp.post("/token")
def issue_token():
    return authorization.create_token_response()


@blp.post("/revoke")
def revoke_token():
    return authorization.create_endpoint_response(TokenRevocation.ENDPOINT_NAME)


@blp.post("/introspect")
def introspect_token():
    return authorization.create_endpoint_response(TokenIntrospection.ENDPOINT_NAME)


def init_app(app: Flask) -> None:
    app.config.update(OAUTH2_SCOPES_SUPPORTED=[s.code for s in Scope],
                      OAUTH2_ACCESS_TOKEN_GENERATOR=_generate_token,
                      OAUTH2_TOKEN_EXPIRES_IN={ClientCredentialsGrant.GRANT_TYPE: ACCESS_TOKEN_LIFETIME})
    authorization.init_app(app, query_client=query_client, save_token=save_token)
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_endpoint(TokenRevocation)
    authorization.register_endpoint(TokenIntrospection)
    app.register_blueprint(blp)
