"""Talent API: organisation, teams, the adopted ladder, evaluation cycles, career pages. Thin: services authorize."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ..db import tenant_session
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..identity.scopes import Scope
from ..lending.cob.dates import business_date
from ..web.smorest import Blueprint
from . import competencies, jobs, pay, schemas, scorecards, services

blp = Blueprint("talent", __name__, url_prefix="/talent",
                description="Organisation, teams, dual-track career ladders and evaluations (DOMAIN §5.1).")


def _json(value: Any) -> Any:
    """Dates and decimals in the JSON documents the services build, as strings."""
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    return value


@blp.route("/org")
class OrgViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.OrgNodeSchema(many=True))
    def get(self):
        """The org chart: units as a tree with their employees and teams"""
        with tenant_session() as session, session.begin():
            return services.org_chart(session)


@blp.route("/org-units")
class OrgUnitViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.OrgUnitCreateSchema)
    @blp.response(201, schemas.OrgUnitSchema)
    def post(self, args: dict[str, Any]):
        """Add a branch, sub-branch or department (or the head office, once)"""
        with tenant_session() as session, session.begin():
            return services.create_org_unit(session, **args)


@blp.route("/employees")
class EmployeeViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.EmployeeCreateSchema)
    @blp.response(201, schemas.EmployeeSchema)
    def post(self, args: dict[str, Any]):
        """Hire: an employee in a unit, with position, manager, grade and the platform user where they have one"""
        with tenant_session() as session, session.begin():
            return services.hire(session, **args)


@blp.route("/employees/<string:employee_no>/moves")
class EmployeeMoveViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.MoveRecordSchema(many=True))
    def get(self, employee_no: str):
        """The employee's history: hire, transfers, positions, reporting lines, grades"""
        with tenant_session() as session, session.begin():
            return services.history(session, employee_no)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.MoveSchema)
    @blp.response(200, schemas.EmployeeSchema)
    def post(self, args: dict[str, Any], employee_no: str):
        """Transfer, change position or reporting line (each recorded in the history)"""
        with tenant_session() as session, session.begin():
            return services.move(session, employee_no, **args)


@blp.route("/employees/<string:employee_no>/career")
class EmployeeCareerViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.CareerSchema)
    def get(self, employee_no: str):
        """An employee's grade, the next grade's requirements and their progress"""
        with tenant_session() as session, session.begin():
            return _json(services.employee_career(session, employee_no, business_date(session)))


@blp.route("/teams")
class TeamViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.TeamSchema(many=True))
    def get(self):
        """Teams, including cross-functional agile teams with their business and technology members"""
        with tenant_session() as session, session.begin():
            return services.teams(session)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.TeamCreateSchema)
    @blp.response(201, schemas.TeamSchema)
    def post(self, args: dict[str, Any]):
        """Create a team; an agile team needs business and technology members, a lead and a domain"""
        with tenant_session() as session, session.begin():
            team = services.create_team(session, **args)
            return next(t for t in services.teams(session) if t["code"] == team.code)


@blp.route("/ladder")
class LadderViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.FamilySchema(many=True))
    def get(self):
        """The bank's dual-track ladder: families, grades, job standards, caps and holders"""
        with tenant_session() as session, session.begin():
            return services.ladder(session)


@blp.route("/ladder/adoption")
class LadderAdoptionViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.LadderAdoptionSchema)
    @blp.response(200, schemas.TalentChangeSchema)
    def post(self, args: dict[str, Any]):
        """Propose adopting the head office's standard ladder with adjustments; a second person approves"""
        with tenant_session() as session, session.begin():
            return services.propose_adoption(session, args["overrides"])


@blp.route("/cycles")
class CycleViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.CycleSchema(many=True))
    def get(self):
        """Evaluation cycles, newest first"""
        with tenant_session() as session, session.begin():
            return services.cycles(session)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.CycleCreateSchema)
    @blp.response(201, schemas.CycleSchema)
    def post(self, args: dict[str, Any]):
        """Open an evaluation cycle with its effective date and score weights"""
        with tenant_session() as session, session.begin():
            return services.open_cycle(session, **args)


@blp.route("/cycles/<string:code>/evaluations")
class EvaluationViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.EvaluationSchema(many=True))
    def get(self, code: str):
        """The cycle's evaluations with their decisions and status"""
        with tenant_session() as session, session.begin():
            return services.evaluations(session, code)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.EvaluationCreateSchema)
    @blp.response(201, schemas.EvaluationSchema)
    def post(self, args: dict[str, Any], code: str):
        """Record scores and the committee decision; the grade changes once a second person approves"""
        with tenant_session() as session, session.begin():
            evaluation = services.propose_evaluation(session, code, args.pop("employee_no"), **args)
            return services.evaluation_document(session, evaluation)


@blp.route("/scorecard-definition")
class ScorecardDefinitionViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.ScorecardDefinitionSchema)
    def get(self):
        """The bank's current loan-officer scorecard: KPI weights, targets and the NPL promotion gate"""
        with tenant_session() as session, session.begin():
            authorize(Permission.TALENT_READ)
            return scorecards.current_definition(session)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.ScorecardDefinitionSchema)
    @blp.response(201, schemas.ScorecardDefinitionSchema)
    def post(self, args: dict[str, Any]):
        """A new version of the scorecard (older scorecards keep theirs)"""
        with tenant_session() as session, session.begin():
            return scorecards.set_definition(session, args)


@blp.route("/scorecards")
class ScorecardViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(200, schemas.ScorecardSchema(many=True))
    def get(self, args: dict[str, Any]):
        """Loan-officer scorecards of a month, best score first"""
        with tenant_session() as session, session.begin():
            return scorecards.scorecards(session, args["period"])

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(202)
    def post(self, args: dict[str, Any]):
        """Recompute a month's scorecards in the background (the monthly job does the same)"""
        with tenant_session() as session, session.begin():
            authorize(Permission.TALENT_MANAGE)
            scorecards.period_bounds(args["period"])
        jobs.recompute_scorecards.send(args["period"])
        return None


@blp.route("/competencies")
class CompetencyViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.CompetencyDimensionSchema(many=True))
    def get(self):
        """The bank's competency model: dimensions, behavioural anchors per level, levels each grade expects"""
        with tenant_session() as session, session.begin():
            return competencies.competency_model(session)


@blp.route("/competencies/adoption")
class CompetencyAdoptionViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.CompetencyAdoptionSchema)
    @blp.response(200, schemas.TalentChangeSchema)
    def post(self, args: dict[str, Any]):
        """Propose adopting the head office's competency model with adjustments; a second person approves"""
        with tenant_session() as session, session.begin():
            return competencies.propose_adoption(session, args["overrides"])


@blp.route("/pay/bands")
class PayBandListViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.PayBandSchema(many=True))
    def get(self):
        """Pay bands per grade with their steps"""
        with tenant_session() as session, session.begin():
            return pay.bands(session)


@blp.route("/pay/bands/<string:grade>")
class PayBandViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.PayBandSchema)
    @blp.response(200, schemas.PayBandSchema)
    def put(self, args: dict[str, Any], grade: str):
        """Set a grade's pay band: minimum, midpoint, maximum and the steps (audited)"""
        with tenant_session() as session, session.begin():
            band = pay.set_band(session, grade, **args)
            return pay.band_document(band, grade)


@blp.route("/employees/<string:employee_no>/pay-step")
class PayStepViews(MethodView):
    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.PayStepSchema)
    @blp.response(200, schemas.PayStepSchema)
    def put(self, args: dict[str, Any], employee_no: str):
        """Put the employee on another step of their grade's pay band"""
        with tenant_session() as session, session.begin():
            return pay.set_pay_step(session, employee_no, args["pay_step"])


@blp.route("/pay/policy")
class PayPolicyViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.response(200, schemas.PayPolicySchema)
    def get(self):
        """The bank's current variable-pay parameters"""
        with tenant_session() as session, session.begin():
            authorize(Permission.TALENT_READ)
            return pay.current_policy(session)

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.PayPolicySchema)
    @blp.response(201, schemas.PayPolicySchema)
    def post(self, args: dict[str, Any]):
        """A new version of the variable-pay parameters (older pay keeps its version)"""
        with tenant_session() as session, session.begin():
            return pay.set_policy(session, args["params"])


@blp.route("/pay")
class OfficerPayViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(200, schemas.OfficerPaySchema(many=True))
    def get(self, args: dict[str, Any]):
        """Loan officers' pay of a month with the explanation of each figure"""
        with tenant_session() as session, session.begin():
            return pay.officer_pay(session, args["period"])

    @blp.auth(Scope.TALENT_WRITE)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(200, schemas.OfficerPaySchema(many=True))
    def post(self, args: dict[str, Any]):
        """(Re)compute the month's officer pay from its scorecards"""
        with tenant_session() as session, session.begin():
            pay.recompute(session, args["period"])
            return pay.officer_pay(session, args["period"])


@blp.route("/productivity")
class ProductivityViews(MethodView):
    @blp.auth(Scope.TALENT_READ)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(200, schemas.ProductivitySchema)
    def get(self, args: dict[str, Any]):
        """Loans per officer and portfolio per officer of a month, by reporting's KPI definitions"""
        with tenant_session() as session, session.begin():
            return scorecards.productivity(session, args["period"])
