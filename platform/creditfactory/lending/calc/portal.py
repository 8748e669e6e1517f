"""Portal calculator page (还款计划试算): a GET form, so it works without JavaScript and results can be bookmarked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, render_template, request
from flask_babel import gettext

from ...errors import DomainError
from ...identity.permissions import Permission
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from .routes import schedule_for
from .schedule import DayCount, Grace, Method

blueprint = Blueprint("calc", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/calc")

#: Method labels, in the order the form lists them.
METHOD_LABELS = {
    Method.EQUAL_INSTALLMENT: N_("Equal instalment (annuity)"),
    Method.EQUAL_PRINCIPAL: N_("Equal principal"),
    Method.MONTHLY_INTEREST: N_("Monthly interest, principal at maturity"),
    Method.BULLET: N_("Bullet: principal and interest at maturity"),
    Method.BALLOON: N_("Balloon"),
    Method.REVOLVING: N_("Revolving line: draw and repay any time"),
}


def _parse(form: dict[str, str]) -> dict[str, Any]:
    def decimal(name: str, label: str) -> Decimal:
        try:
            value = Decimal(form.get(name, "").replace(",", "").strip())
        except InvalidOperation:
            raise DomainError(gettext("%(field)s must be a number.", field=label)) from None
        if not value.is_finite():
            raise DomainError(gettext("%(field)s must be a number.", field=label))
        return value

    def integer(name: str, label: str, default: int | None = None) -> int | None:
        raw = form.get(name, "").strip()
        if not raw:
            return default
        if not raw.isdigit():
            raise DomainError(gettext("%(field)s must be a whole number.", field=label))
        return int(raw)

    try:
        method = Method(form.get("method", ""))
        day_count = DayCount(form.get("day_count") or DayCount.ACT360.value)
        grace = Grace(form.get("grace") or Grace.INTEREST_ONLY.value)
        start = dt.date.fromisoformat(form.get("start", ""))
    except ValueError:
        raise DomainError(gettext("Choose a method and a start date.")) from None
    events = []
    for line in form.get("events", "").splitlines():
        if not line.strip():
            continue
        parts = line.split()
        try:
            events.append({"on": dt.date.fromisoformat(parts[0]), "amount": Decimal(parts[1])})
        except (IndexError, ValueError, InvalidOperation):
            raise DomainError(gettext("Each draw or repayment line is a date and an amount: %(line)s",
                                      line=line)) from None
    return {"method": method, "principal": decimal("principal", gettext("Amount")),
            "annual_rate": decimal("annual_rate", gettext("Annual rate")) / 100,
            "months": integer("months", gettext("Term (months)")) or 0, "start": start, "day_count": day_count,
            "due_day": integer("due_day", gettext("Due day")),
            "grace_months": integer("grace_months", gettext("Grace months"), 0), "grace": grace,
            "amortization_months": integer("amortization_months", gettext("Amortisation term (months)")),
            "events": events}


@blueprint.get("/calculator")
@login_required
def calculator() -> str:
    """Repayment schedule for the terms in the query string (empty form first)."""
    form = request.args.to_dict()
    schedule, error = None, None
    if form.get("method"):
        try:
            schedule = schedule_for(_parse(form))
        except DomainError as exc:
            error = str(exc)
    return render_template("calc/calculator.html", form=form, schedule=schedule, error=error,
                           methods=METHOD_LABELS, day_counts=list(DayCount), graces=list(Grace))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("calc.calculator", N_("Repayment calculator"), Permission.PRODUCT_READ, order=60))
