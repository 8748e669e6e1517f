"""Employee 360 pages (phone-first) for compliance staff: the dashboard of a month and one employee's drill-down to
the evidence. Both go through the services, so each view is authorized and audited exactly as through the API."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for

from ...db import tenant_session
from ...errors import DomainError, NotFound
from ...identity.permissions import Permission
from ...identity.portal import permission_required
from ...identity.principal import CurrentPrincipal
from ...lending.cob.dates import business_date
from ...portal.nav import N_, NavLink, register_nav
from . import services
from .models import DIMENSIONS, LEVELS

blueprint = Blueprint("risk360", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/risk360", url_prefix="/employee-risk")

DIMENSION_LABELS = {"risk": N_("Risk"), "compliance": N_("Compliance"), "discipline": N_("Discipline"),
                    "technology": N_("Technology")}
LEVEL_LABELS = {"green": N_("Green"), "yellow": N_("Yellow"), "orange": N_("Orange"), "red": N_("Red")}
SOURCE_LABELS = {"loans": N_("Loans originated"), "findings": N_("Recorded findings"),
                 "audit_log": N_("Audit log"), "staff_session": N_("Login records"), "import": N_("Imported file")}


def _period(session) -> str:
    asked = request.args.get("period", "").strip()
    if asked:
        return services.check_period(asked)
    return services.latest_period(session) or business_date(session).strftime("%Y-%m")


def _labels() -> dict:
    return {"dimensions": DIMENSION_LABELS, "levels": LEVEL_LABELS, "sources": SOURCE_LABELS,
            "dimension_order": DIMENSIONS, "level_order": LEVELS}


@blueprint.get("")
@permission_required(Permission.EMPLOYEE_RISK_READ)
def dashboard() -> tuple[str, int]:
    """The month's 360 scores, worst first, with counts per level (this view is audited)."""
    level = request.args.get("level") or None
    error, rows, status = None, [], 200
    with tenant_session() as session, session.begin():
        try:
            period = _period(session)
            rows = services.dashboard(session, period, level=level)
        except DomainError as exc:
            period, error, status = request.args.get("period", ""), str(exc), 422
    counts = {lv: sum(r["level"] == lv for r in rows) for lv in LEVELS}
    can_compute = CurrentPrincipal.get().has(Permission.EMPLOYEE_RISK_MANAGE)
    return render_template("risk360/dashboard.html", rows=rows, period=period, level=level, counts=counts,
                           error=error, can_compute=can_compute, **_labels()), status


@blueprint.post("/compute")
@permission_required(Permission.EMPLOYEE_RISK_MANAGE)
def compute() -> Response | tuple[str, int]:
    """Compute the month now with the current model, then show it."""
    period = request.form.get("period", "")
    try:
        with tenant_session() as session, session.begin():
            services.recompute(session, period)
    except DomainError as exc:
        return render_template("risk360/dashboard.html", rows=[], period=period, level=None,
                               counts=dict.fromkeys(LEVELS, 0), error=str(exc), can_compute=True,
                               **_labels()), 422
    return redirect(url_for("risk360.dashboard", period=period), 303)


@blueprint.get("/employee")
@permission_required(Permission.EMPLOYEE_RISK_READ)
def employee() -> tuple[str, int]:
    """One employee (``?no=``): dimension scores, hits with their evidence, history and authorisations (audited);
    without ``no``, a form to look one up."""
    number = request.args.get("no", "").strip()
    view, error, status = None, None, 200
    with tenant_session() as session, session.begin():
        try:
            period = _period(session)
            if number:
                view = services.employee_view(session, number, period)
        except NotFound as exc:
            period, error, status = request.args.get("period", ""), str(exc), 404
        except DomainError as exc:
            period, error, status = request.args.get("period", ""), str(exc), 422
    return render_template("risk360/employee.html", view=view, number=number, period=period, error=error,
                           **_labels()), status


@blueprint.route("/import", methods=("GET", "POST"))
@permission_required(Permission.EMPLOYEE_RISK_MANAGE)
def import_file() -> tuple[str, int]:
    """Upload a CSV of outside signals; a refused file is shown with each row's errors (nothing was imported)."""
    done, errors, error, status = None, {}, None, 200
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            with tenant_session() as session, session.begin():
                batch = services.import_signals(session, upload.filename if upload else "",
                                                upload.read() if upload else b"")
                done = {"rows": batch.rows, "filename": batch.filename}
        except services.ImportRefused as refused:
            errors, status = refused.errors, 422
        except DomainError as exc:
            error, status = str(exc), 422
    return render_template("risk360/import.html", done=done, errors=errors, error=error,
                           columns=services.IMPORT_COLUMNS, **_labels()), status


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("risk360.dashboard", N_("Employee 360"), Permission.EMPLOYEE_RISK_READ, order=85))
