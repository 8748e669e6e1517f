"""Applications API: intake (Idempotency-Key), queues, case with history, transitions, decisions, committee sessions,
approval authority proposals. Thin: the services check permissions, duties and states."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from ...db import tenant_session
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from . import authority, schemas, services
from .models import LoanApplication
from .states import Event

blp = Blueprint("applications", __name__, url_prefix="/applications",
                description="Loan applications from every channel, their state machine, review and approval.")
committee_blp = Blueprint("committee_sessions", __name__, url_prefix="/committee-sessions",
                          description="Credit-committee sessions (审贷会): members, cases, votes, decisions.")
authority_blp = Blueprint("approval_authority", __name__, url_prefix="/approval-authority",
                          description="The approval authority matrix, changed through maker-checker.")

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Built once: a schema's construction copies every field.
_APPLICATION = schemas.ApplicationSchema()


def _json(body: Any, status: int = 200) -> flask.Response:
    # Bodies are dumped here already (the first response of an idempotent create is stored as sent), so the
    # documented schema is not applied twice.
    response = flask.jsonify(body)
    response.status_code = status
    return response


def detail(session, application: LoanApplication) -> dict[str, Any]:
    body = schemas.ApplicationSchema().dump(application)
    body["history"] = schemas.HistorySchema(many=True).dump(services.history(session, application))
    body["decisions"] = schemas.DecisionSchema(many=True).dump(services.decisions(session, application))
    body["sla"] = schemas.SlaSchema().dump(services.sla_status(session, application))
    body["turnaround"] = services.turnaround(session, application)
    from ..origination.services import stage_records
    body["engine"] = schemas.EngineDecisionSchema(many=True).dump(list(stage_records(session, application.id).values()))
    return body


@blp.route("")
class ApplicationsViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_WRITE)
    @blp.arguments(schemas.ApplicationCreateSchema)
    @blp.response(201, schemas.ApplicationSchema)
    @blp.doc(parameters=[{"in": "header", "name": IDEMPOTENCY_HEADER, "required": True, "schema": {"type": "string"},
                          "description": "A retry with the same key and body returns the first response"}])
    def post(self, data: dict[str, Any]):
        """Register an application (any channel); idempotent per Idempotency-Key"""
        key = flask.request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            raise services.ApplicationError(f"the {IDEMPOTENCY_HEADER} header is required, so retries never "
                                            "register an application twice")
        data = {**data, "amount": str(data["amount"])}
        with tenant_session() as session, session.begin():
            application, replay = services.create_application(session, data, idempotency_key=key)
            if replay is not None:
                return _json(replay, 201)
            body = _APPLICATION.dump(application)
            services.remember_response(session, key, application, body)
        return _json(body, 201)

    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.arguments(schemas.ApplicationQuerySchema, location="query")
    @blp.response(200, schemas.ApplicationSchema(many=True))
    def get(self, args: dict[str, Any]):
        """Applications, newest first: filter by state, assignee, officer, channel, or a queue"""
        with tenant_session() as session:
            return services.list_applications(session, **args)


@blp.route("/<int:application_id>")
class ApplicationViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def get(self, application_id: int):
        """One application with its state history, decisions, SLA timer and turnaround"""
        with tenant_session() as session:
            return _json(detail(session, services.get_application(session, application_id)))


def _fire(application_id: int, event: Event, reason: str):
    with tenant_session() as session, session.begin():
        application = services.fire(session, application_id, event, reason)
        return _json(detail(session, application))


@blp.route("/<int:application_id>/prescreen")
class PrescreenViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_WRITE)
    @blp.arguments(schemas.PrescreenSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """Record the pre-screen (consents captured; blacklist, bureau, age, sector): APPLIED → PRE_SCREENED or REJECTED"""
        return _fire(application_id, Event.PRESCREEN_PASS if data["passed"] else Event.PRESCREEN_FAIL, data["reason"])


@blp.route("/<int:application_id>/visit")
class VisitViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(schemas.ReasonSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """Start the on-site investigation (PRE_SCREENED → INVESTIGATING); the caller becomes its investigator"""
        return _fire(application_id, Event.SCHEDULE_VISIT, data["reason"])


@blp.route("/<int:application_id>/submit")
class SubmitViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(schemas.ReasonSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """Submit the analysed case to the middle office (ANALYSED → IN_REVIEW)"""
        return _fire(application_id, Event.SUBMIT, data["reason"])


@blp.route("/<int:application_id>/return")
class ReturnViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_DECIDE)
    @blp.arguments(schemas.ReasonSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """Return a case in review for more investigation (IN_REVIEW → INVESTIGATING), with the reason"""
        return _fire(application_id, Event.RETURN, data["reason"])


@blp.route("/<int:application_id>/cancel")
class CancelViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_WRITE)
    @blp.arguments(schemas.ReasonSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """The customer withdraws: any pre-contract state → CANCELLED, with the reason"""
        return _fire(application_id, Event.CANCEL, data["reason"])


@blp.route("/<int:application_id>/decision")
class DecisionViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_DECIDE)
    @blp.arguments(schemas.DecideSchema)
    @blp.response(200, schemas.ApplicationDetailSchema)
    def post(self, data: dict[str, Any], application_id: int):
        """A single approver's decision (approve / reject / return) within their approval authority"""
        with tenant_session() as session, session.begin():
            services.decide(session, application_id, data["decision"], data["reasons"])
            return _json(detail(session, services.get_application(session, application_id)))


def session_body(session, committee) -> dict[str, Any]:
    body = schemas.SessionSchema().dump(committee)
    body["members"] = services.session_members(session, committee)
    cases = []
    for case in services.session_cases(session, committee):
        item = schemas.CommitteeCaseSchema().dump(case)
        item["votes"] = schemas.VoteSchema(many=True).dump(
            services.case_votes(session, committee.id, case.application_id))
        cases.append(item)
    body["cases"] = cases
    return body


@committee_blp.route("")
class SessionsViews(MethodView):
    @committee_blp.auth(Scope.APPLICATIONS_DECIDE)
    @committee_blp.arguments(schemas.SessionCreateSchema)
    @committee_blp.response(201, schemas.SessionSchema)
    def post(self, data: dict[str, Any]):
        """Open a committee session with its members and quorum"""
        with tenant_session() as session, session.begin():
            committee = services.create_session(session, data["meeting_date"], data["member_ids"], data["quorum"])
            return _json(session_body(session, committee), 201)


@committee_blp.route("/<int:session_id>")
class SessionViews(MethodView):
    @committee_blp.auth(Scope.APPLICATIONS_READ)
    @committee_blp.response(200, schemas.SessionSchema)
    def get(self, session_id: int):
        """A session: members, cases, votes and decisions"""
        with tenant_session() as session:
            return _json(session_body(session, services.get_session(session, session_id)))


@committee_blp.route("/<int:session_id>/cases")
class SessionCasesViews(MethodView):
    @committee_blp.auth(Scope.APPLICATIONS_DECIDE)
    @committee_blp.arguments(schemas.AddCaseSchema)
    @committee_blp.response(200, schemas.SessionSchema)
    def post(self, data: dict[str, Any], session_id: int):
        """Refer a case in review to the session (IN_REVIEW → IN_COMMITTEE)"""
        with tenant_session() as session, session.begin():
            services.add_case(session, session_id, data["application_id"], data["reason"])
            return _json(session_body(session, services.get_session(session, session_id)))


@committee_blp.route("/<int:session_id>/votes")
class SessionVotesViews(MethodView):
    @committee_blp.auth(Scope.APPLICATIONS_DECIDE)
    @committee_blp.arguments(schemas.CastVoteSchema)
    @committee_blp.response(200, schemas.SessionSchema)
    def post(self, data: dict[str, Any], session_id: int):
        """A member's vote on a case, with comment (dissent) and conditions"""
        with tenant_session() as session, session.begin():
            services.vote(session, session_id, data["application_id"], data["vote"], data["comment"],
                          data["conditions"])
            return _json(session_body(session, services.get_session(session, session_id)))


@committee_blp.route("/<int:session_id>/close")
class SessionCloseViews(MethodView):
    @committee_blp.auth(Scope.APPLICATIONS_DECIDE)
    @committee_blp.arguments(schemas.CloseSchema)
    @committee_blp.response(200, schemas.SessionSchema)
    def post(self, data: dict[str, Any], session_id: int):
        """Close the session: each case is decided by its votes (quorum needed), with the minutes as reasons"""
        with tenant_session() as session, session.begin():
            committee = services.close_session(session, session_id, data["minutes"])
            return _json(session_body(session, committee))


@authority_blp.route("")
class AuthorityViews(MethodView):
    @authority_blp.auth(Scope.APPLICATIONS_READ)
    @authority_blp.response(200, schemas.AuthoritySchema(many=True))
    def get(self):
        """The bank's approval authority matrix (role × product × amount × term)"""
        with tenant_session() as session:
            services.authorize(services.P.APPLICATION_READ)
            return authority.matrix(session)

    @authority_blp.auth(Scope.CONFIG_WRITE)
    @authority_blp.arguments(schemas.AuthorityProposalSchema)
    @authority_blp.response(201, schemas.AuthorityChangeRequestSchema)
    def post(self, data: dict[str, Any]):
        """Propose a row of the matrix (or its removal); a second person approves it as a change request"""
        with tenant_session() as session, session.begin():
            return authority.propose_authority(session, data["role"], data["product_code"], data["max_amount"],
                                               data["max_term_months"], remove=data["remove"])
