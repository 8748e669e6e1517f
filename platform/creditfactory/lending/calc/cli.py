"""``creditfactory calc``: repayment schedules from the command line (no database needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import click

from .schedule import (
    DayCount, Grace, Method, RevolvingEvent, Schedule, ScheduleError, ScheduleTerms, build_schedule,
    revolving_schedule,
)


@click.group()
def calc() -> None:
    """Repayment calculator (还款计划试算)."""


def _decimal(name: str, text: str) -> Decimal:
    from ...cli import InputError

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{name} must be a number, not {text!r}") from None
    if not value.is_finite():
        raise InputError(f"{name} must be a finite number, not {text!r}")
    return value


def _event(text: str, sign: int) -> RevolvingEvent:
    from ...cli import InputError

    on, _, amount = text.partition(":")
    try:
        day = dt.date.fromisoformat(on)
    except ValueError:
        raise InputError(f"a draw or repayment is DATE:AMOUNT (2026-02-01:5000), not {text!r}") from None
    return RevolvingEvent(day, sign * _decimal("amount", amount))


@calc.command("schedule")
@click.option("--method", required=True, type=click.Choice([m.value for m in Method]),
              help="Repayment method (equal_installment 等额本息, equal_principal 等额本金, monthly_interest "
                   "按月付息到期还本, bullet 利随本清, balloon 气球贷, revolving 随借随还).")
@click.option("--principal", required=True, help="Loan amount in yuan (for revolving: the line's limit).")
@click.option("--annual-rate", required=True, help="Nominal annual rate as a fraction: 0.0612 for 6.12%.")
@click.option("--months", required=True, type=int, help="Term in months, grace included.")
@click.option("--start", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Value date YYYY-MM-DD.")
@click.option("--day-count", type=click.Choice([d.value for d in DayCount]), default=DayCount.ACT360.value,
              show_default=True, help="Day count for daily interest.")
@click.option("--due-day", type=int, help="Day of month instalments fall due (default: the start's day).")
@click.option("--grace-months", type=int, default=0, show_default=True, help="Grace periods at the start.")
@click.option("--grace", "grace_kind", type=click.Choice([g.value for g in Grace]), default=Grace.INTEREST_ONLY.value,
              show_default=True, help="interest_only: pay interest in grace; full: pay nothing, interest deferred.")
@click.option("--amortization-months", type=int, help="Balloon: the notional term the instalment is computed on.")
@click.option("--draw", "draws", multiple=True, metavar="DATE:AMOUNT", help="Revolving: a draw (repeatable).")
@click.option("--repay", "repays", multiple=True, metavar="DATE:AMOUNT", help="Revolving: a principal repayment.")
@click.option("--json", "as_json", is_flag=True, help="JSON with decimals as strings.")
def calc_schedule(method: str, principal: str, annual_rate: str, months: int, start: dt.datetime, day_count: str,
                  due_day: int | None, grace_months: int, grace_kind: str, amortization_months: int | None,
                  draws: tuple[str, ...], repays: tuple[str, ...], as_json: bool) -> None:
    """Print a repayment schedule: each period's due date, principal, interest, total and balance, and totals."""
    from ...cli import InputError, _echo_json

    amount, rate = _decimal("principal", principal), _decimal("annual rate", annual_rate)
    try:
        if Method(method) is Method.REVOLVING:
            events = [_event(t, 1) for t in draws] + [_event(t, -1) for t in repays]
            schedule = revolving_schedule(amount, rate, start.date(), months, events, DayCount(day_count), due_day)
        else:
            if draws or repays:
                raise InputError("--draw and --repay apply to --method revolving only")
            schedule = build_schedule(ScheduleTerms(
                Method(method), amount, rate, months, start.date(), DayCount(day_count), due_day, grace_months,
                Grace(grace_kind), amortization_months))
    except ScheduleError as exc:
        raise InputError(str(exc)) from exc
    if as_json:
        _echo_json(schedule.as_dict())
    else:
        click.echo(format_table(schedule))


def format_table(schedule: Schedule) -> str:
    """A fixed-width table, amounts to the fen, one row per period and a totals row."""
    revolving = schedule.method is Method.REVOLVING
    headers = ["#", "Due date", "Days", "Principal", "Interest", "Total", "Balance"]
    if revolving:
        headers += ["Drawn", "Available"]
    rows = []
    for p in schedule.periods:
        row = [str(p.number), p.due_date.isoformat(), str(p.days), f"{p.principal:,.2f}", f"{p.interest:,.2f}",
               f"{p.total:,.2f}", f"{p.balance:,.2f}"]
        if revolving:
            row += [f"{p.drawn:,.2f}", f"{p.available:,.2f}"]
        rows.append(row)
    totals = ["Total", "", "", f"{schedule.total_principal:,.2f}", f"{schedule.total_interest:,.2f}",
              f"{schedule.total_payment:,.2f}", ""] + (["", ""] if revolving else [])
    widths = [max(len(r[i]) for r in [headers, *rows, totals]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    title = (f"{schedule.method.value} ({schedule.method.label_zh}), principal {schedule.principal:,.2f}, "
             f"annual rate {schedule.annual_rate}, {schedule.day_count.value}")
    rule = "-" * len(line(headers))
    return "\n".join([title, line(headers), rule, *map(line, rows), rule, line(totals)])
