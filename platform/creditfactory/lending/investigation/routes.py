"""Investigation API: visits, photos, the worksheet and its live analysis."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask.views import MethodView

from ...db import CurrentTenant, tenant_session
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from . import services
from .schemas import (
    AnalysisSchema, LiveAnalysisSchema, PhotoPostSchema, PhotoSchema, PhotoUploadFileSchema, PhotoUploadFormSchema,
    VisitPostSchema, VisitSchema, WorksheetPutSchema, WorksheetSchema,
)

blp = Blueprint("investigations", __name__, url_prefix="/investigations",
                description="IPC investigation (贷前调查): visits, photos, worksheets and their analysis.")


def today() -> dt.date:
    """Today in the bank's time zone: the visit date the analysis assumes unless told."""
    return dt.datetime.now(ZoneInfo(CurrentTenant.get().timezone)).date()


def worksheet_json(saved: services.SavedWorksheet | None = None, *, worksheet=None, snapshot=None) -> dict[str, Any]:
    worksheet = saved.worksheet if saved else worksheet
    snapshot = saved.snapshot if saved else snapshot
    return {"application_id": worksheet.application_id, "version": worksheet.version,
            "complete": worksheet.complete, "investigator": worksheet.investigator, "saved_at": worksheet.saved_at,
            "data": worksheet.data, "analysis": snapshot.result, "parameters": snapshot.parameters,
            "industry_profile": (worksheet.data or {}).get("industry_profile"),
            "advanced": saved.advanced if saved else False}


@blp.route("/<int:application_id>/analysis")
class LiveAnalysisViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(LiveAnalysisSchema)
    @blp.response(200, AnalysisSchema)
    def post(self, args: dict[str, Any], application_id: int) -> dict[str, Any]:
        """Analyse a worksheet without saving it (live feedback while the officer fills it in)"""
        from ..origination.services import analyse_worksheet

        with tenant_session() as session:
            analysis, _ = analyse_worksheet(session, application_id, args["worksheet"],
                                            visit_date=args["visit_date"] or today())
        return analysis.as_dict()


@blp.route("/<int:application_id>/worksheet")
class WorksheetViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, WorksheetSchema)
    def get(self, application_id: int) -> dict[str, Any]:
        """The latest saved worksheet version with its analysis snapshot"""
        with tenant_session() as session:
            latest = services.latest_worksheet(session, application_id)
        if latest is None:
            from ...errors import NotFound
            raise NotFound(f"no worksheet has been saved for application {application_id}")
        return worksheet_json(worksheet=latest[0], snapshot=latest[1])

    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(WorksheetPutSchema)
    @blp.response(200, WorksheetSchema)
    def put(self, args: dict[str, Any], application_id: int) -> dict[str, Any]:
        """Save the next worksheet version and its analysis; the caller is recorded as investigator"""
        # The product's tolerances, the sector profile and the INVESTIGATING → ANALYSED transition (with the
        # pre-approval stage) come from the origination process.
        from ..origination.services import save_investigation

        with tenant_session() as session, session.begin():
            saved = save_investigation(session, application_id, args["worksheet"],
                                       visit_date=args["visit_date"] or today(), base_version=args["base_version"])
            return worksheet_json(saved)


@blp.route("/<int:application_id>/visits")
class VisitViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, VisitSchema(many=True))
    def get(self, application_id: int) -> list:
        """On-site visits to the application's customer"""
        with tenant_session() as session:
            return services.list_visits(session, application_id)

    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(VisitPostSchema)
    @blp.response(200, VisitSchema)
    def post(self, args: dict[str, Any], application_id: int):
        """Record an on-site visit led by the caller (time, GPS location, notes, second officer)"""
        with tenant_session() as session, session.begin():
            return services.record_visit(session, application_id, **args)


@blp.route("/visits/<int:visit_id>/photos")
class PhotoViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, PhotoSchema(many=True))
    def get(self, visit_id: int) -> list:
        """Photos attached to a visit (file-store keys and metadata)"""
        with tenant_session() as session:
            return services.photos_of(session, visit_id)

    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(PhotoPostSchema)
    @blp.response(200, PhotoSchema)
    def post(self, args: dict[str, Any], visit_id: int):
        """Attach a photo already in the file store, by its SHA-256 key; the same file twice is one photo"""
        with tenant_session() as session, session.begin():
            return services.add_photo(session, visit_id, **args)


@blp.route("/visits/<int:visit_id>/photos/upload")
class PhotoUploadViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_INVESTIGATE)
    @blp.arguments(PhotoUploadFormSchema, location="form")
    @blp.arguments(PhotoUploadFileSchema, location="files")
    @blp.response(201, PhotoSchema)
    def post(self, form: dict[str, Any], files: dict[str, Any], visit_id: int):
        """Upload a visit photo (multipart: subject, caption, file) into the file store and attach it to the visit"""
        from ..origination.services import upload_visit_photo

        with tenant_session() as session, session.begin():
            return upload_visit_photo(session, visit_id, files["file"].read(), subject=form["subject"],
                                      caption=form["caption"])
