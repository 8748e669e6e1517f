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


class OverlayVersionSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    stage = ma.fields.String()
    version = ma.fields.Integer()
    status = ma.fields.String()
    content = ma.fields.Dict()
    content_hash = ma.fields.String()
    effective_from = ma.fields.Date()
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime()
    published_at = ma.fields.DateTime(allow_none=True)
    change_request_id = ma.fields.Integer(allow_none=True)


class OverlayDraftSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Standard rule set the overlay applies to"})
    overlay = ma.fields.Dict(required=True, metadata={"description": "add_rows, add_rules, add_tables, reasons, "
                                                                      "disable, tighten"})
    effective_from = ma.fields.Date(required=True)


class OverlayUpdateSchema(ma.Schema):
    overlay = ma.fields.Dict(required=True)


class ValidationRequestSchema(ma.Schema):
    code = ma.fields.String(required=True)
    overlay = ma.fields.Dict(required=True)


class ValidationErrorSchema(ma.Schema):
    message = ma.fields.String()
    position = ma.fields.Integer(allow_none=True, metadata={"description": "1-based character offset in text"})
    where = ma.fields.String(allow_none=True)
    text = ma.fields.String(allow_none=True)


class ValidationResultSchema(ma.Schema):
    valid = ma.fields.Boolean()
    errors = ma.fields.List(ma.fields.Nested(ValidationErrorSchema))


class DiffEntrySchema(ma.Schema):
    change = ma.fields.String()
    kind = ma.fields.String()
    table = ma.fields.String(allow_none=True)
    id = ma.fields.String()
    column = ma.fields.String(allow_none=True)
    before = ma.fields.Raw(allow_none=True)
    after = ma.fields.Raw(allow_none=True)


class OverlayDiffSchema(ma.Schema):
    version_id = ma.fields.Integer()
    standard = ma.fields.Nested(VersionRefSchema)
    differences = ma.fields.List(ma.fields.Nested(DiffEntrySchema))


class ChangeRefSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    status = ma.fields.String()


class StandardVersionSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    stage = ma.fields.String()
    version = ma.fields.Integer()
    status = ma.fields.String()
    content = ma.fields.Dict()
    content_hash = ma.fields.String()
    effective_from = ma.fields.Date()
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime()
    published_at = ma.fields.DateTime(allow_none=True)


class StandardDraftSchema(ma.Schema):
    ruleset = ma.fields.Dict(required=True, metadata={"description": "A rule set: code, stage, tables, rules, "
                                                                      "reasons"})
    effective_from = ma.fields.Date(required=True)


class ExplanationArgsSchema(ma.Schema):
    locale = ma.fields.String(load_default="zh", validate=ma.validate.OneOf(["zh", "en"]))
    audience = ma.fields.String(load_default="customer", validate=ma.validate.OneOf(["customer", "staff"]))


class ReasonTextSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    code = ma.fields.String()
    text = ma.fields.String()


class ExplanationSchema(ma.Schema):
    id = ma.fields.Integer()
    stage = ma.fields.String()
    outcome = ma.fields.String()
    automated_outcome = ma.fields.String()
    overridden = ma.fields.Boolean()
    reasons = ma.fields.List(ma.fields.Raw())
    fired = ma.fields.List(ma.fields.Dict())
    override_justification = ma.fields.String(allow_none=True)


class DecisionRecordSchema(ma.Schema):
    id = ma.fields.Integer()
    application_id = ma.fields.Integer(allow_none=True)
    stage = ma.fields.String()
    outcome = ma.fields.String()
    reason_codes = ma.fields.List(ma.fields.String())
    fired = ma.fields.List(ma.fields.Dict())
    outputs = ma.fields.Dict()
    facts = ma.fields.Dict()
    standard_version_id = ma.fields.Integer()
    overlay_version_id = ma.fields.Integer(allow_none=True)
    effective_hash = ma.fields.String()
    evaluated_at = ma.fields.DateTime()
    elapsed_ms = ma.fields.Float()
    override_outcome = ma.fields.String(allow_none=True)
    override_justification = ma.fields.String(allow_none=True)
    overridden_by = ma.fields.Integer(allow_none=True)
    overridden_at = ma.fields.DateTime(allow_none=True)


class OverrideSchema(ma.Schema):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(["pass", "approve", "refer", "decline"]))
    justification = ma.fields.String(required=True)


class SimulationRequestSchema(ma.Schema):
    draft_version_id = ma.fields.Integer(required=True, metadata={
        "description": "The overlay version (draft, pending or published) to simulate"})
    sample = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1), metadata={
        "description": "Only the latest N applications' decisions (default: all)"})
    as_of = ma.fields.Date(load_default=None, allow_none=True, metadata={
        "description": "Date of the 'current' version and of loan maturity (default today)"})


class SimulationSwapSchema(ma.Schema):
    count = ma.fields.Integer()
    applications = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "application_id, record_id, current, draft (at most 200)"})


class SimulationObservedSchema(ma.Schema):
    matured = ma.fields.Integer()
    bad = ma.fields.Integer()
    bad_rate = ma.fields.Float(allow_none=True)


class SimulationSideSchema(ma.Schema):
    outcomes = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    accepted = ma.fields.Integer()
    approval_rate = ma.fields.Float(allow_none=True)
    expected_bad_rate = ma.fields.Float(allow_none=True)
    observed = ma.fields.Nested(SimulationObservedSchema)


class SimulationResultsSchema(ma.Schema):
    evaluated = ma.fields.Integer()
    skipped = ma.fields.Integer()
    changed = ma.fields.Integer()
    current = ma.fields.Nested(SimulationSideSchema)
    draft = ma.fields.Nested(SimulationSideSchema)
    swap_in = ma.fields.Nested(SimulationSwapSchema)
    swap_out = ma.fields.Nested(SimulationSwapSchema)
    bad_rates = ma.fields.Dict(allow_none=True, metadata={"description": "Bad rate of matured loans per "
                                                                         "bureau-score band (expected bad rate)"})


class SimulationProgressSchema(ma.Schema):
    done = ma.fields.Integer()
    total = ma.fields.Integer()
    percent = ma.fields.Float()


class SimulationSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    stage = ma.fields.String()
    code = ma.fields.String()
    draft_version_id = ma.fields.Integer()
    standard_version_id = ma.fields.Integer()
    current_overlay_version_id = ma.fields.Integer(allow_none=True)
    as_of = ma.fields.Date()
    sample = ma.fields.Integer(allow_none=True)
    progress = ma.fields.Nested(SimulationProgressSchema)
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    error = ma.fields.String(allow_none=True)
    results = ma.fields.Nested(SimulationResultsSchema)


class ChallengerRequestSchema(ma.Schema):
    version_id = ma.fields.Integer(required=True, metadata={"description": "Overlay version to run in shadow"})
    share_percent = ma.fields.Decimal(required=True, places=2, as_string=True,
                                      validate=ma.validate.Range(min=0, max=100),
                                      metadata={"description": "Share of applications (by application id hash)"})


class ChallengerSchema(ma.Schema):
    id = ma.fields.Integer()
    stage = ma.fields.String()
    version_id = ma.fields.Integer()
    share_percent = ma.fields.Decimal(as_string=True)
    set_by = ma.fields.String()
    set_at = ma.fields.DateTime()


class ChallengerReportArgsSchema(ma.Schema):
    version_id = ma.fields.Integer(load_default=None, metadata={"description": "One challenger version only"})


class ChallengerPairSchema(ma.Schema):
    champion = ma.fields.String()
    challenger = ma.fields.String()
    count = ma.fields.Integer()


class ChallengerSwapSchema(ma.Schema):
    count = ma.fields.Integer()
    applications = ma.fields.List(ma.fields.Dict())


class ChallengerReportSchema(ma.Schema):
    stage = ma.fields.String()
    version_id = ma.fields.Integer(allow_none=True)
    decisions = ma.fields.Integer()
    pairs = ma.fields.List(ma.fields.Nested(ChallengerPairSchema))
    agreement_rate = ma.fields.Float(allow_none=True)
    champion_approval_rate = ma.fields.Float(allow_none=True)
    challenger_approval_rate = ma.fields.Float(allow_none=True)
    swap_in = ma.fields.Nested(ChallengerSwapSchema)
    swap_out = ma.fields.Nested(ChallengerSwapSchema)
