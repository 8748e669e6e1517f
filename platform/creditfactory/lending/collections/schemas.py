"""Marshmallow schemas of the collections and post-loan inspection API."""

from __future__ import annotations

import marshmallow as ma

from .models import ACTION_KINDS, INSPECTION_METHODS, OUTCOMES, STAGES

Money = lambda **kw: ma.fields.Decimal(as_string=True, **kw)  # noqa: E731


class CaseQuerySchema(ma.Schema):
    status = ma.fields.String(load_default="open", validate=ma.validate.OneOf(("open", "closed")))
    stage = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STAGES))
    collector_id = ma.fields.Integer(load_default=None)
    unassigned = ma.fields.Boolean(load_default=False)
    limit = ma.fields.Integer(load_default=200, validate=ma.validate.Range(min=1, max=1000))


class CaseRowSchema(ma.Schema):
    id = ma.fields.Integer()
    loan_id = ma.fields.Integer()
    reference = ma.fields.String()
    borrower = ma.fields.String()
    status = ma.fields.String()
    stage = ma.fields.String()
    dpd = ma.fields.Integer()
    collector_id = ma.fields.Integer(allow_none=True)
    opened_on = ma.fields.Date()
    closed_on = ma.fields.Date(allow_none=True)
    state = ma.fields.String()
    risk_class = ma.fields.String()
    principal_outstanding = Money()
    arrear_principal = Money()
    arrear_interest = Money()
    penalty_receivable = Money()
    last_action_on = ma.fields.Date(allow_none=True)
    promised_date = ma.fields.Date(allow_none=True)
    next_actions = ma.fields.List(ma.fields.String())


class CaseSchema(ma.Schema):
    id = ma.fields.Integer()
    loan_id = ma.fields.Integer()
    status = ma.fields.String()
    stage = ma.fields.String()
    dpd = ma.fields.Integer()
    collector_id = ma.fields.Integer(allow_none=True)
    opened_on = ma.fields.Date()
    closed_on = ma.fields.Date(allow_none=True)


class ActionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTION_KINDS))
    action_date = ma.fields.Date(load_default=None)
    dpd = ma.fields.Integer(dump_only=True)
    arrear_principal = Money(dump_only=True)
    arrear_interest = Money(dump_only=True)
    arrear_reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    result_note = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    collector = ma.fields.String(dump_only=True)


class PromiseSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    amount = Money(required=True)
    promised_date = ma.fields.Date(required=True)
    made_on = ma.fields.Date(dump_only=True)
    status = ma.fields.String(dump_only=True)
    paid = Money(dump_only=True)
    resolved_on = ma.fields.Date(dump_only=True, allow_none=True)
    created_by = ma.fields.String(dump_only=True)


class NoticeRequestSchema(ma.Schema):
    language = ma.fields.String(load_default="zh", validate=ma.validate.OneOf(("zh", "en")))


class NoticeSummarySchema(ma.Schema):
    """A notice as a case lists it: without its text and signature check."""

    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    issued_on = ma.fields.Date()
    language = ma.fields.String()
    sha256 = ma.fields.String()
    signature = ma.fields.String()
    key_id = ma.fields.Integer()
    receipt_signed_on = ma.fields.Date(allow_none=True)
    receipt_note = ma.fields.String()


class NoticeSchema(NoticeSummarySchema):
    body = ma.fields.String()
    valid = ma.fields.Boolean()


class ReceiptSchema(ma.Schema):
    signed_on = ma.fields.Date(required=True)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=1000))


class ArrearsSchema(ma.Schema):
    principal = Money()
    interest = Money()
    penalty = Money()
    missed_periods = ma.fields.Integer()


class CaseDetailSchema(ma.Schema):
    case = ma.fields.Nested(CaseSchema)
    reference = ma.fields.String()
    arrears = ma.fields.Nested(ArrearsSchema)
    next_actions = ma.fields.List(ma.fields.String())
    actions = ma.fields.List(ma.fields.Nested(ActionSchema))
    promises = ma.fields.List(ma.fields.Nested(PromiseSchema))
    notices = ma.fields.List(ma.fields.Nested(NoticeSummarySchema))


class AssignmentSchema(ma.Schema):
    collector_id = ma.fields.Integer(required=True, allow_none=True)


class ReviewSchema(ma.Schema):
    business_date = ma.fields.Date()
    cases_opened = ma.fields.Integer()
    cases_closed = ma.fields.Integer()
    promises_resolved = ma.fields.Integer()
    reminders_queued = ma.fields.Integer()
    inspections_scheduled = ma.fields.Integer()


class InspectionQuerySchema(ma.Schema):
    due_by = ma.fields.Date(load_default=None)
    pending = ma.fields.Boolean(load_default=True)
    limit = ma.fields.Integer(load_default=200, validate=ma.validate.Range(min=1, max=1000))


class InspectionRowSchema(ma.Schema):
    id = ma.fields.Integer()
    loan_id = ma.fields.Integer()
    reference = ma.fields.String()
    borrower = ma.fields.String()
    type = ma.fields.String()
    due_date = ma.fields.Date()
    reason = ma.fields.String()
    performed_on = ma.fields.Date(allow_none=True)
    method = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    proposed_risk_class = ma.fields.String(allow_none=True)
    risk_class = ma.fields.String()
    dpd = ma.fields.Integer()
    state = ma.fields.String()


class InspectionRecordSchema(ma.Schema):
    method = ma.fields.String(required=True, validate=ma.validate.OneOf(INSPECTION_METHODS))
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    funds_use_verified = ma.fields.Boolean(load_default=None, allow_none=True)
    business_status = ma.fields.String(load_default="", validate=ma.validate.Length(max=4000))
    new_debts = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    early_warning_hits = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=100)), load_default=list)


class InspectionSchema(ma.Schema):
    id = ma.fields.Integer()
    loan_id = ma.fields.Integer()
    type = ma.fields.String()
    due_date = ma.fields.Date()
    performed_on = ma.fields.Date(allow_none=True)
    method = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    funds_use_verified = ma.fields.Boolean(allow_none=True)
    business_status = ma.fields.String()
    new_debts = ma.fields.String()
    early_warning_hits = ma.fields.List(ma.fields.String())
    proposed_risk_class = ma.fields.String(allow_none=True)
    inspector = ma.fields.String()
