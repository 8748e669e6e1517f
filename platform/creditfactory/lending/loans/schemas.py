"""Marshmallow schemas of the loan servicing API."""

from __future__ import annotations

import marshmallow as ma


class LoanSchema(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String()
    kind = ma.fields.String()
    state = ma.fields.String()
    customer_id = ma.fields.Integer()
    principal_amount = ma.fields.Decimal(as_string=True)
    credit_limit = ma.fields.Decimal(as_string=True)
    annual_rate = ma.fields.Decimal(as_string=True)
    penalty_rate = ma.fields.Decimal(as_string=True)
    disbursed_on = ma.fields.Date()
    maturity_date = ma.fields.Date()
    schedule_version = ma.fields.Integer()
    principal_outstanding = ma.fields.Decimal(as_string=True)
    penalty_receivable = ma.fields.Decimal(as_string=True)
    interest_suspended = ma.fields.Decimal(as_string=True)
    dpd = ma.fields.Integer()
    non_accrual = ma.fields.Boolean()
    risk_class = ma.fields.String()
    observation_until = ma.fields.Date(allow_none=True)
    row_version = ma.fields.Integer()


class InstallmentSchema(ma.Schema):
    version = ma.fields.Integer()
    seq = ma.fields.Integer()
    start_date = ma.fields.Date()
    due_date = ma.fields.Date()
    principal_due = ma.fields.Decimal(as_string=True)
    interest_due = ma.fields.Decimal(as_string=True)
    interest_accrued = ma.fields.Decimal(as_string=True)
    principal_paid = ma.fields.Decimal(as_string=True)
    interest_paid = ma.fields.Decimal(as_string=True)
    status = ma.fields.String()
    paid_on = ma.fields.Date(allow_none=True)


class TransactionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    business_date = ma.fields.Date()
    amount = ma.fields.Decimal(as_string=True)
    principal = ma.fields.Decimal(as_string=True)
    interest = ma.fields.Decimal(as_string=True)
    penalty = ma.fields.Decimal(as_string=True)
    idempotency_key = ma.fields.String(allow_none=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    reversed = ma.fields.Boolean()
    reason = ma.fields.String()
    entry_id = ma.fields.Integer()


class PostingSchema(ma.Schema):
    entry_id = ma.fields.Integer()
    business_date = ma.fields.Date()
    kind = ma.fields.String()
    account_code = ma.fields.String()
    debit = ma.fields.Decimal(as_string=True)
    credit = ma.fields.Decimal(as_string=True)


class PostingQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 1000))
    before_entry = ma.fields.Integer(load_default=None)


class TransactionQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 1000))
    before_id = ma.fields.Integer(load_default=None)


class ScheduleQuerySchema(ma.Schema):
    #: A schedule version; by default every version (restructuring keeps the old ones).
    version = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))


class ClassificationEventSchema(ma.Schema):
    id = ma.fields.Integer()
    from_class = ma.fields.String()
    to_class = ma.fields.String()
    direction = ma.fields.String()
    trigger = ma.fields.String()
    dpd = ma.fields.Integer()
    evidence = ma.fields.Raw()
    status = ma.fields.String()
    proposed_by = ma.fields.String()
    decided_by = ma.fields.String(allow_none=True)
    reason = ma.fields.String()
    business_date = ma.fields.Date()


class PayoffQuoteSchema(ma.Schema):
    business_date = ma.fields.Date()
    principal = ma.fields.Decimal(as_string=True)
    interest = ma.fields.Decimal(as_string=True)
    penalty = ma.fields.Decimal(as_string=True)
    total = ma.fields.Decimal(as_string=True)


class RepaymentSchema(ma.Schema):
    amount = ma.fields.Decimal(required=True, as_string=True)
    #: Settle the loan: the amount must equal today's payoff quote.
    payoff = ma.fields.Boolean(load_default=False)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    #: For clients that cannot set headers; the Idempotency-Key header wins when both are sent.
    idempotency_key = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=100))


class PrepaymentSchema(ma.Schema):
    amount = ma.fields.Decimal(required=True, as_string=True)
    #: ``reamortise``: same number of instalments, smaller; ``shorten_term``: same instalment, fewer periods.
    mode = ma.fields.String(required=True, validate=ma.validate.OneOf(("reamortise", "shorten_term")))
    method = ma.fields.String(load_default="equal_installment",
                              validate=ma.validate.OneOf(("equal_installment", "equal_principal")))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    idempotency_key = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=100))


class ReversalSchema(ma.Schema):
    #: The Idempotency-Key the posting to reverse was made with, or its transaction id.
    idempotency_key = ma.fields.String(load_default=None)
    transaction_id = ma.fields.Integer(load_default=None)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class CobStatusSchema(ma.Schema):
    business_date = ma.fields.Date()
    last_closed = ma.fields.Date()
    last_steps = ma.fields.List(ma.fields.Dict())
    ratios = ma.fields.Dict()


class ScheduleRowSchema(ma.Schema):
    due_date = ma.fields.Date(required=True)
    principal = ma.fields.Decimal(required=True, as_string=True)
    interest = ma.fields.Decimal(required=True, as_string=True)


class RestructureSchema(ma.Schema):
    """New terms for the outstanding principal: explicit ``installments``, or ``months`` (and ``method``) for the
    calculator to build them monthly from today at the loan's rate. The old schedule version is kept."""

    installments = ma.fields.List(ma.fields.Nested(ScheduleRowSchema), load_default=None,
                                  validate=ma.validate.Length(min=1, max=360))
    months = ma.fields.Integer(load_default=None, validate=ma.validate.Range(1, 360))
    method = ma.fields.String(load_default="equal_installment",
                              validate=ma.validate.OneOf(("equal_installment", "equal_principal")))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    #: True: a concession to a borrower in difficulty (restructured state, observation period, DOMAIN §3.1).
    financial_difficulty = ma.fields.Boolean(load_default=True)

    @ma.validates_schema
    def _one_way(self, data, **kwargs):
        if (data.get("installments") is None) == (data.get("months") is None):
            raise ma.ValidationError("give either installments or months", "installments")


class LoanReasonSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class WaiverRequestSchema(ma.Schema):
    interest = ma.fields.Decimal(load_default="0.00", as_string=True)
    penalty = ma.fields.Decimal(load_default="0.00", as_string=True)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class LoanChangeSchema(ma.Schema):
    """A waiver or write-off waiting for (or decided by) a second person: approve it with
    ``POST /changes/{id}/approve`` (``config:approve``)."""

    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    status = ma.fields.String()
    payload = ma.fields.Dict()
    made_at = ma.fields.DateTime()


class UpgradeRequestSchema(ma.Schema):
    to_class = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("normal", "special_mention", "substandard", "doubtful")))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    evidence = ma.fields.Dict(load_default=None)


class ReviewQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 500))
    after_id = ma.fields.Integer(load_default=None)


class ReviewItemSchema(ClassificationEventSchema):
    loan_reference = ma.fields.String()
    loan_state = ma.fields.String()
