"""Head-office benchmarking dashboard (对标分析) and the regulator portal (监管报表) pages.

Every figure is read through the same authorized and audited services as the API (``reporting.services``): the
dashboard through ``benchmark`` / ``benchmark_trends``, the regulator pages through ``pull_regulatory_report``
and ``request_regulatory_report``, which sends a large request to a job with a progress page. Charts are SVG
built on the server (``reporting.charts``); the pages need no script.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import text

from ..db import shared_session
from ..errors import DomainError, NotFound
from ..identity.permissions import Permission
from ..identity.portal import permission_required
from ..portal.nav import N_, NavLink, register_nav
from ..web.errors import abort_problem
from . import charts, kpis, regulatory, services, tasks

blueprint = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/console")

#: KPI names as the console shows them.
METRIC_LABELS = {
    "loans_per_officer": N_("Loans per officer"),
    "portfolio_per_officer": N_("Portfolio per officer"),
    "officers": N_("Officers"),
    "turnaround_median_days": N_("Turnaround, median days"),
    "turnaround_p90_days": N_("Turnaround, 90th percentile days"),
    "online_approval_share": N_("Online approval share"),
    "auto_decision_rate": N_("Automatic decision rate"),
    "decline_review_days": N_("Days to decline, median"),
    "gross_loans": N_("Gross loans"),
    "npl_balance": N_("NPL balance"),
    "npl_ratio": N_("NPL ratio"),
    "par30": N_("PAR 30"),
    "par90": N_("PAR 90"),
    "provisions": N_("Provisions"),
    "provision_coverage": N_("Provision coverage"),
    "loan_provision_ratio": N_("Loan-provision ratio"),
    "disbursed_volume": N_("Disbursed volume"),
    "disbursed_count": N_("Loans disbursed"),
    "customers_served": N_("Customers served"),
    "cold_visit_success_rate": N_("Cold-visit success rate"),
}
REFERENCE_LABELS = {"before": N_("before"), "after": N_("after"), "limit": N_("limit"), "floor": N_("floor"),
                    "head office": N_("head office"), "village banks": N_("village banks"),
                    "floor (before 2018)": N_("floor (before 2018)")}
#: KPIs where the lower value ranks first.
LOWER_IS_BETTER = frozenset({"turnaround_median_days", "turnaround_p90_days", "decline_review_days", "npl_ratio",
                             "par30", "par90", "npl_balance"})
SECTIONS = ("five_tier", "ratios", "concentration", "par_buckets", "inclusive", "interest_rates")
SECTION_LABELS = {"five_tier": N_("Five-tier classification"), "ratios": N_("Asset quality ratios"),
                  "concentration": N_("Concentration"), "par_buckets": N_("Days past due"),
                  "inclusive": N_("Inclusive micro and small loans"), "interest_rates": N_("Interest rates")}
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "json": "application/json"}


def _reference_labels() -> dict[str, str]:
    return {key: gettext(label) for key, label in REFERENCE_LABELS.items()}


def league(values: dict[str, dict[str, Decimal | None]], metric: str) -> list[dict[str, Any]]:
    """Banks ranked on ``metric`` (best first; banks without a value last, unranked)."""
    known = sorted(((slug, row.get(metric)) for slug, row in values.items() if row.get(metric) is not None),
                   key=lambda item: (item[1] if metric in LOWER_IS_BETTER else -item[1], item[0]))
    missing = sorted(slug for slug, row in values.items() if row.get(metric) is None)
    return ([{"rank": i, "tenant": slug, "value": value} for i, (slug, value) in enumerate(known, 1)]
            + [{"rank": None, "tenant": slug, "value": None} for slug in missing])


def _period() -> str:
    return request.args.get("period") if request.args.get("period") in ("day", "month") else "month"


@blueprint.get("/head-office/benchmarks", endpoint="benchmarks")
@permission_required(Permission.BENCHMARK_READ)
def benchmarks_page() -> str:
    """One KPI's league table of the banks, its trend per bank and its distribution against the reference lines."""
    metric = request.args.get("metric") if request.args.get("metric") in kpis.METRICS else kpis.METRICS[0]
    period = _period()
    with shared_session() as session:
        data = services.benchmark(session, period_kind=period)
        trends = services.benchmark_trends(session, metric=metric, period_kind="day")
    values = {row["tenant"]: row["values"] for row in data["tenants"]}
    table = league(values, metric)
    references = kpis.REFERENCES.get(metric, ())
    title = gettext(METRIC_LABELS[metric])
    trend = charts.trend_chart(gettext("%(kpi)s over time, per bank", kpi=title), metric,
                               {slug: by_metric.get(metric, []) for slug, by_metric in trends.items()},
                               references, _reference_labels())
    distribution = charts.distribution_chart(gettext("%(kpi)s by bank", kpi=title), metric,
                                             [(row["tenant"], row["value"]) for row in table], references,
                                             _reference_labels())
    return render_template("console/benchmarks.html", metric=metric, period=period, table=table, trend=trend,
                           distribution=distribution, metrics=kpis.METRICS, labels=METRIC_LABELS,
                           references=references, reference_labels=_reference_labels(), fmt=charts.format_value,
                           lower_is_better=metric in LOWER_IS_BETTER, banks=sorted(values))


@blueprint.get("/head-office/benchmarks/bank", endpoint="benchmark_bank")
@permission_required(Permission.BENCHMARK_READ)
def benchmark_bank_page() -> str:
    """Drill-down: one bank's trend for every KPI (the bank is chosen from the list when none is named)."""
    slug = request.args.get("tenant", "")
    with shared_session() as session:
        if not slug:
            banks = sorted(services.latest(session))
            return render_template("console/benchmark_bank.html", slug=None, banks=banks, panels=[])
        series = services.benchmark_trends(session, tenant=slug, period_kind="day").get(slug)
    if series is None:
        abort_problem(404, gettext("No KPI snapshots of bank %(bank)s.", bank=slug))
    panels = []
    for metric in kpis.METRICS:
        line = series.get(metric, [])
        title = gettext(METRIC_LABELS[metric])
        latest = line[-1][1] if line else None
        panels.append({"metric": metric, "title": title, "latest": charts.format_value(latest, metric),
                       "chart": charts.trend_chart(title, metric, {slug: line}, kpis.REFERENCES.get(metric, ()),
                                                   _reference_labels())})
    return render_template("console/benchmark_bank.html", slug=slug, banks=[], panels=panels)


@blueprint.get("/head-office/benchmarks/export", endpoint="benchmark_export")
@permission_required(Permission.BENCHMARK_READ)
def benchmark_export() -> Response:
    """The banks' latest KPIs as a table (one row per bank, one column per KPI), CSV (default) or XLSX."""
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    period = _period()
    with shared_session() as session:
        data = services.benchmark(session, period_kind=period)
    header = ["tenant", *data["metrics"]]
    rows = [[row["tenant"], *("" if row["values"].get(m) is None else str(row["values"][m]) for m in data["metrics"])]
            for row in data["tenants"]]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        body = buffer.getvalue().encode("utf-8-sig")
    else:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("kpis")
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        workbook.save(out)
        body = out.getvalue()
    name = f"kpi-benchmark-{period}-{dt.date.today().isoformat()}.{fmt}"
    return Response(body, mimetype=MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- regulator portal ------------------------------------------------------------------------------------------


def _report_arguments(source) -> tuple[dt.date | None, list[str] | None]:
    raw = (source.get("as_of") or "").strip()
    try:
        as_of = dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        raise DomainError(gettext("The as-of date must be a date (YYYY-MM-DD).")) from None
    chosen = [slug for slug in source.getlist("tenant") if slug]
    return as_of, chosen or None


def _banks(session) -> list[str]:
    return list(session.execute(text("SELECT slug FROM cf_shared.tenant WHERE status IN ('active', 'suspended') "
                                      "ORDER BY slug")).scalars())


@blueprint.get("/regulator/reports", endpoint="regulator_reports")
@permission_required(Permission.REPORT_REGULATORY_READ)
def regulator_reports_page() -> tuple[str, int]:
    """Choose banks (or all, consolidated) and an as-of date; view the report, or download it as CSV or XLSX."""
    report, error = None, None
    with shared_session() as session:
        banks = _banks(session)
        if request.args.get("view"):
            try:
                as_of, chosen = _report_arguments(request.args)
                report = services.pull_regulatory_report(session, as_of=as_of, tenants=chosen, fmt="html")
            except (DomainError, NotFound) as problem:
                error = str(problem)
    return render_template("console/regulator_reports.html", banks=banks, report=report, error=error,
                           chosen=set(request.args.getlist("tenant")), as_of=request.args.get("as_of", ""),
                           sections=SECTIONS, section_labels=SECTION_LABELS,
                           flatten=regulatory.flatten), (422 if error else 200)


@blueprint.post("/regulator/reports/download", endpoint="regulator_download")
@permission_required(Permission.REPORT_REGULATORY_READ)
def regulator_download() -> Response | tuple[str, int]:
    """The report as a file now, or, for a large request, a task whose progress page offers the file."""
    fmt = "xlsx" if request.form.get("format") == "xlsx" else "csv"
    try:
        as_of, chosen = _report_arguments(request.form)
        report, task = services.request_regulatory_report(as_of=as_of, tenants=chosen, fmt=fmt)
    except (DomainError, NotFound) as problem:
        with shared_session() as session:
            banks = _banks(session)
        return render_template("console/regulator_reports.html", banks=banks, report=None, error=str(problem),
                               chosen=set(request.form.getlist("tenant")), as_of=request.form.get("as_of", ""),
                               sections=SECTIONS, section_labels=SECTION_LABELS, flatten=regulatory.flatten), 422
    if task is not None:
        return redirect(url_for("console.regulator_task", id=task["id"]), code=303)
    name = f"regulatory-report-{report['as_of'] or 'none'}.{fmt}"
    return Response(services.render(report, fmt), mimetype=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.get("/regulator/reports/tasks", endpoint="regulator_task")
@permission_required(Permission.REPORT_REGULATORY_READ)
def regulator_task_page() -> str:
    """A large report's progress (the page reloads itself until it is done), or the latest such reports."""
    raw = request.args.get("id", "")
    with shared_session() as session:
        if not raw.isdigit():
            return render_template("console/regulator_task.html", task=None,
                                   recent=[tasks.as_dict(t) for t in tasks.recent(session, "regulatory_report")])
        try:
            task = tasks.as_dict(tasks.get(session, int(raw), "regulatory_report"))
        except NotFound as missing:
            abort_problem(404, str(missing))
    return render_template("console/regulator_task.html", task=task, recent=[])


@blueprint.post("/regulator/reports/tasks/file", endpoint="regulator_task_file")
@permission_required(Permission.REPORT_REGULATORY_READ)
def regulator_task_file() -> Response:
    """The finished file of a large report (recorded as a pull)."""
    raw = request.form.get("id", "")
    if not raw.isdigit():
        abort_problem(404, gettext("No such report."))
    try:
        with shared_session() as session:
            body, name, fmt = services.report_task_file(session, int(raw))
    except NotFound as missing:
        abort_problem(404, str(missing))
    except DomainError as problem:
        abort_problem(409, str(problem))
    return Response(body, mimetype=MEDIA.get(fmt, "application/octet-stream"),
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("console.benchmarks", N_("Benchmarks"), Permission.BENCHMARK_READ, order=700))
    register_nav(NavLink("console.benchmark_bank", N_("Bank trends"), Permission.BENCHMARK_READ, order=701))
    register_nav(NavLink("console.regulator_reports", N_("Regulator reports"), Permission.REPORT_REGULATORY_READ,
                         order=700))
    register_nav(NavLink("console.regulator_task", N_("Report files"), Permission.REPORT_REGULATORY_READ, order=701))
