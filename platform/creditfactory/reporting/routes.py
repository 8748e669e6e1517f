"""Reporting API: regulator reports (regulator clients) and KPI benchmarks (head office), both across banks."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from ..db import shared_session
from ..identity.scopes import Scope
from ..web.smorest import Blueprint
from . import regulatory, services
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
        """The regulator report as of a date: each bank's figures and the consolidated view (JSON, CSV or XLSX)"""
        with shared_session() as session, session.begin():
            report = services.pull_regulatory_report(session, as_of=args["as_of"], tenants=args["tenant"],
                                                     fmt=args["format"])
        return report if args["format"] == "json" else download(report, args["format"])


@benchmarks_blp.route("/kpis")
class BenchmarkViews(MethodView):
    @benchmarks_blp.auth(Scope.BENCHMARKS_READ)
    @benchmarks_blp.arguments(BenchmarkQuerySchema, location="query")
    @benchmarks_blp.response(200)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Each bank's latest KPI snapshot with the case's reference lines"""
        with shared_session() as session, session.begin():
            return services.benchmark(session, period_kind=args["period"])
