"""Decisions API: the facts rules may read and the rule-set versions in force for the tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView

from ..db import session as tenant_session
from ..identity.scopes import Scope
from ..web.smorest import Blueprint
from .facts import CATALOGUE
from .schemas import FactSchema, RuleSetInForceSchema, RuleSetQueryArgsSchema
from .services import rule_sets_in_force  # also registers the overlay publication change kind

blp = Blueprint("decisions", __name__, url_prefix="/decisions",
                description="Decision engine: facts catalogue and rule sets in force.")


@blp.route("/facts")
class FactViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, FactSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Facts rules may read, typed and labelled"""
        return [fact.as_dict() for fact in CATALOGUE]


@blp.route("/rulesets")
class RuleSetViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.arguments(RuleSetQueryArgsSchema, location="query")
    @blp.response(200, RuleSetInForceSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Standard version and tenant overlay in force per stage"""
        with tenant_session() as session:
            return rule_sets_in_force(session, args["on"] or dt.date.today())
