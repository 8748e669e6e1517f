"""Products API: a bank's products and versions, their diff against the template, proposed changes; head-office
templates."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...db import shared_session, tenant_session
from ...identity.principal import CurrentPrincipal
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from . import services
from .schemas import (AdoptionSchema, ProductChangeRequestSchema, DiffQueryArgsSchema, DiffSchema, ProductChangeSchema,
                      FromPluginSchema, PluginTemplateSchema, ProductQueryArgsSchema, ProductSchema,
                      RegionalProductSchema, TemplatePublishSchema, TemplateSchema)

blp = Blueprint("products", __name__, url_prefix="/products",
                description="The bank's loan products (贷款产品): versions, terms, overrides of head-office templates.")
templates_blp = Blueprint("product_templates", __name__, url_prefix="/product-templates", tenant_required=False,
                          description="Head-office standard product templates (标准产品模板), versioned.")


def _diff(result: dict[str, Any]) -> dict[str, Any]:
    product = result["product"]
    return {"code": product.code, "version": product.version, "template": result["template"],
            "differences": [vars(d) for d in result["differences"]]}


@blp.route("")
class ProductViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.arguments(ProductQueryArgsSchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    def get(self, args: dict[str, Any]):
        """The bank's active products (with include_superseded, every version)"""
        with tenant_session() as session, session.begin():
            return services.list_products(session, include_superseded=args["include_superseded"])


@blp.route("/templates")
class AvailableTemplateViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, TemplateSchema(many=True))
    def get(self):
        """Head-office templates the bank may adopt, every published version"""
        with shared_session() as session, session.begin():
            return services.list_templates(session)


@blp.route("/changes")
class ProductChangeViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, ProductChangeRequestSchema(many=True))
    def get(self):
        """Product changes waiting for a second person's approval"""
        with tenant_session() as session, session.begin():
            return services.pending_changes(session)


@blp.route("/<code>")
class ProductByCodeViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, ProductSchema)
    def get(self, code: str):
        """The active version of a product"""
        with tenant_session() as session, session.begin():
            return services.get_product(session, code)


@blp.route("/<code>/versions")
class ProductVersionViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, ProductSchema(many=True))
    def get(self, code: str):
        """Every version of a product, oldest first"""
        with tenant_session() as session, session.begin():
            return services.product_versions(session, code)


@blp.route("/<code>/versions/<int:version>")
class ProductVersionByNumberViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, ProductSchema)
    def get(self, code: str, version: int):
        """One version of a product"""
        with tenant_session() as session, session.begin():
            return services.get_product(session, code, version)


@blp.route("/<code>/diff")
class ProductDiffViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.arguments(DiffQueryArgsSchema, location="query")
    @blp.response(200, DiffSchema)
    def get(self, args: dict[str, Any], code: str):
        """What a version (default: the active one) changes from its head-office template"""
        with tenant_session() as session, session.begin():
            return _diff(services.diff_against_template(session, code, args["version"]))


@blp.route("/<code>/adoption")
class ProductAdoptionViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(AdoptionSchema)
    @blp.response(200, ProductChangeRequestSchema)
    def post(self, args: dict[str, Any], code: str):
        """Propose adopting a template version as this product (a person's proposal; a second person approves)"""
        with tenant_session() as session, session.begin():
            return services.propose_adoption(session, code, **args)


@blp.route("/<code>/changes")
class ProductChangeByCodeViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(ProductChangeSchema)
    @blp.response(200, ProductChangeRequestSchema)
    def post(self, args: dict[str, Any], code: str):
        """Propose a new version: new overrides, or new terms of a tenant-only product"""
        with tenant_session() as session, session.begin():
            return services.propose_update(session, code, **args)


@blp.route("/<code>/regional")
class RegionalProductViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(RegionalProductSchema)
    @blp.response(200, ProductChangeRequestSchema)
    def post(self, args: dict[str, Any], code: str):
        """Propose a tenant-only regional product (e.g. 草贷) with terms of its own"""
        with tenant_session() as session, session.begin():
            return services.propose_regional(session, code, **args)


@blp.route("/plugin-templates")
class PluginTemplateViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.response(200, PluginTemplateSchema(many=True))
    def get(self):
        """Regional product templates the bank's enabled plugins offer (e.g. Yunnan 草贷 and 饲料贷)"""
        return list(services.plugin_templates().values())


@blp.route("/<code>/from-plugin")
class FromPluginViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(FromPluginSchema)
    @blp.response(200, ProductChangeRequestSchema)
    def post(self, args: dict[str, Any], code: str):
        """Propose a regional product with the terms of a plugin's template (a second person approves)"""
        with tenant_session() as session, session.begin():
            return services.propose_from_plugin(session, code, args["plugin_template"])


@templates_blp.route("")
class TemplateViews(MethodView):
    @templates_blp.auth(Scope.PRODUCT_TEMPLATES_WRITE)
    @templates_blp.response(200, TemplateSchema(many=True))
    def get(self):
        """Every published version of every head-office template"""
        with shared_session() as session, session.begin():
            return services.list_templates(session)


@templates_blp.route("/<code>/versions/<int:version>")
class TemplateVersionViews(MethodView):
    @templates_blp.auth(Scope.PRODUCT_TEMPLATES_WRITE)
    @templates_blp.response(200, TemplateSchema)
    def get(self, code: str, version: int):
        """One published template version"""
        with shared_session() as session, session.begin():
            return services.get_template(session, code, version)


@templates_blp.route("/<code>/versions")
class TemplatePublishViews(MethodView):
    @templates_blp.auth(Scope.PRODUCT_TEMPLATES_WRITE)
    @templates_blp.arguments(TemplatePublishSchema)
    @templates_blp.response(200, TemplateSchema)
    def post(self, args: dict[str, Any], code: str):
        """Publish a template version (immutable; the same content again changes nothing)"""
        with shared_session() as session, session.begin():
            template, _ = services.publish_template(session, code, source=f"api:{CurrentPrincipal.get().username}",
                                                    **args)
            return template
