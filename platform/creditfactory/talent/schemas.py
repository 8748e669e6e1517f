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
    competency_score = ma.fields.Decimal(required=True, as_string=True)
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
    kpi_score = ma.fields.Decimal(as_string=True)
    promotion_blocked = ma.fields.Boolean()
