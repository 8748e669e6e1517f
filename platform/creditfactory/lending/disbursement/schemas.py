"""Marshmallow schemas of the disbursement API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from .models import MODES, SELF_PAYMENT_GROUNDS


class CreateSchema(ma.Schema):
    contract_id = ma.fields.Integer(required=True)
    idempotency_key = ma.fields.String(load_default=None, metadata={"description": "or the Idempotency-Key header"})
    mode = ma.fields.String(load_default="ENTRUSTED", validate=validate.OneOf(MODES))
    self_payment_ground = ma.fields.String(load_default=None, validate=validate.OneOf(SELF_PAYMENT_GROUNDS))
    payee_name = ma.fields.String(required=True)
    payee_account = ma.fields.String(required=True)
    payee_bank = ma.fields.String(load_default="")
    purpose = ma.fields.String(load_default="")
    value_date = ma.fields.Date(load_default=None)
    #: The customer's documents (already in the file store) that evidence the transaction.
    evidence_document_ids = ma.fields.List(ma.fields.Integer(), load_default=list)


class DisbursementSchema(ma.Schema):
    id = ma.fields.Integer()
    idempotency_key = ma.fields.String()
    contract_id = ma.fields.Integer()
    application_id = ma.fields.Integer()
    loan_id = ma.fields.Integer(allow_none=True)
    amount = ma.fields.Decimal(as_string=True)
    mode = ma.fields.String()
    self_payment_ground = ma.fields.String(allow_none=True)
    payee_name = ma.fields.String()
    payee_account = ma.fields.String()
    payee_bank = ma.fields.String()
    purpose = ma.fields.String()
    evidence = ma.fields.List(ma.fields.Dict())
    value_date = ma.fields.Date(allow_none=True)
    adapter = ma.fields.String()
    adapter_ref = ma.fields.String()
    core_banking_ref = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    failure_reason = ma.fields.String()
    created_at = ma.fields.DateTime()
    sent_at = ma.fields.DateTime(allow_none=True)
    settled_at = ma.fields.DateTime(allow_none=True)


class SettleSchema(ma.Schema):
    core_banking_ref = ma.fields.String(required=True)


class DisbursementReasonSchema(ma.Schema):
    reason = ma.fields.String(required=True)


class QueueQuerySchema(ma.Schema):
    status = ma.fields.List(ma.fields.String(validate=validate.OneOf(
        ("PENDING", "SENT", "SETTLED", "FAILED", "REVERSED"))), load_default=lambda: ["PENDING", "SENT"])
