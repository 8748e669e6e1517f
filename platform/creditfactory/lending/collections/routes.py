"""Collections and post-loan inspection API. Thin: the services authorize and do the work."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...db import tenant_session
from ...errors import NotFound
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from . import schemas, services
from .models import CollectionNotice

blp = Blueprint("collections", __name__, url_prefix="/collections",
                description="Collections: work list, cases, actions, promises to pay, notices.")
inspections_blp = Blueprint("inspections", __name__, url_prefix="/inspections",
                            description="Post-loan inspections: work list and outcomes.")


def _notice(session, notice_id: int) -> dict[str, Any]:
    notice = session.get(CollectionNotice, notice_id)
    if notice is None:
        raise NotFound(f"no collection notice {notice_id}")
    return {**{c: getattr(notice, c) for c in ("id", "case_id", "issued_on", "language", "body", "sha256",
                                                 "signature", "key_id", "receipt_signed_on", "receipt_note")},
            "valid": services.verify_notice(session, notice)}


@blp.route("/cases")
class CaseListViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.CaseQuerySchema, location="query")
    @blp.response(200, schemas.CaseRowSchema(many=True))
    def get(self, args: dict[str, Any]):
        """The collections work list: cases worst (highest DPD) first, with arrears and the stage's actions"""
        with tenant_session() as session, session.begin():
            return services.work_list(session, **args)


@blp.route("/cases/<int:case_id>")
class CaseViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.response(200, schemas.CaseDetailSchema)
    def get(self, case_id: int):
        """One case: arrears, actions log, promises to pay, notices"""
        with tenant_session() as session, session.begin():
            detail = services.case_detail(session, case_id)
            detail["reference"] = detail.pop("loan").reference
            return detail


@blp.route("/cases/<int:case_id>/assignment")
class AssignmentViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.AssignmentSchema)
    @blp.response(200, schemas.CaseSchema)
    def put(self, args: dict[str, Any], case_id: int):
        """Assign the case to a collector of this bank (``null``: back to the pool)"""
        with tenant_session() as session, session.begin():
            return services.assign(session, case_id, args["collector_id"])


@blp.route("/cases/<int:case_id>/actions")
class ActionViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.ActionSchema)
    @blp.response(201, schemas.ActionSchema)
    def post(self, args: dict[str, Any], case_id: int):
        """Log a collection action (call, visit, guarantor contact...) with the reason for the arrears"""
        with tenant_session() as session, session.begin():
            return services.log_action(session, case_id, **args)


@blp.route("/cases/<int:case_id>/promises")
class PromiseViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.PromiseSchema)
    @blp.response(201, schemas.PromiseSchema)
    def post(self, args: dict[str, Any], case_id: int):
        """Record a promise to pay; the daily review marks it kept or broken"""
        with tenant_session() as session, session.begin():
            return services.promise(session, case_id, amount=args["amount"], promised_date=args["promised_date"])


@blp.route("/cases/<int:case_id>/notices")
class NoticeIssueViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.NoticeRequestSchema)
    @blp.response(201, schemas.NoticeSchema)
    def post(self, args: dict[str, Any], case_id: int):
        """Issue a written collection notice: rendered text, SHA-256 and the platform's signature"""
        with tenant_session() as session, session.begin():
            notice = services.issue_notice(session, case_id, language=args["language"])
            return _notice(session, notice.id)


@blp.route("/notices/<int:notice_id>")
class NoticeViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.response(200, schemas.NoticeSchema)
    def get(self, notice_id: int):
        """A notice's text with its hash, signature and whether both still verify"""
        from ...identity.authorization import authorize
        from ...identity.permissions import Permission

        with tenant_session() as session, session.begin():
            authorize(Permission.COLLECTION_MANAGE)
            return _notice(session, notice_id)


@blp.route("/notices/<int:notice_id>/receipt")
class ReceiptViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.arguments(schemas.ReceiptSchema)
    @blp.response(200, schemas.NoticeSchema)
    def put(self, args: dict[str, Any], notice_id: int):
        """The borrower's signed receipt came back (回执): the date it was signed"""
        with tenant_session() as session, session.begin():
            services.record_receipt(session, notice_id, signed_on=args["signed_on"], note=args["note"])
            return _notice(session, notice_id)


@blp.route("/review")
class ReviewViews(MethodView):
    @blp.auth(Scope.COLLECTIONS_WRITE)
    @blp.response(200, schemas.ReviewSchema)
    def post(self):
        """Run the daily review now (it also runs as a scheduled job); idempotent"""
        with tenant_session() as session, session.begin():
            return services.review(session)


@inspections_blp.route("")
class InspectionListViews(MethodView):
    @inspections_blp.auth(Scope.LOANS_READ)
    @inspections_blp.arguments(schemas.InspectionQuerySchema, location="query")
    @inspections_blp.response(200, schemas.InspectionRowSchema(many=True))
    def get(self, args: dict[str, Any]):
        """The inspection work list: pending inspections earliest first (``pending=false``: performed ones)"""
        with tenant_session() as session, session.begin():
            return services.inspection_list(session, **args)


@inspections_blp.route("/<int:inspection_id>")
class InspectionViews(MethodView):
    @inspections_blp.auth(Scope.LOANS_WRITE)
    @inspections_blp.arguments(schemas.InspectionRecordSchema)
    @inspections_blp.response(200, schemas.InspectionSchema)
    def post(self, args: dict[str, Any], inspection_id: int):
        """Record a performed inspection; concern / risk outcomes feed classification (a floor COB proposes)"""
        with tenant_session() as session, session.begin():
            return services.record_inspection(session, inspection_id, **args)
