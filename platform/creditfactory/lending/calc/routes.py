"""Calculator API: a repayment schedule for given terms (nothing is stored)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from .schedule import Method, RevolvingEvent, ScheduleTerms, build_schedule, revolving_schedule
from .schemas import ScheduleRequestSchema, ScheduleSchema

blp = Blueprint("calculator", __name__, url_prefix="/calculator",
                description="Repayment calculator (还款计划试算): schedules for every repayment method.")


def schedule_for(args: dict[str, Any]) -> dict[str, Any]:
    """The schedule of the request's terms, as JSON (shared by the API and the portal page)."""
    authorize(Permission.PRODUCT_READ)
    if args["method"] is Method.REVOLVING:
        events = [RevolvingEvent(e["on"], e["amount"]) for e in args["events"]]
        schedule = revolving_schedule(args["principal"], args["annual_rate"], args["start"], args["months"], events,
                                      args["day_count"], args["due_day"])
    else:
        schedule = build_schedule(ScheduleTerms(
            args["method"], args["principal"], args["annual_rate"], args["months"], args["start"], args["day_count"],
            args["due_day"], args["grace_months"], args["grace"], args["amortization_months"]))
    return schedule.as_dict()


@blp.route("/schedule")
class ScheduleViews(MethodView):
    @blp.auth(Scope.PRODUCTS_READ)
    @blp.arguments(ScheduleRequestSchema)
    @blp.response(200, ScheduleSchema)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Compute a repayment schedule: each period's due date, principal, interest, total and balance"""
        return schedule_for(args)
