"""The authorization server: Authlib's, fed by our client, code and token tables; endpoints under ``/oauth/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, UnauthorizedClientError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Blueprint, Flask, render_template, request
from sqlalchemy import delete, select, update
from werkzeug.wrappers import Response

from ... import settings as settings_module
from ...db import CurrentTenant, shared_session
from ...portal.account import login_required
from ...portal.i18n import current_language
from ...tenancy.models import Tenant
from ...web.errors import abort_problem
from .. import sessions
from ..errors import AccessDenied
from ..models import User
from ..permissions import Context
from ..principal import CurrentPrincipal, load_principal
from ..scopes import Scope
from . import hashing
from .models import OAuthAuthorizationCode, OAuthClient, OAuthToken

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

    # At /oauth/authorize an unknown client must fail before any redirect: nothing is sent anywhere for it.
    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return False


def query_client(client_id: str) -> OAuthClient | UnknownClient:
    """The active client ``client_id``; a revoked or unknown one is ``UnknownClient``, so it gets ``invalid_client``."""
    with shared_session() as session:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id,
                                                          OAuthClient.revoked_at.is_(None)))
    return client if client is not None else UnknownClient()


def save_token(token: dict[str, Any], request: Any) -> None:
    """Store the new token's hashes; the token itself goes to the client.

    A machine's token is bound to its client's tenant or context; a user's token to what the authorization code
    was bound to, and a rotated one to its predecessor's binding and family.
    """
    client: OAuthClient = request.client
    code: OAuthAuthorizationCode | None = getattr(request, "authorization_code", None)
    previous: OAuthToken | None = getattr(request, "refresh_token", None)
    if code is not None:
        context, tenant_id, user_id, family = code.context, code.tenant_id, code.user_id, hashing.new_secret()
    elif previous is not None:
        context, tenant_id, user_id, family = previous.context, previous.tenant_id, previous.user_id, previous.family
    else:
        context, tenant_id, user_id, family = client.context, client.tenant_id, None, None
    refresh_token = token.get("refresh_token")
    with shared_session() as session, session.begin():
        session.add(OAuthToken(
            access_token_hash=hashing.digest(token["access_token"]), client_pk=client.id, context=context,
            tenant_id=tenant_id, scope=token.get("scope", ""), issued_at=dt.datetime.now(dt.timezone.utc),
            expires_in=token["expires_in"], user_id=user_id, family=family if refresh_token else None,
            refresh_token_hash=hashing.digest(refresh_token) if refresh_token else None,
            refresh_expires_in=refresh_token_lifetime() if refresh_token else None))


def refresh_token_lifetime() -> int:
    """Seconds a refresh token lives (setting ``oauth_refresh_token_days``). Each rotation issues a new one for the
    full period, so an app in daily use stays signed in while one left unused must send its user to log in again."""
    return settings_module.get().oauth_refresh_token_days * 86400


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


class PkceS256(CodeChallenge):
    """PKCE (RFC 7636) on every authorization request, public and confidential clients alike (RFC 9700 section
    2.1.1), with S256 only: ``plain`` sends the verifier's equal through the browser, which protects nothing."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge and code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            # Absent means "plain" in RFC 7636 section 4.3, so it is refused as plain is.
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: OAuthAuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: OAuthAuthorizationCode) -> str:
        return authorization_code.code_challenge_method


def _user_for(user_id: int | None, context: str, tenant_id: int | None) -> User | None:
    # Deactivation or a withdrawn membership ends what the user delegated at once, as it ends their sessions.
    if user_id is None:
        return None
    with shared_session() as session:
        user = session.get(User, user_id)
        if user is None:
            return None
        tenant_slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)) if tenant_id else None
        try:
            load_principal(session, user, Context(context), tenant_slug)
        except AccessDenied:
            return None
    return user


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code (RFC 6749 section 4.1) for apps staff log in to; codes single-use, 60 s, hashed."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        client: OAuthClient = self.request.client
        refused = set((self.request.payload.scope or "").split()) - set(client.scope.split())
        if refused:
            # Refused, never silently narrowed: the app must learn it asked for more than it was registered for.
            raise InvalidScopeError(f"this client may not ask for {' '.join(sorted(refused))}",
                                    redirect_uri=redirect_uri, state=self.request.payload.state)
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        client: OAuthClient = request.client
        data = request.payload.data
        # The authorize view has checked that the session acts where the client does, so the client's binding is
        # the session's.
        with shared_session() as session, session.begin():
            session.add(OAuthAuthorizationCode(
                code_hash=hashing.digest(code), client_pk=client.id, user_id=request.user.id, context=client.context,
                tenant_id=client.tenant_id, redirect_uri=request.payload.redirect_uri, scope=request.scope,
                code_challenge=data["code_challenge"], code_challenge_method=data["code_challenge_method"],
                issued_at=dt.datetime.now(dt.timezone.utc)))

    def query_authorization_code(self, code: str, client: OAuthClient) -> OAuthAuthorizationCode | None:
        # Deleted as it is read, in one statement: of two concurrent exchanges only one gets the code, and a
        # failed exchange (wrong verifier) burns it, so a verifier cannot be guessed at leisure.
        with shared_session() as session, session.begin():
            found = session.scalar(delete(OAuthAuthorizationCode)
                                   .where(OAuthAuthorizationCode.code_hash == hashing.digest(code),
                                          OAuthAuthorizationCode.client_pk == client.id)
                                   .returning(OAuthAuthorizationCode))
        return found if found is not None and not found.is_expired() else None

    def delete_authorization_code(self, authorization_code: OAuthAuthorizationCode) -> None:
        """Nothing left to delete: ``query_authorization_code`` consumed the code."""

    def authenticate_user(self, authorization_code: OAuthAuthorizationCode) -> User | None:
        return _user_for(authorization_code.user_id, authorization_code.context, authorization_code.tenant_id)


def _revoke_family(family: str) -> None:
    with shared_session() as session, session.begin():
        session.execute(update(OAuthToken).where(OAuthToken.family == family, OAuthToken.revoked_at.is_(None))
                        .values(revoked_at=dt.datetime.now(dt.timezone.utc)))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation: each use revokes the pair and issues a new one in the same family; a rotated token
    presented again revokes the family (RFC 6819 section 5.2.2.3, RFC 9700 section 4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        with shared_session() as session:
            token = session.scalar(select(OAuthToken)
                                   .where(OAuthToken.refresh_token_hash == hashing.digest(refresh_token)))
        if token is None:
            return None
        if token.revoked_at is not None:
            _revoke_family(token.family)
            return None
        if token.is_refresh_token_expired() or token.client.revoked_at is not None:
            return None
        return token

    def authenticate_user(self, refresh_token: OAuthToken) -> User | None:
        return _user_for(refresh_token.user_id, refresh_token.context, refresh_token.tenant_id)

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        with shared_session() as session, session.begin():
            claimed = session.execute(update(OAuthToken)
                                      .where(OAuthToken.id == refresh_token.id, OAuthToken.revoked_at.is_(None))
                                      .values(revoked_at=dt.datetime.now(dt.timezone.utc))).rowcount
        if not claimed:
            # Another request rotated this token between our read and now: the same token was used twice, so
            # the family goes, including the pair just issued.
            _revoke_family(refresh_token.family)


class _TokenLookup:
    """Shared by revocation and introspection: access and refresh tokens, looked up by hash.

    ``token_type_hint`` only decides which column is searched first (RFC 7009 section 2.1, RFC 7662 section 2.1):
    a wrong hint still finds the token. Which of the two the string was is kept on the request, so revoking a
    refresh token can revoke its whole family and introspection can say what it was asked about.
    """

    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        digest = hashing.digest(token_string)
        order = ("refresh_token", "access_token") if token_type_hint == "refresh_token" \
            else ("access_token", "refresh_token")
        with shared_session() as session:
            for kind in order:
                column = OAuthToken.refresh_token_hash if kind == "refresh_token" else OAuthToken.access_token_hash
                token = session.scalar(select(OAuthToken).where(column == digest))
                if token is not None:
                    request.environ["creditfactory.oauth_token_type"] = kind
                    return token
        return None


def _presented_type() -> str:
    return request.environ.get("creditfactory.oauth_token_type", "access_token")


class TokenRevocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009: a client revokes its own token; an unknown token still answers 200, as the RFC requires.

    Public clients (the mobile field app) hold no secret and identify themselves by ``client_id`` alone
    (section 2.1: the server authenticates the client *if* it has credentials); they can only revoke their own
    tokens, which are bound to their client. Revoking a refresh token revokes its whole family, so the access
    tokens issued from it stop at once too (section 2.1: "SHOULD also invalidate all access tokens based on the
    same authorization grant"); revoking an access token revokes its row (the pair it was issued with).
    """

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        if _presented_type() == "refresh_token" and token.family is not None:
            _revoke_family(token.family)
            return
        with shared_session() as session, session.begin():
            session.execute(update(OAuthToken).where(OAuthToken.id == token.id, OAuthToken.revoked_at.is_(None))
                            .values(revoked_at=dt.datetime.now(dt.timezone.utc)))


class TokenIntrospection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662 for authenticated clients, about their own tokens: any other token reads ``{"active": false}``,
    exactly like an unknown one, so a client learns nothing about tokens of other clients."""

    def check_permission(self, token: OAuthToken, client: OAuthClient, request: Any) -> bool:
        # No separate resource servers exist: a client learns nothing about tokens of other clients.
        return token.check_client(client)

    def create_introspection_payload(self, token: OAuthToken | None) -> dict[str, Any]:
        # A refresh token is active while it is unrevoked and unexpired, whatever its access token's hour says.
        if token is not None and _presented_type() == "refresh_token":
            if token.is_refresh_token_expired() or token.is_revoked():
                return {"active": False}
            return {**self.introspect_token(token), "active": True}
        return super().create_introspection_payload(token)

    def introspect_token(self, token: OAuthToken) -> dict[str, Any]:
        refresh = _presented_type() == "refresh_token"
        expires_at = token.issued_at + dt.timedelta(seconds=token.refresh_expires_in or 0) if refresh \
            else token.expires_at
        payload = {"active": True, "client_id": token.client.client_id,
                   "token_type": "refresh_token" if refresh else "Bearer", "scope": token.scope,
                   "iat": int(token.issued_at.timestamp()), "exp": int(expires_at.timestamp()),
                   "context": token.context, "tenant": token.tenant_slug}
        if token.user is not None:
            payload["username"] = token.user.username
        return payload


authorization = AuthorizationServer()
blp = Blueprint("oauth", __name__, url_prefix="/oauth")


@blp.post("/token")
def issue_token():
    return authorization.create_token_response()


@blp.route("/authorize", methods=["GET", "POST"])
@login_required
def authorize() -> str | Response:
    """Ask the logged-in user to let an app act for them (授权), and send the app a code on "allow".

    The POST carries the session's CSRF token like every portal form, so another site cannot make a logged-in
    user's browser approve its own request.
    """
    user = sessions.current_user()
    try:
        grant = authorization.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            # The client and its exact redirect URI are known good: RFC 6749 section 4.1.2.1 answers it there.
            return authorization.handle_error_response(None, error)
        # Unknown client or unregistered redirect URI: told to the user, never sent anywhere (section 4.1.2.1).
        abort_problem(400, f"this authorization request is invalid ({error.error}): {error.description}")
    client: OAuthClient = grant.request.client
    principal = CurrentPrincipal.get()
    if principal.context.value != client.context or principal.tenant_slug != client.tenant_slug:
        # A token acts where its client is registered; the session decides for whom, and it must be the same place.
        abort_problem(403, f"the app {client.name!r} is not registered for where this session acts; log in "
                           "where the app is registered")
    if request.method == "GET":
        known = {s.code: s for s in Scope}
        scopes = [known[code] for code in grant.request.scope.split() if code in known]
        return render_template("portal/oauth_consent.html", client=client, scopes=scopes,
                               language=current_language())
    approved = request.form.get("decision") == "allow"
    return authorization.create_authorization_response(grant_user=user if approved else None, grant=grant)


@blp.post("/revoke")
def revoke_token():
    return authorization.create_endpoint_response(TokenRevocation.ENDPOINT_NAME)


@blp.post("/introspect")
def introspect_token():
    return authorization.create_endpoint_response(TokenIntrospection.ENDPOINT_NAME)


def init_app(app: Flask) -> None:
    app.config.update(OAUTH2_SCOPES_SUPPORTED=[s.code for s in Scope],
                      OAUTH2_ACCESS_TOKEN_GENERATOR=_generate_token,
                      OAUTH2_REFRESH_TOKEN_GENERATOR=_generate_token,
                      OAUTH2_TOKEN_EXPIRES_IN={grant.GRANT_TYPE: ACCESS_TOKEN_LIFETIME for grant in
                                               (ClientCredentialsGrant, AuthorizationCodeGrant, RefreshTokenGrant)})
    authorization.init_app(app, query_client=query_client, save_token=save_token)
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_grant(AuthorizationCodeGrant, [PkceS256(required=True)])
    authorization.register_grant(RefreshTokenGrant)
    authorization.register_endpoint(TokenRevocation)
    authorization.register_endpoint(TokenIntrospection)
    app.register_blueprint(blp)
