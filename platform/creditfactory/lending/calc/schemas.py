"""Calculator API schemas: decimals travel as strings so no amount passes through a float."""

from __future__ import annotations

import marshmallow as ma

from .schedule import DayCount, Grace, Method


class RevolvingEventSchema(ma.Schema):
    on = ma.fields.Date(required=True)
    amount = ma.fields.Decimal(required=True, as_string=True,
                               metadata={"description": "Positive: a draw; negative: a principal repayment"})


class ScheduleRequestSchema(ma.Schema):
    method = ma.fields.Enum(Method, by_value=True, required=True)
    principal = ma.fields.Decimal(required=True, as_string=True,
                                  metadata={"description": "Loan amount in yuan (revolving: the limit)"})
    annual_rate = ma.fields.Decimal(required=True, as_string=True, metadata={"description": "0.0612 for 6.12%"})
    months = ma.fields.Integer(required=True)
    start = ma.fields.Date(required=True)
    day_count = ma.fields.Enum(DayCount, by_value=True, load_default=DayCount.ACT360)
    due_day = ma.fields.Integer(load_default=None, allow_none=True)
    grace_months = ma.fields.Integer(load_default=0)
    grace = ma.fields.Enum(Grace, by_value=True, load_default=Grace.INTEREST_ONLY)
    amortization_months = ma.fields.Integer(load_default=None, allow_none=True)
    events = ma.fields.List(ma.fields.Nested(RevolvingEventSchema), load_default=list,
                            metadata={"description": "Revolving only: draws and repayments"})


class PeriodSchema(ma.Schema):
    number = ma.fields.Integer()
    due_date = ma.fields.String()
    days = ma.fields.Integer()
    principal = ma.fields.String()
    interest = ma.fields.String()
    total = ma.fields.String()
    balance = ma.fields.String()
    drawn = ma.fields.String()
    available = ma.fields.String()


class TotalsSchema(ma.Schema):
    principal = ma.fields.String()
    interest = ma.fields.String()
    total = ma.fields.String()


class ScheduleSchema(ma.Schema):
    method = ma.fields.String()
    day_count = ma.fields.String()
    principal = ma.fields.String()
    annual_rate = ma.fields.String()
    periods = ma.fields.List(ma.fields.Nested(PeriodSchema))
    totals = ma.fields.Nested(TotalsSchema)
