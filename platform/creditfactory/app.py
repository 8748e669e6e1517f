"""The Flask application factory."""

from __future__ import annotations

import logging
import secrets

from flask import Flask

from . import identity, settings as settings_module
from .identity import sessions
from .decisions import portal as decision_pages, routes as decisions_routes
from .identity import portal as identity_portal, routes as identity_routes, sessions
from .identity.oauth import routes as oauth_routes, server as oauth_server
from .portal import account, i18n, views as portal_views
from .jobs import setup_broker
from .plugins import web as plugin_web
from .lending.customers import portal as customer_portal, routes as customer_routes
from .lending.products import portal as product_pages, routes as product_routes
from .lending.applications import portal as application_pages, routes as application_routes
from .lending.calc import portal as calc_portal, routes as calc_routes
from .lending.investigation import portal as investigation_portal, routes as investigation_routes
from .lending.loans import portal as loan_portal, routes as loan_routes
from .lending.collections import portal as collection_portal, routes as collection_routes
from .reporting import routes as reporting_routes
from .tenancy import portal as tenant_console
from .reporting import portal as console_portal
from .lending.contracts import portal as contract_portal, routes as contract_routes
from .lending.disbursement import routes as disbursement_routes
from .talent.risk360 import portal as risk360_portal, routes as risk360_routes
from .talent import portal as talent_portal, routes as talent_routes
from .tenancy import routes as tenancy_routes, routing
from .web import assets, csrf, errors, health, limits, logs, metrics, proxy, request_id, security
from .web.smorest import Api

log = logging.getLogger(__name__)


def create_app(settings: settings_module.Settings | None = None, *, testing: bool = False) -> Flask:
    """Build the web application; ``settings`` also become the process-wide ones the data layer reads."""
    settings = settings_module.configure(settings) if settings is not None else settings_module.get()
    logs.configure(settings)
    app = Flask("creditfactory", static_folder=None)
    app.json.ensure_ascii = False  # bank names and messages stay readable Chinese in API responses
    app.config.update(TESTING=testing, SECRET_KEY=settings.secret_key or _ephemeral_secret_key(),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    # Request ids come first so that every later step, its log lines and its errors carry one.
    request_id.init_app(app)
    # Flask runs after_request hooks in reverse: registered this early, the security headers are set after
    # every capability's hooks, so none can drop them.
    security.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    identity.init_app(app)
    routing.init_app(app)
    # Must follow routing.init_app: a session is checked against the tenant the request names.
    sessions.init_app(app)
    csrf.init_app(app)
    # Must follow routing.init_app: ProxyFix has to wrap TenantPathPrefix, so the tenant's path prefix and host
    # are read after the ingress's X-Forwarded-Host/Proto/Prefix are applied.
    proxy.init_app(app, settings)
    i18n.init_app(app, settings)
    health.init_app(app)
    metrics.init_app(app)
    # Requests send jobs; the broker (chosen by URL scheme) must be installed before any is sent.
    setup_broker()
    portal_views.init_app(app)
    # Must follow sessions.init_app: the forced password change is judged on the user the session loaded.
    account.init_app(app)
    customer_portal.init_app(app)
    product_pages.init_app(app)
    application_pages.init_app(app)
    calc_portal.init_app(app)
    contract_portal.init_app(app)
    loan_portal.init_app(app)
    collection_portal.init_app(app)
    investigation_portal.init_app(app)
    talent_portal.init_app(app)
    decision_pages.init_app(app)
    oauth_server.init_app(app)
    identity_portal.init_app(app)
    risk360_portal.init_app(app)
    tenant_console.init_app(app)
    console_portal.init_app(app)
    limits.init_app(app, settings)  # must follow the login and OAuth2 views it limits by endpoint name
    api = Api(app)
    api.register_blueprint(tenancy_routes.blp)
    api.register_blueprint(oauth_routes.blp)
    api.register_blueprint(plugin_web.blp)
    api.register_blueprint(plugin_web.failures_blp)
    api.register_blueprint(customer_routes.blp)
    api.register_blueprint(product_routes.blp)
    api.register_blueprint(product_routes.templates_blp)
    api.register_blueprint(decisions_routes.blp)
    api.register_blueprint(decisions_routes.templates_blp)
    api.register_blueprint(identity_routes.blp)
    api.register_blueprint(application_routes.blp)
    api.register_blueprint(application_routes.committee_blp)
    api.register_blueprint(application_routes.authority_blp)
    api.register_blueprint(calc_routes.blp)
    api.register_blueprint(investigation_routes.blp)
    api.register_blueprint(loan_routes.blp)
    api.register_blueprint(collection_routes.blp)
    api.register_blueprint(collection_routes.inspections_blp)
    api.register_blueprint(reporting_routes.reports_blp)
    api.register_blueprint(reporting_routes.benchmarks_blp)
    api.register_blueprint(contract_routes.blp)
    api.register_blueprint(disbursement_routes.blp)
    api.register_blueprint(talent_routes.blp)
    api.register_blueprint(risk360_routes.blp)
    # Plugins load last, once every core blueprint and hook point exists.
    plugin_web.init_app(app)
    return app


def _ephemeral_secret_key() -> str:
    log.warning("CREDITFACTORY_SECRET_KEY is not set: using a random key for this process only; "
                "sessions will not survive a restart or be shared between workers")
    return secrets.token_urlsafe(48)
