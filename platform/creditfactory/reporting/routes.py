"""Reporting API: regulator reports (regulator clients) and KPI benchmarks (head office), both across banks."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView

from ..db import shared_session
from ..identity.scopes import Scope
from ..web.smorest import Blueprint
from . import regulatory, services, tasks
from .schemas import BenchmarkQuerySchema, RegulatoryQuerySchema

reports_blp = Blueprint("regulatory_reports", __name__, url_prefix="/reports", tenant_required=False,
                        description="Regulator reports per legal entity and consolidated (DOMAIN §3.2–3.3).")
benchmarks_blp = Blueprint("benchmarks", __name__, url_prefix="/benchmarks", tenant_required=False,
                           description="The case's KPIs per village bank, for the head office.")

MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def download(report: dict[str, Any], fmt: str) -> Response:
    body = regulatory.to_csv(report) if fmt == "csv" else regulatory.to_xlsx(report)
    name = f"regulatory-report-{report['as_of'] or 'none'}.{fmt}"
    return Response(body, mimetype=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@reports_blp.route("/regulatory")
class RegulatoryReportViews(MethodView):
    @reports_blp.auth(Scope.REPORTS_REGULATORY)
    @reports_blp.arguments(RegulatoryQuerySchema, location="query")
    @reports_blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """The regulator report as of a date: each bank's figures and the consolidated view (JSON, CSV or XLSX);
        a large request (many banks) answers 202 with a task to poll, whose file follows"""
        report, task = services.request_regulatory_report(as_of=args["as_of"], tenants=args["tenant"],
                                                          fmt=args["format"])
        if task is not None:
            return task_answer(task), 202, {"Location": task_answer(task)["status_url"]}
        return report if args["format"] == "json" else download(report, args["format"])


def task_answer(task: dict[str, Any]) -> dict[str, Any]:
    status_url = url_for("regulatory_reports.ReportTaskViews", task_id=task["id"])
    return {**task, "status_url": status_url,
            "file_url": url_for("regulatory_reports.ReportTaskFileViews", task_id=task["id"]) if task["ready"] else None}


@reports_blp.route("/tasks/<int:task_id>")
class ReportTaskViews(MethodView):
    @reports_blp.auth(Scope.REPORTS_REGULATORY)
    @reports_blp.response(200)
    def get(self, task_id: int) -> dict[str, Any]:
        """Progress of a large report the caller asked for, and its file's address once ready"""
        with shared_session() as session:
            return task_answer(tasks.as_dict(tasks.get(session, task_id, "regulatory_report")))


@reports_blp.route("/tasks/<int:task_id>/file")
class ReportTaskFileViews(MethodView):
    @reports_blp.auth(Scope.REPORTS_REGULATORY)
    @reports_blp.response(200)
    def get(self, task_id: int) -> Response:
        """The finished file of a large report (recorded as a pull like the report itself)"""
        with shared_session() as session:
            body, name, fmt = services.report_task_file(session, task_id)
        mimetype = MEDIA.get(fmt, "application/json")
        return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@benchmarks_blp.route("/kpis")
class BenchmarkViews(MethodView):
    @benchmarks_blp.auth(Scope.BENCHMARKS_READ)
    @benchmarks_blp.arguments(BenchmarkQuerySchema, location="query")
    @benchmarks_blp.response(200)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Each bank's latest KPI snapshot with the case's reference lines"""
        with shared_session() as session, session.begin():
            return services.benchmark(session, period_kind=args["period"])
