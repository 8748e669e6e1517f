"""Marshmallow schemas of the employee 360 risk API."""

from __future__ import annotations

import marshmallow as ma

from .models import CONSENT_SCOPES, DIMENSIONS, FINDING_KINDS, LEVELS

PERIOD = {"pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}


class PeriodArgsSchema(ma.Schema):
    period = ma.fields.String(required=True, validate=ma.validate.Regexp(PERIOD["pattern"]),
                              metadata={"description": "Month, YYYY-MM"})


class DashboardArgsSchema(PeriodArgsSchema):
    level = ma.fields.String(validate=ma.validate.OneOf(LEVELS), metadata={"description": "Only this level"})


class ModelArgsSchema(ma.Schema):
    version = ma.fields.Integer(metadata={"description": "A past version; the current one when omitted"})


class IndicatorSchema(ma.Schema):
    code = ma.fields.String()
    dimension = ma.fields.String(metadata={"description": ", ".join(DIMENSIONS)})
    source = ma.fields.String(metadata={"description": "loans, findings, audit_log, staff_session, import or combination"})
    consent = ma.fields.String(metadata={"description": "Authorisation scope an imported value needs"})
    threshold = ma.fields.Decimal(as_string=True, metadata={"description": "A hit is a value above it"})
    weight = ma.fields.Decimal(as_string=True)
    severity = ma.fields.Decimal(as_string=True, metadata={"description": "0..1"})
    label_zh = ma.fields.String()
    label_en = ma.fields.String()


class IndicatorSettingSchema(ma.Schema):
    threshold = ma.fields.Decimal(as_string=True)
    weight = ma.fields.Decimal(as_string=True)
    severity = ma.fields.Decimal(as_string=True)


class ModelSchema(ma.Schema):
    version = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime()
    indicators = ma.fields.List(ma.fields.Nested(IndicatorSchema))
    dimension_weights = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True))
    bands = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True),
                           metadata={"description": "Lowest total of yellow, orange and red"})


class ModelPutSchema(ma.Schema):
    indicators = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(IndicatorSettingSchema),
                                load_default=dict, metadata={"description": "Indicator code -> settings to change"})
    dimension_weights = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True),
                                       metadata={"description": "Weight per dimension; they sum to 1"})
    bands = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True))


class ScoreRowSchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    position = ma.fields.String()
    org_unit = ma.fields.String()
    org_unit_zh = ma.fields.String()
    org_unit_en = ma.fields.String()
    period = ma.fields.String()
    dims = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True))
    total = ma.fields.Decimal(as_string=True)
    level = ma.fields.String(metadata={"description": ", ".join(LEVELS)})
    hits = ma.fields.Integer()
    model_version = ma.fields.Integer()
    as_of = ma.fields.Date()


class RecomputedScoreSchema(ma.Schema):
    """A score worked out again from its recorded hits and model version."""

    dims = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True))
    total = ma.fields.Decimal(as_string=True)
    level = ma.fields.String()


class RiskScoreSchema(RecomputedScoreSchema):
    model_version = ma.fields.Integer()
    as_of = ma.fields.Date()


class HitSchema(ma.Schema):
    indicator = ma.fields.String()
    dimension = ma.fields.String()
    label_zh = ma.fields.String()
    label_en = ma.fields.String()
    value = ma.fields.Decimal(as_string=True)
    threshold = ma.fields.Decimal(as_string=True)
    weight = ma.fields.Decimal(as_string=True)
    severity = ma.fields.Decimal(as_string=True)
    evidence = ma.fields.Dict(metadata={"description": "source, count and the first items behind the value"})
    model_version = ma.fields.Integer()
    at = ma.fields.DateTime()


class RiskConsentSchema(ma.Schema):
    id = ma.fields.Integer()
    employee_no = ma.fields.String()
    scope = ma.fields.String()
    granted_on = ma.fields.Date()
    expires_on = ma.fields.Date()
    document_ref = ma.fields.String()
    revoked_on = ma.fields.Date(allow_none=True)
    active = ma.fields.Boolean()


class ConsentCreateSchema(ma.Schema):
    employee_no = ma.fields.String(required=True)
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(CONSENT_SCOPES))
    granted_on = ma.fields.Date(required=True)
    expires_on = ma.fields.Date(required=True)
    document_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                                    metadata={"description": "Where the signed authorisation is kept"})


class RiskHistorySchema(ma.Schema):
    period = ma.fields.String()
    total = ma.fields.Decimal(as_string=True)
    level = ma.fields.String()
    model_version = ma.fields.Integer()


class ReproducedSchema(ma.Schema):
    model_version = ma.fields.Integer()
    recomputed = ma.fields.Nested(RecomputedScoreSchema)
    matches = ma.fields.Boolean()


class EmployeeRiskSchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    position = ma.fields.String()
    org_unit = ma.fields.String()
    org_unit_zh = ma.fields.String()
    org_unit_en = ma.fields.String()
    period = ma.fields.String()
    score = ma.fields.Nested(RiskScoreSchema, allow_none=True)
    hits = ma.fields.List(ma.fields.Nested(HitSchema))
    history = ma.fields.List(ma.fields.Nested(RiskHistorySchema))
    consents = ma.fields.List(ma.fields.Nested(RiskConsentSchema))
    reproduced = ma.fields.Nested(ReproducedSchema, allow_none=True)


class FindingCreateSchema(ma.Schema):
    employee_no = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(FINDING_KINDS))
    found_on = ma.fields.Date(required=True)
    points = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0))
    reference = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class FindingSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    found_on = ma.fields.Date()
    points = ma.fields.Integer()
    reference = ma.fields.String()
    description = ma.fields.String()


class ImportFileSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                                  "description": "CSV: employee_no,period,indicator,value,evidence"})


class ImportSchema(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String()
    sha256 = ma.fields.String()
    rows = ma.fields.Integer()
    imported_at = ma.fields.DateTime()


class ComputationSchema(ma.Schema):
    period = ma.fields.String()
    employees = ma.fields.Integer()
    levels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
