"""Repayment schedules (还款计划) as pure functions on plain values: no database, no clock, no float.

Conventions (docs/calculator.md writes them out with examples):

- Amounts are ``Decimal`` yuan; every period's interest and principal is rounded half-up to the fen, and the
  last instalment takes whatever rounding left over so the principal parts add up to the loan exactly.
- Due dates fall monthly on ``due_day`` (default: the start date's day; clamped to the month's last day). The
  first due date is ``due_day`` of the month after the start, so a start off the due day gives a broken first
  period, shorter or longer than a month.
- Amortising methods (equal instalment, equal principal, balloon) charge the monthly rate ``r = annual / 12``
  on whole periods (DOMAIN §2.5 formulas) and daily interest ``B × annual / basis × days`` on a broken first
  period. Monthly interest (先息后本), bullet (利随本清) and revolving lines (随借随还) accrue daily on every period.
  ``basis`` is 360 (ACT/360, the PBOC convention and the default) or 365.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Iterable, Sequence

from ...errors import DomainError

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
#: Longest term the calculator accepts (30 years of monthly periods).
MAX_MONTHS = 360


class ScheduleError(DomainError):
    """Terms a schedule cannot be built from (the message says which and why)."""


class Method(str, enum.Enum):
    """Repayment methods of DOMAIN §2.5; the value is the code the CLI and API take."""

    label_zh: str

    def __new__(cls, code: str, label_zh: str):
        member = str.__new__(cls, code)
        member._value_ = code
        member.label_zh = label_zh
        return member

    EQUAL_INSTALLMENT = ("equal_installment", "等额本息")
    EQUAL_PRINCIPAL = ("equal_principal", "等额本金")
    MONTHLY_INTEREST = ("monthly_interest", "按月付息到期还本")
    BULLET = ("bullet", "利随本清")
    BALLOON = ("balloon", "气球贷")
    REVOLVING = ("revolving", "随借随还")


class DayCount(str, enum.Enum):
    """Day-count basis for daily interest: actual days over 360 (default) or 365."""

    ACT360 = "act360"
    ACT365 = "act365"

    @property
    def basis(self) -> int:
        return 360 if self is DayCount.ACT360 else 365


class Grace(str, enum.Enum):
    """A grace period's kind: interest paid monthly, or nothing paid (interest deferred, not compounded)."""

    INTEREST_ONLY = "interest_only"
    FULL = "full"


@dataclasses.dataclass(frozen=True)
class ScheduleTerms:
    """What a schedule is built from. ``months`` is the whole term, grace periods included."""

    method: Method
    principal: Decimal
    annual_rate: Decimal
    months: int
    start: dt.date
    day_count: DayCount = DayCount.ACT360
    #: Day of the month instalments fall due; ``None``: the start date's day.
    due_day: int | None = None
    grace_months: int = 0
    grace: Grace = Grace.INTEREST_ONLY
    #: Balloon only: the notional term the instalment is computed over (longer than ``months``).
    amortization_months: int | None = None


@dataclasses.dataclass(frozen=True)
class Period:
    """One instalment: ``balance`` is the principal still owed after it."""

    number: int
    due_date: dt.date
    days: int
    principal: Decimal
    interest: Decimal
    total: Decimal
    balance: Decimal


@dataclasses.dataclass(frozen=True)
class RevolvingPeriod(Period):
    """A revolving line's billing period: drawn in it, and the limit left undrawn at its end."""

    drawn: Decimal = ZERO
    available: Decimal = ZERO


@dataclasses.dataclass(frozen=True)
class Schedule:
    method: Method
    day_count: DayCount
    principal: Decimal
    annual_rate: Decimal
    periods: tuple[Period, ...]

    @property
    def total_principal(self) -> Decimal:
        return sum((p.principal for p in self.periods), ZERO)

    @property
    def total_interest(self) -> Decimal:
        return sum((p.interest for p in self.periods), ZERO)

    @property
    def total_payment(self) -> Decimal:
        return sum((p.total for p in self.periods), ZERO)

    def as_dict(self) -> dict:
        """JSON-ready: decimals as strings (exact), dates ISO."""
        def period(p: Period) -> dict:
            row = {"number": p.number, "due_date": p.due_date.isoformat(), "days": p.days,
                   "principal": str(p.principal), "interest": str(p.interest), "total": str(p.total),
                   "balance": str(p.balance)}
            if isinstance(p, RevolvingPeriod):
                row.update(drawn=str(p.drawn), available=str(p.available))
            return row
        return {"method": self.method.value, "day_count": self.day_count.value, "principal": str(round_fen(self.principal)),
                "annual_rate": str(self.annual_rate), "periods": [period(p) for p in self.periods],
                "totals": {"principal": str(self.total_principal), "interest": str(self.total_interest),
                           "total": str(self.total_payment)}}


def round_fen(amount: Decimal) -> Decimal:
    """Half-up to the fen (分), the platform's default rounding (ARCHITECTURE §5)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def due_date(start: dt.date, months_after: int, due_day: int) -> dt.date:
    """``due_day`` of the month ``months_after`` months after ``start``'s month, clamped to its last day."""
    month_index = start.month - 1 + months_after
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(due_day, calendar.monthrange(year, month)[1]))


def annuity_payment(principal: Decimal, monthly_rate: Decimal, periods: int) -> Decimal:
    """``A = P·r·(1+r)^n / ((1+r)^n − 1)`` (等额本息), unrounded; ``P / n`` at a zero rate."""
    if monthly_rate == 0:
        return principal / periods
    with localcontext() as ctx:
        ctx.prec = 40
        growth = (1 + monthly_rate) ** periods
        return principal * monthly_rate * growth / (growth - 1)


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """The schedule of a term loan under ``terms.method`` (every method but revolving lines)."""
    _check(terms)
    terms = dataclasses.replace(terms, principal=round_fen(terms.principal))  # 100000 → 100000.00 in every row
    due_day = terms.due_day or terms.start.day
    dates = [due_date(terms.start, k, due_day) for k in range(1, terms.months + 1)]
    if terms.method is Method.BULLET:
        # One period from the start to maturity: the same day ``months`` later (clamped), not the due day.
        dates = [due_date(terms.start, terms.months, terms.start.day)]
    starts = [terms.start, *dates[:-1]]
    days = [(end - begin).days for begin, end in zip(starts, dates)]
    # The first period is whole when it runs exactly one calendar month (start on the due day).
    first_whole = dates[0] == due_date(terms.start, 1, terms.start.day) and terms.method is not Method.BULLET
    builder = {
        Method.EQUAL_INSTALLMENT: _amortising, Method.EQUAL_PRINCIPAL: _amortising, Method.BALLOON: _amortising,
        Method.MONTHLY_INTEREST: _monthly_interest, Method.BULLET: _monthly_interest,
    }[terms.method]
    rows = builder(terms, days, first_whole)
    periods = tuple(Period(k + 1, dates[k], days[k], principal, interest, principal + interest, balance)
                    for k, (principal, interest, balance) in enumerate(rows))
    return Schedule(terms.method, terms.day_count, terms.principal, terms.annual_rate, periods)


def _check(terms: ScheduleTerms) -> None:
    if terms.method is Method.REVOLVING:
        raise ScheduleError("a revolving line has no fixed schedule: use revolving_schedule with its draws and "
                            "repayments")
    if not terms.principal.is_finite() or terms.principal <= 0 or terms.principal != round_fen(terms.principal):
        raise ScheduleError(f"principal must be a positive amount in yuan with at most 2 decimals, "
                            f"not {terms.principal}")
    if not terms.annual_rate.is_finite() or not 0 <= terms.annual_rate < 1:
        raise ScheduleError(f"annual rate must be a fraction from 0 up to 1 (0.0612 for 6.12%), "
                            f"not {terms.annual_rate}")
    if not 1 <= terms.months <= MAX_MONTHS:
        raise ScheduleError(f"term must be 1 to {MAX_MONTHS} months, not {terms.months}")
    if terms.due_day is not None and not 1 <= terms.due_day <= 31:
        raise ScheduleError(f"due day must be 1 to 31, not {terms.due_day}")
    if terms.method is Method.BULLET and terms.months > 12:
        raise ScheduleError("a bullet loan (利随本清) runs at most 12 months (DOMAIN §2.5)")
    if terms.grace_months:
        if terms.method not in (Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.BALLOON):
            raise ScheduleError(f"grace periods apply to amortising methods only, not {terms.method.value}")
        if not 0 < terms.grace_months < terms.months:
            raise ScheduleError(f"grace must leave at least one repayment period: {terms.grace_months} "
                                f"grace months in a {terms.months}-month term")
    if terms.method is Method.BALLOON:
        if terms.amortization_months is None or not terms.months < terms.amortization_months <= MAX_MONTHS:
            raise ScheduleError(f"a balloon loan needs an amortisation term longer than its {terms.months} months "
                                f"(at most {MAX_MONTHS})")
    elif terms.amortization_months is not None:
        raise ScheduleError("an amortisation term applies to balloon loans only")


def _daily_interest(balance: Decimal, terms: ScheduleTerms, days: int) -> Decimal:
    return round_fen(balance * terms.annual_rate * days / terms.day_count.basis)


def _amortising(terms: ScheduleTerms, days: list[int], first_whole: bool) -> list[tuple[Decimal, Decimal, Decimal]]:
    """Equal instalment, equal principal and balloon, with grace and a broken first period."""
    n, grace, rate = terms.months, terms.grace_months, terms.annual_rate / 12
    repaying = n - grace
    balance = terms.principal
    if terms.method is Method.EQUAL_PRINCIPAL:
        instalment = None
        slice_ = round_fen(terms.principal / repaying)
    else:
        notional = terms.amortization_months - grace if terms.method is Method.BALLOON else repaying
        instalment = round_fen(annuity_payment(terms.principal, rate, notional))
    rows, deferred = [], ZERO
    for k in range(n):
        regular_interest = round_fen(balance * rate)
        # A broken first period accrues by the day; the principal part still follows the regular instalment.
        interest = regular_interest if k or first_whole else _daily_interest(balance, terms, days[0])
        if k < grace:
            if terms.grace is Grace.FULL:
                deferred += interest
                rows.append((ZERO, ZERO, balance))
            else:
                rows.append((ZERO, interest, balance))
            continue
        if k == n - 1:
            principal = balance
        elif instalment is None:
            principal = slice_
        else:
            principal = min(instalment - regular_interest, balance)
        balance -= principal
        rows.append((principal, interest + deferred, balance))
        deferred = ZERO
    return rows


def _monthly_interest(terms: ScheduleTerms, days: list[int], first_whole: bool) -> list[tuple[Decimal, Decimal, Decimal]]:
    """先息后本 and 利随本清: daily interest on the full principal each period, principal at maturity."""
    rows = []
    for k, period_days in enumerate(days):
        last = k == len(days) - 1
        rows.append((terms.principal if last else ZERO, _daily_interest(terms.principal, terms, period_days),
                     ZERO if last else terms.principal))
    return rows


@dataclasses.dataclass(frozen=True)
class RevolvingEvent:
    """A draw (positive ``amount``) or a repayment of principal (negative ``amount``) on a revolving line."""

    on: dt.date
    amount: Decimal


def revolving_schedule(limit: Decimal, annual_rate: Decimal, start: dt.date, months: int,
                       events: Iterable[RevolvingEvent], day_count: DayCount = DayCount.ACT360,
                       due_day: int | None = None) -> Schedule:
    """随借随还: monthly billing periods of a revolving line; interest ``Σ_days drawn_balance × annual / basis``.

    A day accrues on its closing balance (a draw accrues from its own day, a repayment stops accrual that day);
    each period's interest is summed unrounded and rounded once at its due date. Each period's principal is
    what was repaid in it; the line matures at the last due date, when the whole drawn balance falls due.
    """
    for name, value in (("limit", limit), ("annual rate", annual_rate)):
        if not value.is_finite():
            raise ScheduleError(f"{name} must be a number, not {value}")
    if limit <= 0 or limit != round_fen(limit):
        raise ScheduleError(f"limit must be a positive amount with at most 2 decimals, not {limit}")
    if not 0 <= annual_rate < 1:
        raise ScheduleError(f"annual rate must be a fraction from 0 up to 1, not {annual_rate}")
    if not 1 <= months <= MAX_MONTHS:
        raise ScheduleError(f"term must be 1 to {MAX_MONTHS} months, not {months}")
    if due_day is not None and not 1 <= due_day <= 31:
        raise ScheduleError(f"due day must be 1 to 31, not {due_day}")
    limit = round_fen(limit)
    due_day = due_day or start.day
    dates = [due_date(start, k, due_day) for k in range(1, months + 1)]
    ordered: Sequence[RevolvingEvent] = sorted(events, key=lambda e: e.on)
    for event in ordered:
        if not start <= event.on < dates[-1]:
            raise ScheduleError(f"{event.on} is outside the line's term {start} to {dates[-1]}")
        if event.amount == 0 or event.amount != round_fen(event.amount):
            raise ScheduleError(f"a draw or repayment must be a non-zero amount with at most 2 decimals, "
                                f"not {event.amount}")
    by_day: dict[dt.date, Decimal] = {}
    for event in ordered:
        by_day[event.on] = by_day.get(event.on, ZERO) + event.amount
    drawn, periods, begin = ZERO, [], start
    for k, end in enumerate(dates):
        accrued, drawn_in, repaid = Decimal(0), ZERO, ZERO
        day = begin
        while day < end:
            for event in (e for e in ordered if e.on == day):
                if event.amount > 0:
                    if drawn + event.amount > limit:
                        raise ScheduleError(f"the draw of {event.amount} on {day} exceeds the available "
                                            f"{limit - drawn} of the {limit} limit")
                    drawn_in += event.amount
                else:
                    if -event.amount > drawn:
                        raise ScheduleError(f"the repayment of {-event.amount} on {day} is more than the "
                                            f"{drawn} drawn")
                    repaid += -event.amount
                drawn += event.amount
            accrued += drawn * annual_rate / day_count.basis
            day += dt.timedelta(days=1)
        if k == months - 1:
            repaid += drawn
            drawn = ZERO
        interest = round_fen(accrued)
        periods.append(RevolvingPeriod(k + 1, end, (end - begin).days, repaid, interest, repaid + interest, drawn,
                                       drawn=drawn_in, available=limit - drawn))
        begin = end
    return Schedule(Method.REVOLVING, day_count, limit, annual_rate, tuple(periods))
