"""Marshmallow schemas of the talent API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from .models import DECISIONS, ORG_UNIT_KINDS, TEAM_KINDS, TEAM_SIDES


class OrgUnitCreateSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=validate.Length(1, 40))
    kind = ma.fields.String(required=True, validate=validate.OneOf(ORG_UNIT_KINDS))
    name_zh = ma.fields.String(required=True, validate=validate.Length(1, 200))
    name_en = ma.fields.String(required=True, validate=validate.Length(1, 200))
    parent_code = ma.fields.String(load_default=None, allow_none=True)


class OrgUnitSchema(ma.Schema):
    code = ma.fields.String()
    kind = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()


class OrgNodeSchema(OrgUnitSchema):
    employees = ma.fields.List(ma.fields.Dict())
    teams = ma.fields.List(ma.fields.String())
    children = ma.fields.List(ma.fields.Nested(lambda: OrgNodeSchema()))


class EmployeeCreateSchema(ma.Schema):
    employee_no = ma.fields.String(required=True, validate=validate.Length(1, 40))
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    org_unit_code = ma.fields.String(required=True)
    hired_on = ma.fields.Date(required=True)
    position = ma.fields.String(load_default="", validate=validate.Length(0, 200))
    manager_no = ma.fields.String(load_default=None, allow_none=True)
    grade_code = ma.fields.String(load_default=None, allow_none=True)
    user_id = ma.fields.Integer(load_default=None, allow_none=True)


class EmployeeSchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    position = ma.fields.String()
    hired_on = ma.fields.Date()
    grade_since = ma.fields.Date(allow_none=True)
    status = ma.fields.String()
    user_id = ma.fields.Integer(allow_none=True)


class MoveSchema(ma.Schema):
    effective_date = ma.fields.Date(required=True)
    reason = ma.fields.String(load_default="", validate=validate.Length(0, 500))
    org_unit_code = ma.fields.String(load_default=None, allow_none=True)
    position = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 200))
    manager_no = ma.fields.String(load_default=None, allow_none=True)


class MoveRecordSchema(ma.Schema):
    kind = ma.fields.String()
    effective_date = ma.fields.Date()
    before = ma.fields.Dict()
    after = ma.fields.Dict()
    reason = ma.fields.String()


class TeamMemberSchema(ma.Schema):
    employee_no = ma.fields.String(required=True)
    side = ma.fields.String(required=True, validate=validate.OneOf(TEAM_SIDES))


class TeamCreateSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=validate.Length(1, 40))
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    kind = ma.fields.String(required=True, validate=validate.OneOf(TEAM_KINDS))
    domain = ma.fields.String(load_default="", validate=validate.Length(0, 200))
    org_unit_code = ma.fields.String(load_default=None, allow_none=True)
    lead_no = ma.fields.String(load_default=None, allow_none=True)
    members = ma.fields.List(ma.fields.Nested(TeamMemberSchema), load_default=list)


class TeamSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()
    domain = ma.fields.String()
    lead = ma.fields.String(allow_none=True)
    members = ma.fields.List(ma.fields.Nested(TeamMemberSchema))


class LadderAdoptionSchema(ma.Schema):
    overrides = ma.fields.Dict(load_default=dict, metadata={
        "description": "grade code -> {headcount_cap, min_tenure_months, required_kpis}"})


class FamilySchema(ma.Schema):
    code = ma.fields.String()
    track = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    template_version = ma.fields.Integer(allow_none=True)
    grades = ma.fields.List(ma.fields.Dict())


class TalentChangeSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    target = ma.fields.String()
    status = ma.fields.String()


class CycleCreateSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=validate.Length(1, 40))
    period = ma.fields.String(required=True, validate=validate.Length(1, 20))
    effective_date = ma.fields.Date(required=True)
    weights = ma.fields.Dict(load_default=None, allow_none=True,
                             metadata={"description": "exam, kpi, competency; sum 1"})


class CycleSchema(ma.Schema):
    code = ma.fields.String()
    period = ma.fields.String()
    effective_date = ma.fields.Date()
    weights = ma.fields.Dict()
    status = ma.fields.String()


class EvaluationCreateSchema(ma.Schema):
    employee_no = ma.fields.String(required=True)
    exam_score = ma.fields.Decimal(required=True, as_string=True)
    kpi_score = ma.fields.Decimal(required=True, as_string=True)
    competency_score = ma.fields.Decimal(load_default=None, allow_none=True, as_string=True, metadata={
        "description": "a bare number; or give competency_levels"})
    competency_levels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), load_default=None,
                                       allow_none=True, metadata={
                                           "description": "competency dimension -> level 1..5 (by its anchors)"})
    decision = ma.fields.String(required=True, validate=validate.OneOf(DECISIONS))
    target_grade = ma.fields.String(load_default=None, allow_none=True)
    reason = ma.fields.String(load_default="", validate=validate.Length(0, 500))


class EvaluationSchema(ma.Schema):
    id = ma.fields.Integer()
    cycle = ma.fields.String()
    employee_no = ma.fields.String()
    name = ma.fields.String()
    exam_score = ma.fields.Decimal(as_string=True)
    kpi_score = ma.fields.Decimal(as_string=True)
    competency_score = ma.fields.Decimal(as_string=True)
    total_score = ma.fields.Decimal(as_string=True)
    decision = ma.fields.String()
    from_grade = ma.fields.String(allow_none=True)
    to_grade = ma.fields.String(allow_none=True)
    effective_date = ma.fields.Date()
    reason = ma.fields.String()
    status = ma.fields.String()
    change_request_id = ma.fields.Integer(allow_none=True)
    competency_levels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class CareerSchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    position = ma.fields.String()
    org_unit = ma.fields.String()
    grade = ma.fields.Dict(allow_none=True)
    tenure_months = ma.fields.Integer()
    next_grade = ma.fields.Dict(allow_none=True)
    moves = ma.fields.List(ma.fields.Dict())


class PeriodArgsSchema(ma.Schema):
    period = ma.fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"),
                              metadata={"description": "YYYY-MM"})


class ScorecardDefinitionSchema(ma.Schema):
    version = ma.fields.Integer(dump_only=True)
    kpis = ma.fields.Dict(required=True, metadata={
        "description": "KPI -> {weight, target, direction: higher|lower}"})
    npl_gate = ma.fields.Decimal(required=True, as_string=True)


class ScorecardSchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    period = ma.fields.String()
    as_of = ma.fields.Date()
    definition_version = ma.fields.Integer()
    loans_disbursed = ma.fields.Integer()
    amount_disbursed = ma.fields.Decimal(as_string=True)
    managed_balance = ma.fields.Decimal(as_string=True)
    customers = ma.fields.Integer()
    interest_contribution = ma.fields.Decimal(as_string=True)
    overdue_ratio = ma.fields.Decimal(as_string=True)
    npl_ratio = ma.fields.Decimal(as_string=True)
    first_payment_defaults = ma.fields.Integer()
    rework_rate = ma.fields.Decimal(as_string=True, allow_none=True)
    turnaround_days = ma.fields.Decimal(as_string=True, allow_none=True)
    kpi_score = ma.fields.Decimal(as_string=True)
    promotion_blocked = ma.fields.Boolean()


class CompetencyAdoptionSchema(ma.Schema):
    overrides = ma.fields.Dict(load_default=dict, metadata={
        "description": "dimension code -> {anchors: {level: {zh, en}}, required_levels: {grade: level}}"})


class CompetencyDimensionSchema(ma.Schema):
    code = ma.fields.String()
    family = ma.fields.String(allow_none=True)
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    anchors = ma.fields.Dict()
    required_levels = ma.fields.Dict()
    template_version = ma.fields.Integer(allow_none=True)


class PayBandSchema(ma.Schema):
    grade = ma.fields.String(dump_only=True)
    currency = ma.fields.String(load_default="CNY", validate=validate.Length(3, 3))
    minimum = ma.fields.Decimal(required=True, as_string=True)
    midpoint = ma.fields.Decimal(required=True, as_string=True)
    maximum = ma.fields.Decimal(required=True, as_string=True)
    steps = ma.fields.List(ma.fields.Decimal(as_string=True), required=True)


class PayPolicySchema(ma.Schema):
    version = ma.fields.Integer(dump_only=True)
    params = ma.fields.Dict(required=True, metadata={
        "description": "base_bonus, base_bonus_by_grade, npl_multiplier, overdue_multiplier, deferral_share, "
                       "deferral_months, clawback_window_months, clawback_dpd (unnamed ones keep the default)"})


class OfficerPaySchema(ma.Schema):
    employee_no = ma.fields.String()
    name = ma.fields.String()
    period = ma.fields.String()
    policy_version = ma.fields.Integer()
    base_pay = ma.fields.Decimal(as_string=True, allow_none=True)
    base_bonus = ma.fields.Decimal(as_string=True)
    kpi_score = ma.fields.Decimal(as_string=True)
    quality_multiplier = ma.fields.Decimal(as_string=True)
    variable_pay = ma.fields.Decimal(as_string=True)
    paid_now = ma.fields.Decimal(as_string=True)
    deferred = ma.fields.Decimal(as_string=True)
    deferred_until = ma.fields.Date()
    clawback = ma.fields.Boolean()
    explanation = ma.fields.Dict()


class OfficerProductivitySchema(ma.Schema):
    user_id = ma.fields.Integer()
    employee_no = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    loans = ma.fields.Integer()
    active = ma.fields.Boolean()
    portfolio = ma.fields.Decimal(as_string=True)


class ProductivitySchema(ma.Schema):
    period = ma.fields.String()
    start = ma.fields.Date()
    end = ma.fields.Date()
    loans_per_officer = ma.fields.Decimal(as_string=True, allow_none=True)
    portfolio_per_officer = ma.fields.Decimal(as_string=True, allow_none=True)
    officers = ma.fields.Integer()
    per_officer = ma.fields.List(ma.fields.Nested(OfficerProductivitySchema))


class PayStepSchema(ma.Schema):
    employee_no = ma.fields.String(dump_only=True)
    pay_step = ma.fields.Integer(required=True, validate=validate.Range(min=1))
