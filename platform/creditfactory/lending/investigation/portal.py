"""Portal investigation worksheet (贷前调查表), phone first.

The form's field names are the worksheet's JSON paths (``pnl.typical.lines.0.sales``), so the same
:func:`unflatten` turns a submitted form, and the page's script turns the live form, into the worksheet the
analysis reads. Without JavaScript every submit recomputes on the server; with it, ``worksheet.js`` posts the form
to :func:`live_analysis` as the officer types and swaps in the returned results.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext

from ...db import CurrentTenant, tenant_session
from ...errors import DomainError
from ...portal.account import login_required
from ...portal.i18n import current_language
from ...portal.nav import N_
from ..calc.schedule import Method
from . import services
from .analysis import Analysis
from .questionnaire import DEFAULT_QUESTIONNAIRE

blueprint = Blueprint("investigation", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/investigation")

#: The form: (section key, legend, [(field path below the section, label)]).
SECTIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("loan", N_("Proposed loan"), [
        ("amount", N_("Amount (yuan)")), ("term_months", N_("Term (months)")),
        ("annual_rate", N_("Annual rate as a fraction (0.0612 for 6.12 per cent)")), ("start", N_("Start date")),
        ("planned_use", N_("Spent at once on stock or equipment")),
    ]),
    ("business_balance_sheet", N_("Business balance sheet"), [
        ("cash_on_hand", N_("Cash on hand")), ("bank_balances", N_("Bank balances")),
        ("receivables", N_("Receivables")), ("inventory", N_("Inventory at purchase cost")),
        ("prepayments", N_("Prepayments")), ("fixed_assets", N_("Fixed assets at market value")),
        ("supplier_payables", N_("Supplier payables")), ("advances_from_customers", N_("Advances from customers")),
        ("bank_loans", N_("Bank loans")), ("informal_loans", N_("Informal loans")),
        ("other_liabilities", N_("Other liabilities")), ("long_term_debt", N_("Of the loans, due after 12 months")),
        ("guarantees_given", N_("Guarantees given (contingent)")),
    ]),
    ("household_balance_sheet", N_("Household balance sheet"), [
        ("house", N_("House")), ("vehicles", N_("Vehicles")), ("deposits", N_("Deposits")),
        ("other_assets", N_("Other assets")), ("mortgage", N_("Mortgage")),
        ("consumer_loans", N_("Consumer loans")), ("other_liabilities", N_("Other liabilities")),
    ]),
    ("pnl.typical", N_("Typical month"), [
        *[(f"lines.{i}.{f}", label) for i in range(3) for f, label in (
            ("name", N_("Product line")), ("sales", N_("Monthly sales")),
            ("gross_margin", N_("Gross margin (fraction)")))],
        ("operating_expenses.rent", N_("Rent")), ("operating_expenses.wages", N_("Wages")),
        ("operating_expenses.utilities", N_("Utilities")), ("operating_expenses.transport", N_("Transport")),
        ("operating_expenses.taxes", N_("Taxes and fees")), ("operating_expenses.other", N_("Other expenses")),
        ("other_household_income", N_("Other household income")),
        ("household_expenses.living", N_("Household living costs")),
        ("household_expenses.education", N_("Education")), ("household_expenses.medical", N_("Medical")),
    ]),
    *[(f"pnl.{name}", legend, [
        ("lines.0.sales", N_("Monthly sales")), ("lines.0.gross_margin", N_("Gross margin (fraction)")),
        ("operating_expenses.all", N_("Operating expenses")),
        ("other_household_income", N_("Other household income")),
        ("household_expenses.all", N_("Household expenses")),
    ]) for name, legend in (("good", N_("Good month")), ("bad", N_("Bad month")))],
    ("", N_("Debts"), [("existing_instalments", N_("Existing monthly instalments (all debts)"))]),
    ("evidence", N_("Evidence for the cross-checks"), [
        ("sample_daily_sales", N_("Sales sampled on site, per day")), ("operating_days", N_("Operating days a month")),
        ("sample_month", N_("Month of the sample (1-12)")), ("purchases_month", N_("Purchases a month")),
        ("stock_change_month", N_("Stock change a month")), ("bank_inflows_month", N_("Business inflows on bank statements")),
        ("bank_share_of_sales", N_("Share of sales through the bank (fraction)")),
        *[(f"price_samples.{i}.{f}", label) for i in range(2) for f, label in (
            ("product", N_("Sampled product")), ("buy_price", N_("Buy price")), ("sell_price", N_("Sell price")))],
        ("sector_inventory_months", N_("Sector norm: months of stock")),
        ("sector_gross_margin", N_("Sector norm: gross margin (fraction)")),
        ("initial_equity", N_("Equity at start")), ("retained_profits", N_("Profits retained since")),
        ("withdrawals", N_("Withdrawals since")), ("household_size", N_("Household size")),
        ("living_cost_per_person", N_("Local living cost per person")),
        ("bureau_debts", N_("Debts on the credit report")),
    ]),
]
MONTHS = [N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"), N_("Jul"), N_("Aug"), N_("Sep"),
          N_("Oct"), N_("Nov"), N_("Dec")]
SEASONS = [("typical", N_("Typical")), ("good", N_("Good")), ("bad", N_("Bad"))]
CHECK_LABELS = {
    "SALES_VS_SAMPLE": N_("Sales against the on-site sample"),
    "SALES_VS_PURCHASES": N_("Sales against purchases"),
    "SALES_VS_BANK_FLOWS": N_("Sales against bank inflows"),
    "GROSS_MARGIN": N_("Gross margin against sampled prices or the sector norm"),
    "INVENTORY_TURNOVER": N_("Stock cover against the sector norm"),
    "EQUITY_CHECK": N_("Equity check"),
    "HOUSEHOLD_EXPENSES": N_("Household expenses against the benchmark"),
    "DEBT_VS_BUREAU": N_("Debts against the credit report"),
}
RATIO_LABELS = {
    "repayment_capacity": N_("Repayment capacity (with existing instalments)"),
    "repayment_capacity_new_only": N_("Repayment capacity (new instalment only)"),
    "debt_to_equity": N_("Debt to equity after the loan"),
    "debt_to_assets": N_("Debt to assets"),
    "quick_ratio": N_("Quick ratio"),
    "loan_to_equity": N_("Loan to equity"),
}


def unflatten(form: Mapping[str, str]) -> dict[str, Any]:
    """``{"a.b.0.c": "1"}`` → ``{"a": {"b": [{"c": "1"}]}}``; empty values and the CSRF token are dropped."""
    root: dict[str, Any] = {}
    for key, value in form.items():
        if key in ("csrf_token", "action") or value is None or str(value).strip() == "":
            continue
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = str(value).strip()

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            size = max(int(k) for k in node) + 1
            return [node.get(str(i)) or {} for i in range(size)]
        return node

    data = listify(root)
    if "seasonality" in data:  # always twelve months, typical where none was chosen
        chosen = data["seasonality"]
        data["seasonality"] = [(chosen[i] if i < len(chosen) and chosen[i] else "typical") for i in range(12)]
    return data


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """The inverse of :func:`unflatten`, to refill the form from a saved worksheet."""
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: "" if data is None else str(data)}
    flat: dict[str, str] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(CurrentTenant.get().timezone)).date()


def _analyse(data: dict[str, Any], application_id: int | None = None) -> tuple[Analysis | None, str | None]:
    """The analysis with the product's tolerances and the sector profile (origination), as saving will compute it."""
    from ..origination.services import analyse_worksheet

    try:
        if application_id is None:
            return services.analyse_live(data, visit_date=_today()), None
        with tenant_session() as session:
            return analyse_worksheet(session, application_id, data, visit_date=_today())[0], None
    except DomainError as exc:
        return None, str(exc)


def _profile(application_id: int, data: Mapping[str, Any]) -> dict[str, Any] | None:
    from ..origination.services import prepare_worksheet

    with tenant_session() as session:
        from ..applications.services import get_application
        return prepare_worksheet(session, get_application(session, application_id), data)[2]


def _soft_items() -> list[tuple[str, str, list[tuple[str, str]]]]:
    english = current_language() == "en"
    return [(i.code, i.label_en if english else i.label_zh,
             [(o.code, o.label_en if english else o.label_zh) for o in i.options])
            for i in DEFAULT_QUESTIONNAIRE.indicators]


def form_names() -> set[str]:
    """Every field name the worksheet form renders."""
    names = {(f"{section}.{field}" if section else field) for section, _, fields in SECTIONS for field, _ in fields}
    names |= {f"seasonality.{m}" for m in range(12)} | {"loan.method", "sector_profile"}
    return names | {f"soft_answers.{i.code}" for i in DEFAULT_QUESTIONNAIRE.indicators}


def _render(application_id: int, values: dict[str, str], analysis: Analysis | None, error: str | None,
            version: int | None, notice: str | None = None, status: int = 200):
    # Values the form has no field for (a worksheet saved through the API with its own expense categories or
    # more product lines) travel as hidden fields, so saving from the portal never drops them.
    known = form_names()
    hidden = {name: value for name, value in values.items()
              if name not in known and value != "" and not name.startswith("industry_profile.")}
    try:
        profile = _profile(application_id, {"sector_profile": values.get("sector_profile", "")})
    except DomainError:
        profile = None
    return render_template(
        "investigation/worksheet.html", application_id=application_id, values=values, hidden=hidden,
        analysis=analysis,
        result=analysis.as_dict() if analysis else None, error=error, version=version, notice=notice,
        sections=SECTIONS, months=MONTHS, seasons=SEASONS, soft_items=_soft_items(), methods=list(Method)[:5],
        check_labels=CHECK_LABELS, ratio_labels=RATIO_LABELS, profile=profile, photos=_photos(application_id),
        subjects=services.PHOTO_SUBJECTS), status


@blueprint.route("/investigation/<int:application_id>", methods=["GET", "POST"])
@login_required
def worksheet(application_id: int):
    """The application's worksheet: the latest saved version (GET), recomputed or saved on submit (POST)."""
    with tenant_session() as session:
        latest = services.latest_worksheet(session, application_id)
    version = latest[0].version if latest else None
    if request.method == "GET":
        data = latest[0].data if latest else {}
        analysis, error = _analyse(data, application_id)
        notice = gettext("Saved as version %(version)s.", version=version) if request.args.get("saved") else None
        if request.args.get("photo"):
            notice = gettext("Photo stored.")
        return _render(application_id, flatten(data), analysis, error, version, notice)
    data = unflatten(request.form.to_dict())
    if request.form.get("action") == "save":
        base = request.form.get("base_version")
        from ..origination.services import save_investigation

        try:
            with tenant_session() as session, session.begin():
                save_investigation(session, application_id, data, visit_date=_today(),
                                   base_version=int(base) if base and base.isdigit() else None)
        except DomainError as exc:
            analysis, _ = _analyse(data, application_id)
            return _render(application_id, flatten(data), analysis, str(exc), version, status=exc.status)
        return redirect(url_for("investigation.worksheet", application_id=application_id, saved=1))
    analysis, error = _analyse(data, application_id)
    return _render(application_id, flatten(data), analysis, error, version, status=200 if analysis else 422)


@blueprint.post("/investigation/<int:application_id>/photos")
@login_required
def upload_photo(application_id: int):
    """A photo from the phone's camera, into the file store, attached to the visit (recorded now if none yet)."""
    from ..origination.services import upload_visit_photo, visit_for_photos

    upload = request.files.get("file")
    try:
        with tenant_session() as session, session.begin():
            visit = visit_for_photos(session, application_id)
            upload_visit_photo(session, visit.id, upload.read() if upload else b"",
                               subject=request.form.get("subject", "other"), caption=request.form.get("caption", ""))
    except DomainError as exc:
        with tenant_session() as session:
            latest = services.latest_worksheet(session, application_id)
        data = latest[0].data if latest else {}
        analysis, _ = _analyse(data, application_id)
        return _render(application_id, flatten(data), analysis, str(exc), latest[0].version if latest else None,
                       status=exc.status)
    return redirect(url_for("investigation.worksheet", application_id=application_id, photo=1))


def _photos(application_id: int) -> list[Any]:
    from .models import InvestigationPhoto, InvestigationVisit
    from sqlalchemy import select

    with tenant_session() as session:
        services.authorize(services.Permission.APPLICATION_READ)
        return list(session.scalars(select(InvestigationPhoto).join(
            InvestigationVisit, InvestigationVisit.id == InvestigationPhoto.visit_id)
            .where(InvestigationVisit.application_id == application_id).order_by(InvestigationPhoto.id)))


@blueprint.post("/investigation/<int:application_id>/live")
@login_required
def live_analysis(application_id: int) -> tuple[str, int] | Response:
    """The results panel for the posted form, unsaved (the page's script calls it as the officer types)."""
    with tenant_session() as session:
        services.latest_worksheet(session, application_id)  # the application must exist in this bank
    analysis, error = _analyse(unflatten(request.form.to_dict()), application_id)
    return render_template("investigation/_results.html", result=analysis.as_dict() if analysis else None,
                           error=error, check_labels=CHECK_LABELS, ratio_labels=RATIO_LABELS), (200 if analysis else 422)


def init_app(app: Flask) -> None:
    # No menu link: a worksheet is opened from its application, which the applications capability lists.
    app.register_blueprint(blueprint)
