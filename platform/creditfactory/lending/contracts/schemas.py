"""Marshmallow schemas of the contracts API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate


class PrepareSchema(ma.Schema):
    annual_rate = ma.fields.Decimal(required=True, as_string=True)
    repayment_method = ma.fields.String(required=True)
    language = ma.fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))


class PartySchema(ma.Schema):
    id = ma.fields.Integer()
    role = ma.fields.String()
    customer_id = ma.fields.Integer(allow_none=True)
    #: A related person without a customer record (a spouse, a natural-person guarantor).
    related_party_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String()


class SignatureSchema(ma.Schema):
    id = ma.fields.Integer()
    party_id = ma.fields.Integer()
    method = ma.fields.String()
    ca_provider = ma.fields.String()
    cert_serial = ma.fields.String()
    signed_hash = ma.fields.String()
    statement = ma.fields.String()
    signature_value = ma.fields.String()
    timestamp_token = ma.fields.String(allow_none=True)
    signed_at = ma.fields.DateTime()
    recorded_by = ma.fields.String()
    verified = ma.fields.Boolean()


class RecordingSchema(ma.Schema):
    id = ma.fields.Integer()
    subject_type = ma.fields.String()
    subject_id = ma.fields.Integer()
    staff_ids = ma.fields.List(ma.fields.Integer())
    customer_ids = ma.fields.List(ma.fields.Integer())
    started_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime()
    media_sha256 = ma.fields.String()
    media_content_type = ma.fields.String()
    script_version = ma.fields.String()
    risk_disclosures_read = ma.fields.List(ma.fields.String())
    customer_confirmations = ma.fields.List(ma.fields.String())
    location = ma.fields.String()
    device_id = ma.fields.String()
    qc_status = ma.fields.String()
    qc_reviewer_id = ma.fields.Integer(allow_none=True)
    qc_note = ma.fields.String()
    qc_at = ma.fields.DateTime(allow_none=True)


class ContractSchema(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String()
    application_id = ma.fields.Integer()
    template_id = ma.fields.String()
    template_version = ma.fields.String()
    language = ma.fields.String()
    amount = ma.fields.Decimal(as_string=True)
    term_months = ma.fields.Integer()
    annual_rate = ma.fields.Decimal(as_string=True)
    repayment_method = ma.fields.String()
    start_date = ma.fields.Date()
    schedule = ma.fields.Dict()
    pdf_sha256 = ma.fields.String()
    status = ma.fields.String()
    created_at = ma.fields.DateTime()
    signed_at = ma.fields.DateTime(allow_none=True)
    parties = ma.fields.List(ma.fields.Nested(PartySchema))
    signatures = ma.fields.List(ma.fields.Nested(SignatureSchema))
    recording = ma.fields.Nested(RecordingSchema, allow_none=True)
    disbursement_problems = ma.fields.List(ma.fields.String())


class SignSchema(ma.Schema):
    party_id = ma.fields.Integer(required=True)
    method = ma.fields.String(load_default="face_signing", validate=validate.OneOf(("face_signing", "e_signature")))
    provider = ma.fields.String(load_default="platform")


class RecordingFormSchema(ma.Schema):
    started_at = ma.fields.AwareDateTime(required=True)
    ended_at = ma.fields.AwareDateTime(required=True)
    script_version = ma.fields.String(required=True)
    risk_disclosures_read = ma.fields.String(load_default="", metadata={"description": "comma-separated"})
    customer_confirmations = ma.fields.String(load_default="", metadata={"description": "one per line"})
    location = ma.fields.String(load_default="")
    device_id = ma.fields.String(load_default="")


class MediaFileSchema(ma.Schema):
    media = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class RecordingQcSchema(ma.Schema):
    passed = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default="")
