"""Decisions API: facts, rule sets in force, overlay drafts (validate, diff, propose publication), head-office
standard drafts and publication, stored decisions (explanation, human override), simulation runs and the
champion/challenger (shadow mode) settings and report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask.views import MethodView

from ..db import session as tenant_session
from ..db import shared_session
from ..errors import NotFound
from ..identity.scopes import Scope
from ..web.smorest import Blueprint
from . import services, simulation
from .engine import Stage
from .facts import CATALOGUE
from .schemas import (ChallengerReportArgsSchema, ChallengerReportSchema, ChallengerRequestSchema, ChallengerSchema,
                      SimulationRequestSchema, SimulationSchema, ChangeRefSchema, DecisionRecordSchema, ExplanationArgsSchema, ExplanationSchema,
                      FactSchema, OverlayDiffSchema, OverlayDraftSchema, OverlayUpdateSchema, OverlayVersionSchema,
                      OverrideSchema, RuleSetInForceSchema, RuleSetQueryArgsSchema, StandardDraftSchema,
                      StandardVersionSchema, ValidationRequestSchema, ValidationResultSchema)
from .services import rule_sets_in_force  # also registers the overlay publication change kind

blp = Blueprint("decisions", __name__, url_prefix="/decisions",
                description="Decision engine: facts, rule sets in force, overlay drafts, stored decisions.")
templates_blp = Blueprint("ruleset_templates", __name__, url_prefix="/ruleset-templates", tenant_required=False,
                          description="Head-office standard rule sets (标准规则): drafts and publication.")


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


@blp.route("/overlays")
class OverlayListViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, OverlayVersionSchema(many=True))
    def get(self):
        """Every overlay version of the bank, newest first"""
        with tenant_session() as session:
            return services.list_overlays(session)

    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(OverlayDraftSchema)
    @blp.response(201, OverlayVersionSchema)
    def post(self, args: dict[str, Any]):
        """Save a new overlay draft (refused with the error's position when it does not compile)"""
        with tenant_session() as session, session.begin(), shared_session() as shared:
            return services.save_overlay_draft(session, shared, args["code"], args["overlay"],
                                               args["effective_from"])


@blp.route("/overlays/validation")
class OverlayValidationViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(ValidationRequestSchema)
    @blp.response(200, ValidationResultSchema)
    def post(self, args: dict[str, Any]):
        """Check an overlay against the latest published standard without saving it"""
        with tenant_session() as session, shared_session() as shared:
            return services.validate_overlay(session, shared, args["code"], args["overlay"])


@blp.route("/overlays/<int:version_id>")
class OverlayViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, OverlayVersionSchema)
    def get(self, version_id: int):
        """One overlay version"""
        with tenant_session() as session:
            return services.get_overlay(session, version_id)

    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(OverlayUpdateSchema)
    @blp.response(200, OverlayVersionSchema)
    def put(self, args: dict[str, Any], version_id: int):
        """Replace a draft's content (published versions never change)"""
        with tenant_session() as session, session.begin(), shared_session() as shared:
            return services.update_overlay_draft(session, shared, version_id, args["overlay"])


@blp.route("/overlays/<int:version_id>/diff")
class OverlayDiffViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, OverlayDiffSchema)
    def get(self, version_id: int):
        """What this overlay version changes in the latest published standard"""
        with tenant_session() as session, shared_session() as shared:
            return services.overlay_diff(session, shared, version_id)


@blp.route("/overlays/<int:version_id>/publication")
class OverlayPublicationViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.response(201, ChangeRefSchema)
    def post(self, version_id: int):
        """Propose publishing a draft; a second person approves it at /changes (maker-checker)"""
        with tenant_session() as session, session.begin():
            return services.propose_overlay_publication(session, version_id)


@blp.route("/records/<int:record_id>")
class DecisionRecordViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, DecisionRecordSchema)
    def get(self, record_id: int):
        """A stored decision: facts, versions, every fired rule, outcome and override"""
        with tenant_session() as session:
            return services.get_decision(session, record_id)


@blp.route("/records/<int:record_id>/explanation")
class ExplanationViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.arguments(ExplanationArgsSchema, location="query")
    @blp.response(200, ExplanationSchema)
    def get(self, args: dict[str, Any], record_id: int):
        """Why (PIPL art. 24): outcome and reasons in zh or en, for the borrower or for staff"""
        with tenant_session() as session, shared_session() as shared:
            return services.explain_decision(session, record_id, args["locale"], args["audience"], shared=shared)


@blp.route("/records/<int:record_id>/override")
class OverrideViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_DECIDE)
    @blp.arguments(OverrideSchema)
    @blp.response(200, DecisionRecordSchema)
    def post(self, args: dict[str, Any], record_id: int):
        """A person replaces the automated outcome, with a justification (audited)"""
        with tenant_session() as session, session.begin():
            return services.override_decision(session, record_id, args["outcome"], args["justification"])


@templates_blp.route("")
class StandardListViews(MethodView):
    @templates_blp.auth(Scope.RULESET_TEMPLATES_WRITE)
    @templates_blp.response(200, StandardVersionSchema(many=True))
    def get(self):
        """Every version of every standard rule set, newest first"""
        with shared_session() as shared:
            return services.list_standards(shared)

    @templates_blp.auth(Scope.RULESET_TEMPLATES_WRITE)
    @templates_blp.arguments(StandardDraftSchema)
    @templates_blp.response(201, StandardVersionSchema)
    def post(self, args: dict[str, Any]):
        """Save a standard draft (compiled first: errors give their position)"""
        with shared_session() as shared, shared.begin():
            return services.save_standard_draft(shared, args["ruleset"], args["effective_from"])


@templates_blp.route("/<int:version_id>/publication")
class StandardPublicationViews(MethodView):
    @templates_blp.auth(Scope.RULESET_TEMPLATES_WRITE)
    @templates_blp.response(200, StandardVersionSchema)
    def post(self, version_id: int):
        """Publish a standard draft; its author may not (maker-checker)"""
        with shared_session() as shared, shared.begin():
            return services.publish_standard(shared, version_id)


# --- simulation and champion/challenger (decisions/simulation.py) -------------------------------------------

@blp.route("/simulations")
class SimulationListViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, SimulationSchema(many=True))
    def get(self):
        """The latest simulation runs (100), newest first"""
        with tenant_session() as session:
            return simulation.list_simulations(session)

    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(SimulationRequestSchema)
    @blp.response(202, SimulationSchema)
    def post(self, args: dict[str, Any]):
        """Start simulating a draft overlay version over stored decisions (a job; poll the Location)"""
        with tenant_session() as session, session.begin():
            run = simulation.start_simulation(session, args["draft_version_id"], sample=args["sample"],
                                              as_of=args["as_of"])
            body = simulation.report(run)
        return body, 202, {"Location": f"{request.script_root}{request.path.rstrip('/')}/{run.id}"}


@blp.route("/simulations/<int:simulation_id>")
class SimulationViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, SimulationSchema)
    def get(self, simulation_id: int):
        """Progress and results (partial while running) of a simulation run"""
        with tenant_session() as session:
            return simulation.simulation_status(session, simulation_id)


@blp.route("/challengers")
class ChallengerListViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.response(200, ChallengerSchema(many=True))
    def get(self):
        """The challenger of each stage (shadow mode), if any"""
        with tenant_session() as session:
            return simulation.list_challengers(session)

    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(ChallengerRequestSchema)
    @blp.response(200, ChallengerSchema)
    def put(self, args: dict[str, Any]):
        """Set the challenger of the version's stage: evaluated on a share of live decisions, never deciding"""
        with tenant_session() as session, session.begin():
            return simulation.set_challenger(session, args["version_id"], args["share_percent"])


@blp.route("/challengers/<stage>")
class ChallengerViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.response(204)
    def delete(self, stage: str):
        """Stop shadow evaluation at this stage (stored shadow decisions stay)"""
        with tenant_session() as session, session.begin():
            simulation.clear_challenger(session, _stage(stage))


@blp.route("/challengers/<stage>/report")
class ChallengerReportViews(MethodView):
    @blp.auth(Scope.RULESETS_READ)
    @blp.arguments(ChallengerReportArgsSchema, location="query")
    @blp.response(200, ChallengerReportSchema)
    def get(self, args: dict[str, Any], stage: str):
        """Champion against challenger over the stored shadow decisions of a stage"""
        with tenant_session() as session:
            return simulation.challenger_report(session, _stage(stage), args["version_id"])


def _stage(text: str) -> Stage:
    try:
        return Stage(text)
    except ValueError:
        raise NotFound(f"no stage {text!r} (admission, pre_approval, approval)") from None
