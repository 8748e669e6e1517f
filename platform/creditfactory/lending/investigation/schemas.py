"""Investigation API schemas. The worksheet itself is a JSON object validated by ``analysis.worksheet_from_dict``
(docs/investigation.md lists its fields), so the API, the portal and stored versions share one definition."""

from __future__ import annotations

import marshmallow as ma

from .services import PHOTO_SUBJECTS


class LiveAnalysisSchema(ma.Schema):
    worksheet = ma.fields.Dict(required=True, metadata={"description": "The worksheet (docs/investigation.md)"})
    visit_date = ma.fields.Date(load_default=None, metadata={"description": "Default: today in the bank's time zone"})


class WorksheetPutSchema(LiveAnalysisSchema):
    base_version = ma.fields.Integer(load_default=None, allow_none=True,
                                     metadata={"description": "The version the edit started from; a newer saved "
                                                              "version makes the save a 409 conflict"})


class AnalysisSchema(ma.Schema):
    """The computed analysis: statements, P&L, seasonality, cross-checks, ratios, max loan, cash flow, soft score.
    Decimals are strings."""

    class Meta:
        unknown = ma.INCLUDE

    business_balance_sheet = ma.fields.Dict()
    household_balance_sheet = ma.fields.Dict()
    pnl = ma.fields.Dict()
    seasonality_factors = ma.fields.List(ma.fields.String())
    new_instalment = ma.fields.String(allow_none=True)
    cross_checks = ma.fields.List(ma.fields.Dict())
    ratios = ma.fields.List(ma.fields.Dict())
    max_loan = ma.fields.String()
    working_capital_need = ma.fields.String()
    cash_flow = ma.fields.List(ma.fields.Dict())
    cash_never_negative = ma.fields.Boolean()
    soft_information = ma.fields.Dict()
    escalate = ma.fields.Boolean()


class WorksheetSchema(ma.Schema):
    application_id = ma.fields.Integer()
    version = ma.fields.Integer()
    complete = ma.fields.Boolean()
    investigator = ma.fields.String()
    saved_at = ma.fields.DateTime()
    data = ma.fields.Dict()
    analysis = ma.fields.Dict()
    parameters = ma.fields.Dict()
    advanced = ma.fields.Boolean(metadata={"description": "Whether the application moved on to ANALYSED"})
    industry_profile = ma.fields.Dict(allow_none=True, metadata={
        "description": "The sector profile the cross-checks and seasonality used, with the plugin that supplied it"})


class VisitPostSchema(ma.Schema):
    visited_at = ma.fields.AwareDateTime(required=True)
    notes = ma.fields.String(load_default="", validate=ma.validate.Length(max=10000))
    latitude = ma.fields.Decimal(load_default=None, allow_none=True, as_string=True)
    longitude = ma.fields.Decimal(load_default=None, allow_none=True, as_string=True)
    location_accuracy_m = ma.fields.Integer(load_default=None, allow_none=True,
                                            validate=ma.validate.Range(min=0))
    second_officer = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=100))
    second_officer_id = ma.fields.Integer(load_default=None, allow_none=True)


class VisitSchema(ma.Schema):
    id = ma.fields.Integer()
    application_id = ma.fields.Integer()
    officer = ma.fields.String()
    second_officer = ma.fields.String(allow_none=True)
    visited_at = ma.fields.DateTime()
    latitude = ma.fields.Decimal(as_string=True, allow_none=True)
    longitude = ma.fields.Decimal(as_string=True, allow_none=True)
    location_accuracy_m = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String()
    recorded_by = ma.fields.String()


class PhotoPostSchema(ma.Schema):
    sha256 = ma.fields.String(required=True, metadata={"description": "The file store's key of the uploaded photo"})
    content_type = ma.fields.String(required=True)
    size_bytes = ma.fields.Integer(required=True)
    subject = ma.fields.String(required=True, validate=ma.validate.OneOf(PHOTO_SUBJECTS))
    caption = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    taken_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    latitude = ma.fields.Decimal(load_default=None, allow_none=True, as_string=True)
    longitude = ma.fields.Decimal(load_default=None, allow_none=True, as_string=True)


class PhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    visit_id = ma.fields.Integer()
    sha256 = ma.fields.String()
    content_type = ma.fields.String()
    size_bytes = ma.fields.Integer()
    subject = ma.fields.String()
    caption = ma.fields.String()
    taken_at = ma.fields.DateTime(allow_none=True)
    latitude = ma.fields.Decimal(as_string=True, allow_none=True)
    longitude = ma.fields.Decimal(as_string=True, allow_none=True)


class PhotoUploadFormSchema(ma.Schema):
    subject = ma.fields.String(required=True, validate=ma.validate.OneOf(PHOTO_SUBJECTS))
    caption = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class PhotoUploadFileSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
