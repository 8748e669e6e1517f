"""Talent against real PostgreSQL: organisation and history, agile teams, the standard ladder adopted through
maker-checker with adjustments, evaluations that promote, demote and transfer tracks once a second person approves."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.audit.models import AuditEntry
from creditfactory.db import CurrentTenant, tenant_session
from creditfactory.errors import Conflict, NotFound
from creditfactory.identity import changes
from creditfactory.identity.errors import AccessDenied, SegregationOfDutiesViolation
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.talent import services
from creditfactory.talent.models import Employee, JobGrade
from creditfactory.talent.services import TalentError

MAKER, CHECKER, OFFICER = 201, 202, 203


def person(role: str, tenant, user_id: int) -> Principal:
    r = STANDARD_ROLES[role]
    return Principal(user_id, f"user{user_id}", r.context, tenant.slug, r.permissions, frozenset({role}))


@contextmanager
def acting(principal, tenant):
    with CurrentPrincipal.bind(principal), CurrentActor.bind(Actor(str(principal.user_id), ActorKind.USER)), \
            CurrentTenant.bind(tenant):
        yield


@pytest.fixture
def bank(tenant_factory):
    return tenant_factory(name_en="Talent Bank")


def _org(session):
    services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="Head office")
    services.create_org_unit(session, code="BR1", kind="branch", name_zh="城关支行", name_en="Chengguan branch",
                             parent_code="HO")
    services.create_org_unit(session, code="SB1", kind="sub_branch", name_zh="东街分理处", name_en="East St office",
                             parent_code="BR1")
    services.create_org_unit(session, code="IT", kind="department", name_zh="科技部", name_en="IT department",
                             parent_code="HO")


def _adopt(session, bank, overrides=None):
    with acting(person("tenant_admin", bank, MAKER), bank):
        request = services.propose_adoption(session, overrides or {})
    with acting(person("tenant_admin", bank, CHECKER), bank):
        changes.approve(session, request.id)
    return request


def test_org_units_employees_moves_and_reporting_lines(bank):
    admin = person("tenant_admin", bank, MAKER)
    with tenant_session(bank) as session, session.begin(), acting(admin, bank):
        _org(session)
        with pytest.raises(TalentError, match="sub-branch belongs to a branch"):
            services.create_org_unit(session, code="X", kind="sub_branch", name_zh="x", name_en="x",
                                     parent_code="HO")
        with pytest.raises(Conflict):
            services.create_org_unit(session, code="BR1", kind="branch", name_zh="x", name_en="x", parent_code="HO")
        with pytest.raises(Conflict, match="head office"):
            services.create_org_unit(session, code="HO2", kind="head_office", name_zh="x", name_en="x")
        services.hire(session, employee_no="E1", name="张行长", org_unit_code="BR1", position="支行行长",
                      hired_on=dt.date(2015, 3, 1), user_id=MAKER)
        services.hire(session, employee_no="E2", name="李客户经理", org_unit_code="SB1", position="客户经理",
                      manager_no="E1", hired_on=dt.date(2022, 6, 15), user_id=OFFICER)
        with pytest.raises(Conflict, match="already linked"):
            services.hire(session, employee_no="E3", name="x", org_unit_code="BR1", hired_on=dt.date(2024, 1, 1),
                          user_id=OFFICER)
        services.move(session, "E2", effective_date=dt.date(2024, 1, 1), org_unit_code="BR1",
                      position="高级客户经理", reason="调岗")
        with pytest.raises(TalentError, match="cycle"):
            services.move(session, "E1", effective_date=dt.date(2024, 1, 1), manager_no="E2")
        kinds = [(m.kind, m.before.get("org_unit"), m.after["org_unit"], m.after["position"])
                 for m in services.history(session, "E2")]
        assert kinds == [("hire", None, "SB1", "客户经理"), ("transfer", "SB1", "BR1", "客户经理"),
                         ("position", "BR1", "BR1", "高级客户经理")]
        chart = services.org_chart(session)
        assert [n["code"] for n in chart] == ["HO"]
        branch = chart[0]["children"][0]
        assert branch["code"] == "BR1" and [c["code"] for c in branch["children"]] == ["SB1"]
        assert [(e["employee_no"], e["manager"]) for e in branch["employees"]] == [("E1", None), ("E2", "E1")]
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "employee")).all()
        assert sorted(actions) == ["talent.employee.hire", "talent.employee.hire", "talent.employee.position",
                                   "talent.employee.transfer"]
    with tenant_session(bank) as session, session.begin(), acting(person("loan_officer", bank, OFFICER), bank):
        with pytest.raises(AccessDenied, match="talent.read"):
            services.org_chart(session)
        # Everyone with an employee record sees their own career page.
        assert services.my_career(session, dt.date(2026, 12, 1))["employee_no"] == "E2"


def test_agile_teams_need_both_sides_a_lead_and_a_domain(bank):
    with tenant_session(bank) as session, session.begin(), acting(person("tenant_admin", bank, MAKER), bank):
        _org(session)
        for no, unit in (("B1", "BR1"), ("T1", "IT"), ("T2", "IT")):
            services.hire(session, employee_no=no, name=no, org_unit_code=unit, hired_on=dt.date(2020, 1, 1))
        with pytest.raises(TalentError, match="business and technology"):
            services.create_team(session, code="A1", name="小微敏捷组", kind="agile", domain="小微贷款",
                                 lead_no="T1", members=[{"employee_no": "T1", "side": "technology"}])
        with pytest.raises(TalentError, match="lead"):
            services.create_team(session, code="A1", name="小微敏捷组", kind="agile", domain="小微贷款",
                                 lead_no="T2", members=[{"employee_no": "B1", "side": "business"},
                                                        {"employee_no": "T1", "side": "technology"}])
        services.create_team(session, code="A1", name="小微敏捷组", kind="agile", domain="小微贷款", lead_no="B1",
                             members=[{"employee_no": "B1", "side": "business"},
                                      {"employee_no": "T1", "side": "technology"},
                                      {"employee_no": "T2", "side": "technology"}])
        assert services.teams(session) == [{
            "code": "A1", "name": "小微敏捷组", "kind": "agile", "domain": "小微贷款", "lead": "B1",
            "members": [{"employee_no": "B1", "side": "business"}, {"employee_no": "T1", "side": "technology"},
                        {"employee_no": "T2", "side": "technology"}]}]


def test_standard_ladder_is_adopted_with_adjustments_through_maker_checker(bank):
    with tenant_session(bank) as session, session.begin():
        with acting(person("tenant_admin", bank, MAKER), bank):
            with pytest.raises(TalentError, match="no grade AM-9"):
                services.propose_adoption(session, {"AM-9": {"headcount_cap": 1}})
            with pytest.raises(TalentError, match="only headcount_cap"):
                services.propose_adoption(session, {"AM-2": {"title_zh": "改名"}})
            request = services.propose_adoption(session, {"AM-4": {"headcount_cap": 3},
                                                          "AM-2": {"required_kpis": {"max_npl_ratio": "0.025"}}})
            assert services.ladder(session) == []  # nothing until approved
            with pytest.raises(SegregationOfDutiesViolation):
                changes.approve(session, request.id)
        with acting(person("tenant_admin", bank, CHECKER), bank):
            changes.approve(session, request.id)
            ladder = {f["code"]: f for f in services.ladder(session)}
        assert ladder["MGMT"]["track"] == "management" and ladder["AM"]["track"] == "professional"
        assert set(ladder) == {"MGMT", "AM", "RV", "RK", "IT", "OP", "AU"}
        am = {g["code"]: g for g in ladder["AM"]["grades"]}
        assert [g["title_zh"] for g in ladder["AM"]["grades"]] == ["初级客户经理", "中级客户经理", "高级客户经理",
                                                                  "资深客户经理", "专家客户经理"]
        assert am["AM-4"]["headcount_cap"] == 3 and am["AM-5"]["headcount_cap"] == 2
        assert am["AM-2"]["standard"]["required_kpis"]["max_npl_ratio"] == "0.025"
        assert am["AM-3"]["standard"]["required_kpis"]["max_npl_ratio"] == "0.02"
        assert am["AM-3"]["maps_to"] == "MG-1" and am["AM-2"]["min_tenure_months"] == 12
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "talent.ladder.adopt")).one()
        assert entry.before is None and entry.actor == str(CHECKER)
        # Re-adoption replaces the adjustments and keeps grade ids (employees keep pointing at their grade).
        am4_id = session.scalars(select(JobGrade.id).where(JobGrade.code == "AM-4")).one()
        _adopt(session, bank, {"AM-4": {"headcount_cap": 4}})
        grade = session.get(JobGrade, am4_id)
        session.refresh(grade)
        assert grade.headcount_cap == 4


def test_evaluations_promote_demote_transfer_only_after_approval(bank):
    maker, checker = person("tenant_admin", bank, MAKER), person("tenant_admin", bank, CHECKER)
    with tenant_session(bank) as session, session.begin():
        _adopt(session, bank, {"AM-4": {"headcount_cap": 1}})
        with acting(maker, bank):
            _org(session)
            services.hire(session, employee_no="E1", name="王", org_unit_code="BR1", grade_code="AM-2",
                          hired_on=dt.date(2022, 1, 10))
            services.hire(session, employee_no="E2", name="赵", org_unit_code="BR1", grade_code="AM-4",
                          hired_on=dt.date(2014, 1, 1))
            services.hire(session, employee_no="E3", name="钱", org_unit_code="BR1", grade_code="AM-3",
                          hired_on=dt.date(2016, 1, 1))
            services.hire(session, employee_no="E4", name="孙", org_unit_code="BR1", grade_code="AM-1",
                          hired_on=dt.date(2026, 1, 1))
            with pytest.raises(TalentError, match="weights"):
                services.open_cycle(session, code="X", period="2026", effective_date=dt.date(2027, 1, 1),
                                    weights={"exam": "0.5", "kpi": "0.5", "competency": "0.5"})
            services.open_cycle(session, code="Y2026", period="2026", effective_date=dt.date(2027, 1, 1))
            # 0.30 × 80 + 0.50 × 91.5 + 0.20 × 77 = 24 + 45.75 + 15.4 = 85.15
            promote = services.propose_evaluation(session, "Y2026", "E1", exam_score="80", kpi_score="91.5",
                                                  competency_score="77", decision="promote")
            assert promote.total_score == Decimal("85.15")
            # AM-4 is at its cap of one (E2 holds it).
            with pytest.raises(TalentError, match="head-count cap"):
                services.propose_evaluation(session, "Y2026", "E3", exam_score="90", kpi_score="90",
                                            competency_score="90", decision="promote")
            # AM-2 needs 12 months of tenure: hired 2026-06-02, E5 has 6 whole months on 2027-01-01.
            services.hire(session, employee_no="E5", name="周", org_unit_code="BR1", grade_code="AM-1",
                          hired_on=dt.date(2026, 6, 2))
            with pytest.raises(TalentError, match="12 months of tenure; E5 has 6"):
                services.propose_evaluation(session, "Y2026", "E5", exam_score="90", kpi_score="90",
                                            competency_score="90", decision="promote")
            demote = services.propose_evaluation(session, "Y2026", "E2", exam_score="50", kpi_score="40",
                                                 competency_score="60", decision="demote", reason="不良率超标")
            transfer = services.propose_evaluation(session, "Y2026", "E3", exam_score="85", kpi_score="80",
                                                   competency_score="90", decision="exit_track")
            with pytest.raises(Conflict, match="already evaluated"):
                services.propose_evaluation(session, "Y2026", "E1", exam_score="1", kpi_score="1",
                                            competency_score="1", decision="keep")
            with pytest.raises(NotFound):
                services.propose_evaluation(session, "Y2026", "NOBODY", exam_score="1", kpi_score="1",
                                            competency_score="1", decision="keep")
            rejected = services.propose_evaluation(session, "Y2026", "E4", exam_score="10", kpi_score="10",
                                                   competency_score="10", decision="keep")
            with pytest.raises(Conflict, match="still wait"):
                services.close_cycle(session, "Y2026")
        grade_of = lambda no: session.scalars(select(JobGrade.code).join(Employee, Employee.grade_id == JobGrade.id)
                                              .where(Employee.employee_no == no)).one()
        assert grade_of("E1") == "AM-2"  # nothing changes before the checker approves
        with acting(maker, bank), pytest.raises(SegregationOfDutiesViolation):
            changes.approve(session, promote.change_request_id)
        with acting(checker, bank):
            changes.approve(session, promote.change_request_id)
            changes.approve(session, demote.change_request_id)
            changes.approve(session, transfer.change_request_id)
            changes.reject(session, rejected.change_request_id, "重新评定")
            rows = {r["employee_no"]: r for r in services.evaluations(session, "Y2026")}
            services.close_cycle(session, "Y2026")
        assert (grade_of("E1"), grade_of("E2"), grade_of("E3"), grade_of("E4")) == ("AM-3", "AM-3", "MG-1", "AM-1")
        assert {no: (r["decision"], r["from_grade"], r["to_grade"], r["status"]) for no, r in rows.items()} == {
            "E1": ("promote", "AM-2", "AM-3", "applied"), "E2": ("demote", "AM-4", "AM-3", "applied"),
            "E3": ("exit_track", "AM-3", "MG-1", "applied"), "E4": ("keep", "AM-1", "AM-1", "rejected")}
        with acting(maker, bank):
            moves = services.history(session, "E3")
            assert [(m.kind, m.before["grade"], m.after["grade"], m.effective_date) for m in moves[1:]] == [
                ("track_transfer", "AM-3", "MG-1", dt.date(2027, 1, 1))]
            career = services.employee_career(session, "E1", dt.date(2027, 1, 1))
        # E1: AM-3 since 2027-01-01, hired 2022-01-10 → 59 whole months; AM-4 needs 60.
        assert career["grade"]["code"] == "AM-3" and career["tenure_months"] == 59
        nxt = career["next_grade"]
        assert nxt["code"] == "AM-4" and nxt["min_tenure_months"] == 60 and nxt["tenure_met"] is False
        assert nxt["tenure_progress"] == Decimal("0.98") and nxt["headcount_cap"] == 1 and nxt["holders"] == 0


def test_months_between():
    assert services.months_between(dt.date(2022, 1, 10), dt.date(2027, 1, 1)) == 59
    assert services.months_between(dt.date(2022, 1, 10), dt.date(2027, 1, 10)) == 60
    assert services.months_between(dt.date(2026, 6, 2), dt.date(2027, 1, 1)) == 6
