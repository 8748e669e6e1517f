"""Request arguments of the reporting API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class RegulatoryQuerySchema(Schema):
    as_of = fields.Date(load_default=None, metadata={"description": "Latest snapshot on or before this date"})
    tenant = fields.List(fields.String(), load_default=None,
                         metadata={"description": "Legal entities (tenant slugs); default: every bank"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))


class BenchmarkQuerySchema(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(("day", "month")))
