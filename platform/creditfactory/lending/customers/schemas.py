"""Request and response bodies of the customers API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from .models import (CONSENT_CHANNELS, CONSENT_PURPOSES, CONSENT_TYPES, CUSTOMER_KINDS, DOCUMENT_TYPES, GENDERS,
                     MARITAL_STATUSES, PARTY_ROLES)

_IDENTIFIER_HELP = "in clear only for callers holding pii:read (people only); masked otherwise"


class _ProfileFields(ma.Schema):
    name = ma.fields.String(validate=validate.Length(min=1, max=200))
    resident_id = ma.fields.String(allow_none=True, metadata={"description": "居民身份证号码, 18 characters"})
    uscc = ma.fields.String(allow_none=True, metadata={"description": "统一社会信用代码, 18 characters"})
    mobile = ma.fields.String(allow_none=True, metadata={"description": "手机号码, 11 digits, +86 allowed"})
    address = ma.fields.String(allow_none=True)
    registered_address = ma.fields.String(allow_none=True)
    sector_code = ma.fields.String(allow_none=True, metadata={"description": "GB/T 4754 industry code, e.g. F5221"})
    years_in_business = ma.fields.Integer(allow_none=True)
    household_members = ma.fields.Integer(allow_none=True)
    marital_status = ma.fields.String(allow_none=True, validate=validate.OneOf(MARITAL_STATUSES))
    legal_representative_name = ma.fields.String(allow_none=True)
    officer_user_id = ma.fields.Integer(allow_none=True, metadata={"description": "the assigned loan officer"})


class CustomerCreateSchema(_ProfileFields):
    kind = ma.fields.String(required=True, validate=validate.OneOf(CUSTOMER_KINDS))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class CustomerUpdateSchema(_ProfileFields):
    pass


class CustomerSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(validate=validate.OneOf(CUSTOMER_KINDS))
    name = ma.fields.String()
    resident_id = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    uscc = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    mobile = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    birth_date = ma.fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD; YYYY-**-** when masked"})
    gender = ma.fields.String(allow_none=True, validate=validate.OneOf(GENDERS))
    address = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    registered_address = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    sector_code = ma.fields.String(allow_none=True)
    years_in_business = ma.fields.Integer(allow_none=True)
    household_members = ma.fields.Integer(allow_none=True)
    marital_status = ma.fields.String(allow_none=True)
    legal_representative_name = ma.fields.String(allow_none=True)
    officer_user_id = ma.fields.Integer(allow_none=True)
    created_by_user_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    pii_clear = ma.fields.Boolean(metadata={"description": "whether identifiers are shown in clear"})


class CustomerListArgsSchema(ma.Schema):
    mine = ma.fields.Boolean(load_default=False, metadata={"description": "registered by or assigned to me"})
    name = ma.fields.String(metadata={"description": "part of the name"})
    kind = ma.fields.String(validate=validate.OneOf(CUSTOMER_KINDS))
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0))


class CustomerSearchSchema(ma.Schema):
    """Sent in the body, not the query string, so identifiers never reach access logs."""

    name = ma.fields.String()
    resident_id = ma.fields.String(metadata={"description": "exact match through the blind index"})
    uscc = ma.fields.String(metadata={"description": "exact match through the blind index"})
    mobile = ma.fields.String(metadata={"description": "exact match through the blind index"})
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class RelatedPartyCreateSchema(ma.Schema):
    role = ma.fields.String(required=True, validate=validate.OneOf(PARTY_ROLES))
    related_customer_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String(allow_none=True)
    resident_id = ma.fields.String(allow_none=True)
    mobile = ma.fields.String(allow_none=True)
    share_percent = ma.fields.Decimal(allow_none=True, as_string=True, places=4)
    note = ma.fields.String(allow_none=True)


class RelatedPartySchema(ma.Schema):
    id = ma.fields.Integer()
    customer_id = ma.fields.Integer()
    role = ma.fields.String()
    related_customer_id = ma.fields.Integer(allow_none=True)
    related_customer_kind = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    resident_id = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    mobile = ma.fields.String(allow_none=True, metadata={"description": _IDENTIFIER_HELP})
    share_percent = ma.fields.Decimal(allow_none=True, as_string=True)
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class DocumentFormSchema(ma.Schema):
    doc_type = ma.fields.String(required=True, validate=validate.OneOf(DOCUMENT_TYPES))


class DocumentFileSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class DocumentSchema(ma.Schema):
    id = ma.fields.Integer()
    customer_id = ma.fields.Integer()
    doc_type = ma.fields.String()
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size_bytes = ma.fields.Integer()
    sha256 = ma.fields.String()
    uploaded_by = ma.fields.String()
    uploaded_at = ma.fields.DateTime()


class ConsentGrantSchema(ma.Schema):
    purpose = ma.fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))
    scope = ma.fields.String(required=True, metadata={"description": "what the customer agreed to"})
    consent_type = ma.fields.String(required=True, validate=validate.OneOf(CONSENT_TYPES))
    channel = ma.fields.String(required=True, validate=validate.OneOf(CONSENT_CHANNELS))
    granted_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "default: now"})
    expires_at = ma.fields.AwareDateTime(allow_none=True)
    data_categories = ma.fields.List(ma.fields.String(), load_default=list)
    sensitive = ma.fields.Boolean(load_default=False)
    recipients = ma.fields.List(ma.fields.String(), load_default=list)
    notice_version = ma.fields.String(allow_none=True)
    evidence_document_id = ma.fields.Integer(allow_none=True, metadata={"description": "the signed form"})
    evidence_signature = ma.fields.String(allow_none=True, metadata={"description": "e-signature / face-sign ref"})


class ConsentWithdrawSchema(ma.Schema):
    reason = ma.fields.String(required=True)
    channel = ma.fields.String(allow_none=True, validate=validate.OneOf(CONSENT_CHANNELS))


class ConsentSchema(ma.Schema):
    id = ma.fields.Integer()
    customer_id = ma.fields.Integer()
    purpose = ma.fields.String()
    scope = ma.fields.String()
    data_categories = ma.fields.List(ma.fields.String())
    sensitive = ma.fields.Boolean()
    consent_type = ma.fields.String()
    recipients = ma.fields.List(ma.fields.String())
    notice_version = ma.fields.String(allow_none=True)
    channel = ma.fields.String()
    evidence_document_id = ma.fields.Integer(allow_none=True)
    evidence_signature = ma.fields.String(allow_none=True)
    granted_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)
    captured_by = ma.fields.String()
    withdrawn_at = ma.fields.DateTime(allow_none=True)
    withdrawal_reason = ma.fields.String(allow_none=True)
    withdrawal_channel = ma.fields.String(allow_none=True)
    withdrawn_by = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": "active, withdrawn, expired or pending"})
