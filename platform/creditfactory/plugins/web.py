"""Plugins in the web app: their blueprints (mounted last, answering only for banks that enabled them) and the
REST resource administrators use to see, enable and configure plugins."""

from __future__ import annotations

from flask import Flask, abort
from flask.views import MethodView
import marshmallow as ma

from ..db import CurrentTenant, shared_session, tenant_session
from ..identity.scopes import Scope
from ..web.smorest import Blueprint
from . import services
from .host import enabled_plugins, get_host, recent_failures

blp = Blueprint("plugins", __name__, url_prefix="/plugins",
                description="Regional plugins of the acting village bank: which are installed, enabled, configured.")
failures_blp = Blueprint("plugin_failures", __name__, url_prefix="/plugin-failures", tenant_required=False,
                         description="Recent plugin failures (exceptions, time-outs, import errors), for the head office.")


class PluginSchema(ma.Schema):
    name = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    version = ma.fields.String()
    builtin = ma.fields.Boolean()
    loaded = ma.fields.Boolean()
    error = ma.fields.String()
    enabled = ma.fields.Boolean()
    config = ma.fields.Dict()


class PluginUpdateSchema(ma.Schema):
    enabled = ma.fields.Boolean(required=True)
    config = ma.fields.Dict(load_default=None)


class FailureSchema(ma.Schema):
    plugin = ma.fields.String()
    hook = ma.fields.String()
    tenant = ma.fields.String()
    kind = ma.fields.String()
    message = ma.fields.String()
    at = ma.fields.DateTime()


def _listing() -> list[dict]:
    tenant = CurrentTenant.get()
    with tenant_session(tenant) as session:
        settings = services.settings_of(session)
    rows = []
    for info in get_host().plugins.values():
        setting = settings.get(info.name)
        rows.append({"name": info.name, "title": info.title, "description": info.description, "version": info.version,
                     "builtin": info.builtin, "loaded": info.loaded, "error": info.error,
                     "enabled": info.builtin or bool(setting and setting.enabled),
                     "config": setting.config if setting else {}})
    return rows


@blp.route("/")
class Plugins(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.response(200, PluginSchema(many=True))
    def get(self):
        """Installed plugins, with whether this bank enabled them and its configuration."""
        return _listing()


@blp.route("/<name>")
class PluginResource(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(PluginUpdateSchema)
    @blp.response(200, PluginSchema)
    def put(self, update, name):
        """Enable or disable a plugin for this bank, optionally with a new configuration (checked by its schema)."""
        tenant = CurrentTenant.get()
        with tenant_session(tenant) as session, session.begin():
            if update["config"] is not None:
                services.configure(session, name, update["config"])
            if update["enabled"]:
                services.enable(session, name)
            else:
                services.disable(session, name)
        return next(row for row in _listing() if row["name"] == name)


@failures_blp.route("/")
class PluginFailures(MethodView):
    @failures_blp.auth(Scope.TENANTS_READ)
    @failures_blp.response(200, FailureSchema(many=True))
    def get(self):
        """The 50 most recent plugin failures across the platform."""
        with shared_session() as session:
            return recent_failures(session)


def _only_where_enabled(name: str):
    def guard() -> None:
        if name not in enabled_plugins():
            abort(404)

    return guard


def init_app(app: Flask) -> None:
    """Mount each plugin's blueprints; their pages answer only for banks that enabled the plugin."""
    for name, blueprints in get_host().call("register_blueprints"):
        for blueprint in blueprints or []:
            blueprint.before_request(_only_where_enabled(name))
            app.register_blueprint(blueprint, name=f"plugin_{name}_{blueprint.name}")
