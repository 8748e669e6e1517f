"""The project's flask-smorest ``Api`` and ``Blueprint``: every REST resource module imports ``Blueprint`` from here."""

from __future__ import annotations

from copy import deepcopy
from http import HTTPStatus
from typing import Any, Callable, TypeVar

import flask
import flask_smorest
import swagger_ui_bundle

from .. import __version__
from ..identity.oauth.protector import require_token
from ..identity.scopes import Scope
from ..tenancy.routing import tenant_required
from .access import public as public_page
from .errors import PROBLEM_MIMETYPE, ProblemSchema

_F = TypeVar("_F", bound=Callable[..., Any])

API_PREFIX = "/api/v1"
#: Swagger UI's files, served by the app itself: the platform must work with no internet.
SWAGGER_UI_ASSETS = f"{API_PREFIX}/docs/assets/"
#: The docs page's own template and start-up script (web/templates, web/static).
DOCS_UI_STATIC = f"{API_PREFIX}/docs/static"
#: Name of the OAuth2 security scheme that operations' ``security`` requirements refer to.
SECURITY_SCHEME = "oauth2"
#: OpenAPI extension naming why an operation deliberately needs no token.
PUBLIC_EXTENSION = "x-public"
#: Where machine clients get tokens. An absolute path, so it is the same under every tenant's address
#: (a client's token acts for its own tenant whichever address issued it).
TOKEN_URL = "/oauth/token"
#: Key of ``_apidoc`` holding an operation's access declaration, read when the OpenAPI document is built.
_ACCESS_DOC = "access"


class Api(flask_smorest.Api):
    """The REST API at ``/api/v1``; errors are documented as problem+json, as ``web.errors`` sends them."""

    ERROR_SCHEMA = ProblemSchema

    def init_app(self, app: flask.Flask, **kwargs: Any) -> None:
        app.config.update(
            API_TITLE="Credit Factory API",
            API_VERSION=__version__,
            OPENAPI_VERSION="3.0.3",
            OPENAPI_URL_PREFIX=API_PREFIX,
            OPENAPI_JSON_PATH="openapi.json",
            OPENAPI_SWAGGER_UI_PATH="docs",
            OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
            # Swagger UI would otherwise send the spec to an online validator.
            OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        )
        super().init_app(app, **kwargs)
        self.spec.components.security_scheme(SECURITY_SCHEME, {
            "type": "oauth2",
            "description": "Client-credentials tokens, each acting for one village bank, the head office or a "
                           "regulator (docs/oauth.md).",
            "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {
                s.code: f"{s.label_en} ({s.label_zh})" for s in Scope}}},
        })
        app.register_blueprint(flask.Blueprint("swagger_ui", __name__, static_folder=swagger_ui_bundle.swagger_ui_path,
                                               static_url_path=SWAGGER_UI_ASSETS.rstrip("/")))
        app.register_blueprint(flask.Blueprint("api_docs_ui", __name__, template_folder="templates",
                                               static_folder="static", static_url_path=DOCS_UI_STATIC))

    def register_blueprint(self, blp: flask_smorest.Blueprint, **options: Any) -> None:
        """Register a resource blueprint under ``/api/v1`` (its own ``url_prefix`` is relative to that)."""
        options.setdefault("url_prefix", API_PREFIX + (blp.url_prefix or ""))
        super().register_blueprint(blp, **options)

    def _register_error_handlers(self) -> None:
        # web.errors answers every error of the whole app, API or not, in one format.
        pass

    def _register_responses(self) -> None:
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_MIMETYPE: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, {
            "description": "Problem details (RFC 9457)",
            "content": {PROBLEM_MIMETYPE: {"schema": self.ERROR_SCHEMA}},
        }, lazy=True)

    @public_page("the API's documentation page describes routes, never data")
    def _openapi_swagger_ui(self) -> str:
        # flask-smorest's page starts Swagger UI with an inline script, which the Content-Security-Policy
        # forbids; this one passes the spec URL and configuration in data- attributes to a static script.
        return flask.render_template(
            "api/swagger_ui.html",
            title=self.spec.title,
            spec_url=flask.url_for(f"{self._make_doc_blueprint_name()}.openapi_json"),
            swagger_ui_config=self.config.get("OPENAPI_SWAGGER_UI_CONFIG", {}),
        )

    @public_page("the API's OpenAPI document describes routes, never data")
    def _openapi_json(self) -> flask.Response:
        # Served under /t/<slug>/, the spec's server is that tenant, so "Try it out" stays with it.
        spec = {**self.spec.to_dict(), "servers": [{"url": flask.request.script_root or "/"}]}
        return flask.current_app.response_class(flask.json.dumps(spec, indent=2), mimetype="application/json")


def api_of(app: flask.Flask) -> Api:
    """The app's REST API, to register more resource blueprints on it (plugins, tests)."""
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"]


def _require_tenant() -> None:
    tenant_required()


class Blueprint(flask_smorest.Blueprint):
    """A REST resource: ``Blueprint("loans", __name__, url_prefix="/loans", description=...)``.

    Resources act for the tenant the request names (``/t/<slug>/`` or ``<slug>.<base_domain>``); a request
    naming none gets a 404 problem. Head-office resources pass ``tenant_required=False``.

    Every operation declares who may call it, as its outermost decorator: ``@blp.auth(Scope.LOANS_READ)`` or
    ``@blp.public("reason")``. tests/test_authorization.py fails on an operation that declares neither.
    """

    def __init__(self, *args: Any, tenant_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Whether every route of this blueprint needs a tenant bound to the request.
        self.tenant_required = tenant_required
        if tenant_required:
            self.before_request(_require_tenant)
            self._prepare_doc_cbks.append(self._prepare_tenant_doc)
        self._prepare_doc_cbks.append(self._prepare_access_doc)

    def auth(self, *scopes: Scope) -> Callable[[_F], _F]:
        """Outermost decorator of an operation for bearer tokens holding every one of ``scopes``.

        Enforced by ``require_token`` (401 for a missing or invalid token, 403 for a missing scope or another
        tenant's token) before arguments are parsed, and documented as the operation's OpenAPI ``security``.
        With no scopes, any valid token acting for the request's tenant (or context) may call it.
        """
        unknown = [s for s in scopes if not isinstance(s, Scope)]
        if unknown:
            raise TypeError(f"auth() takes Scope members, not {unknown!r}")
        return self._declare_access({"scopes": [s.code for s in scopes]}, require_token(*scopes))

    def public(self, reason: str) -> Callable[[_F], _F]:
        """Outermost decorator of an operation anyone may call, token or not; ``reason`` says why, in the
        OpenAPI document's ``x-public``."""
        if not reason or not reason.strip():
            raise ValueError("a public operation needs the reason it is public")
        return self._declare_access({"public": reason}, lambda view: view)

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        # One instance per operation: given a class, webargs would build the schema (a deep copy of every
        # field) on each request.
        if isinstance(schema, type):
            schema = schema()
        return self._below_access(super().arguments(schema, *args, **kwargs))

    def paginate(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        return self._below_access(super().paginate(*args, **kwargs))

    @staticmethod
    def _declare_access(access: dict[str, Any], enforce: Callable[[_F], _F]) -> Callable[[_F], _F]:
        def decorate(view: _F) -> _F:
            if _ACCESS_DOC in getattr(view, "_apidoc", {}):
                raise TypeError(f"{view.__qualname__} declares its access twice")
            wrapper = enforce(view)
            # A copy: functools.wraps shares the wrapped view's dict, which must stay as it was.
            wrapper._apidoc = {**deepcopy(getattr(wrapper, "_apidoc", {})), _ACCESS_DOC: access}
            return wrapper

        return decorate

    @staticmethod
    def _below_access(decorator: Callable[[_F], _F]) -> Callable[[_F], _F]:
        # Parsing applied outside the auth check would answer a caller without a token 422 instead of 401,
        # and describe the request body to anyone; refuse that order when the module is imported.
        def decorate(view: _F) -> _F:
            if _ACCESS_DOC in getattr(view, "_apidoc", {}):
                raise TypeError(f"{view.__qualname__}: put blp.auth / blp.public above argument parsing, "
                                "so a missing token gives 401 before invalid arguments give 422")
            return decorator(view)

        return decorate

    @staticmethod
    def _prepare_access_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        access = doc_info.get(_ACCESS_DOC)
        if access is None:
            return doc
        if "public" in access:
            doc[PUBLIC_EXTENSION] = access["public"]
            return doc
        doc["security"] = [{SECURITY_SCHEME: access["scopes"]}]
        responses = doc.setdefault("responses", {})
        responses.setdefault(401, HTTPStatus.UNAUTHORIZED.name)
        responses.setdefault(403, HTTPStatus.FORBIDDEN.name)
        return doc

    @staticmethod
    def _prepare_tenant_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        responses = doc.setdefault("responses", {})
        responses.setdefault(403, HTTPStatus.FORBIDDEN.name)
        responses.setdefault(404, HTTPStatus.NOT_FOUND.name)
        return doc
