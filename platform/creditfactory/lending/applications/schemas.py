"""Applications API schemas."""

from __future__ import annotations

import marshmallow as ma

from .models import CHANNELS
from .services import QUEUES
from .states import State


class ApplicationCreateSchema(ma.Schema):
    customer_id = ma.fields.Integer(required=True)
    product_id = ma.fields.Integer(required=True, metadata={"description": "The product version applied for"})
    amount = ma.fields.Decimal(required=True, as_string=True, metadata={"description": "Yuan, to the fen"})
    term_months = ma.fields.Integer(required=True)
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(CHANNELS))
    purpose = ma.fields.String(load_default="")
    officer_id = ma.fields.Integer(load_default=None, metadata={
        "description": "The responsible loan officer's user id; defaults to the user acting (required for machines)"})
    lead = ma.fields.Boolean(load_default=False, metadata={"description": "Register a lead (LEAD), not yet an application"})
    repayment_method = ma.fields.String(load_default=None, allow_none=True, metadata={
        "description": "One the product offers (may be left out when the product offers only one)"})
    sector = ma.fields.String(load_default=None, allow_none=True, metadata={
        "description": "The product's sector code the business falls in (one of its eligible sectors)"})
    bureau_query = ma.fields.Boolean(load_default=False, metadata={
        "description": "A credit-bureau query will be made: the customer's bureau_query consent is required"})


class ApplicationSchema(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String()
    customer_id = ma.fields.Integer()
    product_id = ma.fields.Integer()
    amount = ma.fields.Decimal(as_string=True)
    term_months = ma.fields.Integer()
    channel = ma.fields.String()
    purpose = ma.fields.String()
    state = ma.fields.String()
    officer_id = ma.fields.Integer(allow_none=True)
    assignee_id = ma.fields.Integer(allow_none=True)
    investigator_id = ma.fields.Integer(allow_none=True)
    state_entered_at = ma.fields.DateTime()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    repayment_method = ma.fields.String(allow_none=True)
    sector = ma.fields.String(allow_none=True)
    bureau_consent_id = ma.fields.Integer(allow_none=True)
    indicative_segment = ma.fields.String(allow_none=True, metadata={"description": "Pre-approval segment"})
    indicative_limit = ma.fields.Decimal(as_string=True, allow_none=True)
    indicative_rate = ma.fields.Decimal(as_string=True, allow_none=True)
    indicative_term_months = ma.fields.Integer(allow_none=True)


class HistorySchema(ma.Schema):
    from_state = ma.fields.String(allow_none=True)
    to_state = ma.fields.String()
    event = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.String()
    reason = ma.fields.String()
    entered_at = ma.fields.DateTime()
    left_at = ma.fields.DateTime(allow_none=True)


class DecisionSchema(ma.Schema):
    decision = ma.fields.String()
    decided_by = ma.fields.Integer(allow_none=True)
    by_committee = ma.fields.Integer(allow_none=True)
    reasons = ma.fields.String()
    conditions = ma.fields.List(ma.fields.String())
    decided_at = ma.fields.DateTime()


class SlaSchema(ma.Schema):
    state = ma.fields.String()
    hours = ma.fields.Integer(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    overdue = ma.fields.Boolean()


class EngineDecisionSchema(ma.Schema):
    id = ma.fields.Integer()
    stage = ma.fields.String()
    outcome = ma.fields.String()
    override_outcome = ma.fields.String(allow_none=True)
    reason_codes = ma.fields.List(ma.fields.String())
    fired = ma.fields.List(ma.fields.Dict())
    outputs = ma.fields.Dict()
    evaluated_at = ma.fields.DateTime()


class ApplicationDetailSchema(ApplicationSchema):
    history = ma.fields.List(ma.fields.Nested(HistorySchema))
    decisions = ma.fields.List(ma.fields.Nested(DecisionSchema))
    sla = ma.fields.Nested(SlaSchema)
    turnaround = ma.fields.Dict()
    engine = ma.fields.List(ma.fields.Nested(EngineDecisionSchema), metadata={
        "description": "The decision engine's latest decision at each stage (admission, pre-approval, approval)"})


class ApplicationQuerySchema(ma.Schema):
    state = ma.fields.String(validate=ma.validate.OneOf([s.value for s in State]))
    assignee_id = ma.fields.Integer()
    officer_id = ma.fields.Integer()
    channel = ma.fields.String(validate=ma.validate.OneOf(CHANNELS))
    queue = ma.fields.String(validate=ma.validate.OneOf(QUEUES))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 500))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0))


class ReasonSchema(ma.Schema):
    reason = ma.fields.String(load_default="")


class PrescreenSchema(ma.Schema):
    passed = ma.fields.Boolean(required=True)
    reason = ma.fields.String(load_default="")


class DecideSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(("approve", "reject", "return")))
    reasons = ma.fields.String(required=True)


class SessionCreateSchema(ma.Schema):
    meeting_date = ma.fields.Date(required=True)
    member_ids = ma.fields.List(ma.fields.Integer(), required=True)
    quorum = ma.fields.Integer(load_default=None)


class VoteSchema(ma.Schema):
    member_id = ma.fields.Integer()
    vote = ma.fields.String()
    comment = ma.fields.String()
    conditions = ma.fields.List(ma.fields.String())
    cast_at = ma.fields.DateTime()


class CommitteeCaseSchema(ma.Schema):
    application_id = ma.fields.Integer()
    decision = ma.fields.String(allow_none=True)
    conditions = ma.fields.List(ma.fields.String())
    dissent = ma.fields.List(ma.fields.Integer())
    decided_at = ma.fields.DateTime(allow_none=True)
    votes = ma.fields.List(ma.fields.Nested(VoteSchema))


class SessionSchema(ma.Schema):
    id = ma.fields.Integer()
    meeting_date = ma.fields.Date()
    quorum = ma.fields.Integer()
    status = ma.fields.String()
    members = ma.fields.List(ma.fields.Integer())
    cases = ma.fields.List(ma.fields.Nested(CommitteeCaseSchema))
    created_at = ma.fields.DateTime()
    closed_at = ma.fields.DateTime(allow_none=True)


class AddCaseSchema(ma.Schema):
    application_id = ma.fields.Integer(required=True)
    reason = ma.fields.String(load_default="")


class CastVoteSchema(ma.Schema):
    application_id = ma.fields.Integer(required=True)
    vote = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("approve", "approve_with_conditions", "reject", "return")))
    comment = ma.fields.String(load_default="")
    conditions = ma.fields.List(ma.fields.String(), load_default=list)


class CloseSchema(ma.Schema):
    minutes = ma.fields.String(required=True)


class AuthoritySchema(ma.Schema):
    role = ma.fields.String()
    product_code = ma.fields.String()
    max_amount = ma.fields.Decimal(as_string=True)
    max_term_months = ma.fields.Integer()


class AuthorityProposalSchema(ma.Schema):
    role = ma.fields.String(required=True)
    product_code = ma.fields.String(load_default="*")
    max_amount = ma.fields.Decimal(as_string=True, load_default=None)
    max_term_months = ma.fields.Integer(load_default=None)
    remove = ma.fields.Boolean(load_default=False)


class AuthorityChangeRequestSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    payload = ma.fields.Dict()
    status = ma.fields.String()
