"""Employee 360 risk API under ``/employee-risk``. Thin: the services authorize and audit every view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...db import tenant_session
from ...identity.scopes import Scope
from ...lending.cob.dates import business_date
from ...web.errors import abort_problem
from ...web.smorest import Blueprint
from . import schemas, services
from .models import LEVELS

blp = Blueprint("employee_risk", __name__, url_prefix="/employee-risk",
                description="Employee 360 risk view: model, authorisations, findings, imports, scores (DOMAIN §5.4).")


@blp.route("/model")
class ModelViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_READ)
    @blp.arguments(schemas.ModelArgsSchema, location="query")
    @blp.response(200, schemas.ModelSchema)
    def get(self, args: dict[str, Any]):
        """The 360 model: indicators with thresholds, weights and severities, dimension weights, level bands"""
        with tenant_session() as session, session.begin():
            return services.get_model(session, args.get("version"))

    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.arguments(schemas.ModelPutSchema)
    @blp.response(201, schemas.ModelSchema)
    def post(self, args: dict[str, Any]):
        """Publish a new model version (scores already computed keep theirs)"""
        with tenant_session() as session, session.begin():
            return services.model_doc(services.set_model(session, args))


@blp.route("/scores")
class ScoreViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_READ)
    @blp.arguments(schemas.DashboardArgsSchema, location="query")
    @blp.response(200, schemas.ScoreRowSchema(many=True))
    def get(self, args: dict[str, Any]):
        """The 360 dashboard of a month: every employee's dimension scores, total and level, worst first (audited)"""
        with tenant_session() as session, session.begin():
            return services.dashboard(session, args["period"], level=args.get("level"))


@blp.route("/computations")
class ComputationViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.arguments(schemas.PeriodArgsSchema)
    @blp.response(201, schemas.ComputationSchema)
    def post(self, args: dict[str, Any]):
        """Compute a month's hits and scores now with the current model (the job does the same in the background)"""
        with tenant_session() as session, session.begin():
            scores = services.recompute(session, args["period"])
            return {"period": args["period"], "employees": len(scores),
                    "levels": {level: sum(s.level == level for s in scores) for level in LEVELS}}


@blp.route("/employees/<string:employee_no>")
class EmployeeRiskViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_READ)
    @blp.arguments(schemas.PeriodArgsSchema, location="query")
    @blp.response(200, schemas.EmployeeRiskSchema)
    def get(self, args: dict[str, Any], employee_no: str):
        """One employee's drill-down: dimension scores, hits with evidence, history, authorisations (audited)"""
        with tenant_session() as session, session.begin():
            return services.employee_view(session, employee_no, args["period"])


@blp.route("/consents")
class ConsentViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.arguments(schemas.ConsentCreateSchema)
    @blp.response(201, schemas.RiskConsentSchema)
    def post(self, args: dict[str, Any]):
        """Record an employee's signed authorisation for bureau or fund-flow checks, with its validity"""
        with tenant_session() as session, session.begin():
            consent = services.record_consent(session, **args)
            return services.consent_doc(consent, args["employee_no"], business_date(session))


@blp.route("/consents/<int:consent_id>/revocation")
class ConsentRevocationViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.response(200, schemas.RiskConsentSchema)
    def post(self, consent_id: int):
        """The employee withdrew the authorisation: imports for them are refused from today"""
        with tenant_session() as session, session.begin():
            consent = services.revoke_consent(session, consent_id)
            number = services.employee_no_of(session, consent.employee_id)
            return services.consent_doc(consent, number, business_date(session))


@blp.route("/findings")
class FindingViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.arguments(schemas.FindingCreateSchema)
    @blp.response(201, schemas.FindingSchema)
    def post(self, args: dict[str, Any]):
        """Record an audit finding, violation points, a disciplinary action or an unauthorised operation"""
        with tenant_session() as session, session.begin():
            return services.record_finding(session, **args)


@blp.route("/imports")
class ImportViews(MethodView):
    @blp.auth(Scope.EMPLOYEE_RISK_WRITE)
    @blp.arguments(schemas.ImportFileSchema, location="files")
    @blp.response(201, schemas.ImportSchema)
    def post(self, files: dict[str, Any]):
        """Import outside signals (CSV); the whole file is refused, with each row's errors, if any row is bad or
        names an employee without an active authorisation"""
        upload = files["file"]
        try:
            with tenant_session() as session, session.begin():
                return services.import_signals(session, upload.filename or "upload.csv", upload.read())
        except services.ImportRefused as refused:
            abort_problem(422, str(refused), errors=refused.errors)
