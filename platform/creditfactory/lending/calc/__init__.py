"""Repayment calculator (还款计划试算): pure schedule functions for every repayment method of DOMAIN §2.5.

Servicing builds its repayment schedules with :func:`build_schedule` / :func:`revolving_schedule`; the CLI
(``creditfactory calc schedule``), the API (``POST /api/v1/calculator/schedule``) and the portal calculator page
are thin shells around them.
"""

from .schedule import (  # noqa: F401
    DayCount, Grace, Method, Period, RevolvingEvent, RevolvingPeriod, Schedule, ScheduleError, ScheduleTerms,
    build_schedule, revolving_schedule, round_fen,
)
