"""Products API schemas."""

from __future__ import annotations

import marshmallow as ma

_TERMS = "A terms document (see docs/products.md): amounts and rates as decimal strings"


class ProductSchema(ma.Schema):
    """One version of a bank's loan product."""

    id = ma.fields.Integer(metadata={"description": "Id of this version; applications point at it"})
    code = ma.fields.String()
    version = ma.fields.Integer()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    status = ma.fields.String(metadata={"description": "active or superseded"})
    template_code = ma.fields.String(allow_none=True, metadata={"description": "Null for a tenant-only product"})
    template_version = ma.fields.Integer(allow_none=True)
    overrides = ma.fields.Dict(metadata={"description": "The bank's changes to the template's terms"})
    terms = ma.fields.Dict(metadata={"description": "Effective terms. " + _TERMS})
    change_request_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()


class ProductQueryArgsSchema(ma.Schema):
    include_superseded = ma.fields.Boolean(load_default=False)


class TemplateSchema(ma.Schema):
    """One published version of a head-office standard product."""

    code = ma.fields.String()
    version = ma.fields.Integer()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    terms = ma.fields.Dict(metadata={"description": _TERMS})
    source = ma.fields.String()
    published_at = ma.fields.DateTime()


class TemplatePublishSchema(ma.Schema):
    version = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    terms = ma.fields.Dict(required=True, metadata={"description": _TERMS})


class DifferenceSchema(ma.Schema):
    field = ma.fields.String(metadata={"description": "Dotted path, e.g. amount.max"})
    template = ma.fields.Raw(allow_none=True)
    tenant = ma.fields.Raw(allow_none=True)


class TemplateRefSchema(ma.Schema):
    code = ma.fields.String()
    version = ma.fields.Integer()


class DiffSchema(ma.Schema):
    code = ma.fields.String()
    version = ma.fields.Integer()
    template = ma.fields.Nested(TemplateRefSchema, allow_none=True,
                                metadata={"description": "Null for a tenant-only product"})
    differences = ma.fields.List(ma.fields.Nested(DifferenceSchema))


class DiffQueryArgsSchema(ma.Schema):
    version = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))


class ProductChangeRequestSchema(ma.Schema):
    """A pending (or decided) product change awaiting a second person."""

    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String(metadata={"description": "The product code"})
    status = ma.fields.String()
    payload = ma.fields.Dict()
    maker_id = ma.fields.Integer()
    made_at = ma.fields.DateTime()


class AdoptionSchema(ma.Schema):
    template_code = ma.fields.String(required=True)
    template_version = ma.fields.Integer(required=True)
    overrides = ma.fields.Dict(load_default=dict, metadata={"description": "Partial terms document; may only "
                                                                          "tighten the template"})
    name_zh = ma.fields.String(load_default=None)
    name_en = ma.fields.String(load_default=None)


class ProductChangeSchema(ma.Schema):
    overrides = ma.fields.Dict(load_default=None, metadata={"description": "New overrides (adopted products)"})
    terms = ma.fields.Dict(load_default=None, metadata={"description": "New terms (tenant-only products)"})
    name_zh = ma.fields.String(load_default=None)
    name_en = ma.fields.String(load_default=None)


class RegionalProductSchema(ma.Schema):
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    terms = ma.fields.Dict(required=True, metadata={"description": _TERMS})


class PluginTemplateSchema(ma.Schema):
    """A regional product template offered by one of the bank's enabled plugins."""

    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    terms = ma.fields.Dict()


class FromPluginSchema(ma.Schema):
    plugin_template = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
