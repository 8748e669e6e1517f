"""The project's flask-smorest ``Api`` and ``Blueprint``: every REST resource module imports ``Blueprint`` from here."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import flask
import flask_smorest
import swagger_ui_bundle

from .. import __version__
from ..tenancy.routing import tenant_required
from .errors import PROBLEM_MIMETYPE, ProblemSchema

API_PREFIX = "/api/v1"
#: Swagger UI's files, served by the app itself: the platform must work with no internet.
SWAGGER_UI_ASSETS = f"{API_PREFIX}/docs/assets/"
#: The docs page's own template and start-up script (web/templates, web/static).
DOCS_UI_STATIC = f"{API_PREFIX}/docs/static"


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

    def _openapi_swagger_ui(self) -> str:
        # flask-smorest's page starts Swagger UI with an inline script, which the Content-Security-Policy
        # forbids; this one passes the spec URL and configuration in data- attributes to a static script.
        return flask.render_template(
            "api/swagger_ui.html",
            title=self.spec.title,
            spec_url=flask.url_for(f"{self._make_doc_blueprint_name()}.openapi_json"),
            swagger_ui_config=self.config.get("OPENAPI_SWAGGER_UI_CONFIG", {}),
        )

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
    """

    def __init__(self, *args: Any, tenant_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Whether every route of this blueprint needs a tenant bound to the request.
        self.tenant_required = tenant_required
        if tenant_required:
            self.before_request(_require_tenant)
            self._prepare_doc_cbks.append(self._prepare_tenant_doc)

    @staticmethod
    def _prepare_tenant_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        responses = doc.setdefault("responses", {})
        responses.setdefault(403, HTTPStatus.FORBIDDEN.name)
        responses.setdefault(404, HTTPStatus.NOT_FOUND.name)
        return doc
