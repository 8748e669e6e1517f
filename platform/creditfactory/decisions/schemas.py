"""Schemas of the decisions API."""

from __future__ import annotations

import marshmallow as ma


class FactSchema(ma.Schema):
    name = ma.fields.String()
    type = ma.fields.String()
    label_zh = ma.fields.String()
    label_en = ma.fields.String()
    doc = ma.fields.String()
    values = ma.fields.List(ma.fields.String())
    unit = ma.fields.String()
    source = ma.fields.String()


class VersionRefSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    version = ma.fields.Integer()
    content_hash = ma.fields.String()
    effective_from = ma.fields.Date()


class RuleSetInForceSchema(ma.Schema):
    stage = ma.fields.String()
    standard = ma.fields.Nested(VersionRefSchema, allow_none=True)
    overlay = ma.fields.Nested(VersionRefSchema, allow_none=True)


class RuleSetQueryArgsSchema(ma.Schema):
    on = ma.fields.Date(load_default=None, metadata={"description": "Date the versions are in force (default today)"})
