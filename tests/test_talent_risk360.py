"""Employee 360 risk view against real PostgreSQL: signals from the audit log, the login records, the officer's loans
and recorded findings; outside signals imported only with an active authorisation (else the whole file is refused);
scores equal to a hand computation and reproducible from their hits and model version; every view audited; access
only with the permission; the API and the dramatiq job."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update

from creditfactory import audit
from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.audit.models import AuditEntry
from creditfactory.db import CurrentTenant, SystemContext, shared_session, tenant_session
from creditfactory.errors import NotFound
from creditfactory.jobs.schedule import periodic_jobs
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.models import StaffSession, User
from creditfactory.lending.customers.models import RelatedParty
from creditfactory.lending.loans.models import LoanAccount
from creditfactory.lending.products import declared
from creditfactory.talent import services as talent
from creditfactory.talent.models import Employee
from creditfactory.talent.risk360 import jobs, services
from creditfactory.talent.risk360.models import EmployeeRiskHit, EmployeeRiskScore, EmployeeRiskSignal
from creditfactory.tenancy.models import Tenant

from test_talent_scorecards import _loan
from test_talent_services import MAKER, acting, person

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"
COMPLIANCE = 401
#: The audit log is stamped by the database clock, so the period under test is the current month.
TODAY = dt.date.today()
START = TODAY.replace(day=1)
PERIOD = START.strftime("%Y-%m")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def bank(tenant_factory):
    tenant = tenant_factory(name_en="Conduct Bank")
    with CurrentActor.bind(Actor("test:risk360", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)
        declared.apply_tenant_products(tenant.slug, [
            {"code": "biz_operating", "template": "biz_operating", "template_version": 1}])
    return tenant


def compliance(bank):
    return person("compliance_officer", bank, COMPLIANCE)


def _user_id(username: str) -> int:
    with shared_session() as shared:
        return shared.scalar(select(User.id).where(User.username == username))


def _logins(bank, user_id: int, moments: list[tuple[dt.datetime, str]]) -> None:
    with shared_session() as shared, shared.begin():
        tenant_id = shared.scalar(select(Tenant.id).where(Tenant.slug == bank.slug))
        for n, (at, agent) in enumerate(moments):
            shared.add(StaffSession(token_hash=f"{bank.slug}-{user_id}-{n}".ljust(64, "0"), user_id=user_id,
                                    context="tenant", tenant_id=tenant_id, created_at=at, seen_at=at,
                                    ip="10.0.0.8", user_agent=agent))


def _csv(*rows: str) -> bytes:
    return ("employee_no,period,indicator,value,evidence\n" + "".join(r + "\n" for r in rows)).encode()


@pytest.fixture
def staffed(bank, make_user):
    """Employee A: an officer with a bad, related book, findings, odd-hour logins from two new devices, 31 clear
    personal-data reads and a bureau authorisation; B: an officer with nothing against them; C: no login."""
    officer_a, officer_b = _user_id(make_user("loan_officer", bank)), _user_id(make_user("loan_officer", bank))
    with tenant_session(bank) as session, session.begin():
        with acting(person("tenant_admin", bank, MAKER), bank):
            talent.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="Head office")
            talent.hire(session, employee_no="A", name="甲", org_unit_code="HO", position="客户经理",
                        hired_on=dt.date(2020, 1, 1), user_id=officer_a)
            talent.hire(session, employee_no="B", name="乙", org_unit_code="HO", position="客户经理",
                        hired_on=dt.date(2020, 1, 1), user_id=officer_b)
            talent.hire(session, employee_no="C", name="丙", org_unit_code="HO", hired_on=dt.date(2020, 1, 1))
        with SystemContext("test: loans"):
            l1 = _loan(session, 1, officer_a, START - dt.timedelta(days=61), "10000.00")
            l2 = _loan(session, 2, officer_a, START - dt.timedelta(days=60), "30000.00")
            _loan(session, 3, officer_b, TODAY - dt.timedelta(days=5), "50000.00")
            from creditfactory.lending.cob.dates import set_business_date
            set_business_date(session, TODAY)
        session.execute(update(LoanAccount).where(LoanAccount.id == l1.id).values(risk_class="substandard", dpd=95))
        session.execute(text("UPDATE loan_installment SET status = 'overdue' WHERE loan_id IN (:a, :b)"),
                        {"a": l1.id, "b": l2.id})
        # The two borrowers of A are related (one is the other's spouse): the whole book is one group's risk.
        session.add(RelatedParty(customer_id=l1.customer_id, role="spouse", related_customer_id=l2.customer_id))
        with acting(compliance(bank), bank):
            services.record_finding(session, employee_no="A", kind="violation", found_on=START - dt.timedelta(days=150),
                                    points=6, reference="VP-7", description="违规代客操作")
            services.record_finding(session, employee_no="A", kind="audit_finding", found_on=START,
                                    reference="AUD-1", description="贷前调查照片重复使用")
            services.record_consent(session, employee_no="A", scope="bureau", granted_on=START - dt.timedelta(days=300),
                                    expires_on=START + dt.timedelta(days=400), document_ref="HR-ARCH-0001")
        with CurrentActor.bind(Actor(str(officer_a), ActorKind.USER)):
            for n in range(31):
                audit.record(session, "pii.reveal", object_type="customer", object_id=n, after={"column": "mobile"})
    day = dt.datetime.combine(START, dt.time(), SHANGHAI)
    _logins(bank, officer_a, [(day - dt.timedelta(days=30, hours=-9), "UA-old"),
                              *[(day + dt.timedelta(days=d, hours=23, minutes=30), "UA-1") for d in (1, 2, 3)],
                              (day + dt.timedelta(days=5, hours=10), "UA-2"),
                              (day + dt.timedelta(days=6, hours=10), "UA-old")])
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        services.import_signals(session, "bureau.csv", _csv(f"A,{PERIOD},risk.debt_to_assets,0.80,征信报告",
                                                            f"A,{PERIOD},risk.lender_count,2,征信报告"))
    return {"a": officer_a, "b": officer_b}


def test_signals_hits_evidence_and_the_hand_computed_score(bank, staffed):
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        services.recompute(session, PERIOD)
        stored = session.scalars(select(EmployeeRiskHit).where(EmployeeRiskHit.period == PERIOD)).all()
        view = services.employee_view(session, "A", PERIOD)
        board = {r["employee_no"]: r for r in services.dashboard(session, PERIOD)}
    assert {h["indicator"] for h in view["hits"]} == {
        "risk.npl_ratio", "risk.early_defaults", "risk.related_party_concentration", "risk.debt_to_assets",
        "discipline.violation_points", "discipline.audit_findings",
        "tech.odd_hour_logins", "tech.new_device_logins", "tech.pii_reveals"}
    by = {h["indicator"]: h for h in view["hits"]}
    assert by["risk.npl_ratio"]["value"] == Decimal("0.25")
    assert [i["loan"] for i in by["risk.npl_ratio"]["evidence"]["items"]] == ["L-1"]
    assert by["risk.related_party_concentration"]["value"] == Decimal(1)
    assert by["tech.odd_hour_logins"]["value"] == 3 and by["tech.new_device_logins"]["value"] == 2
    assert by["tech.pii_reveals"]["evidence"]["count"] == 31 and len(by["tech.pii_reveals"]["evidence"]["items"]) == 20
    assert by["risk.debt_to_assets"]["evidence"]["items"] == [
        {"import": by["risk.debt_to_assets"]["evidence"]["items"][0]["import"], "evidence": "征信报告"}]
    assert by["discipline.violation_points"]["evidence"]["items"][0]["reference"] == "VP-7"
    # Risk 6/11 of its weight (card use unknown, so no cash-out pattern), compliance nothing, discipline 3/5,
    # technology 3/5: 0.35 × 54.55 + 0.30 × 0 + 0.20 × 60 + 0.15 × 60 = 40.0925 → 40.09, yellow (40 ≤ 40.09 < 60).
    assert view["score"]["dims"] == {"risk": Decimal("54.55"), "compliance": Decimal("0.00"),
                                     "discipline": Decimal("60.00"), "technology": Decimal("60.00")}
    assert view["score"]["total"] == Decimal("40.09") and view["score"]["level"] == "yellow"
    assert view["reproduced"]["matches"] is True
    assert board["B"]["total"] == Decimal("0.00") and board["B"]["level"] == "green" and board["B"]["hits"] == 0
    assert list(board) == ["A", "B", "C"]  # worst first; C (no login, no loans) scored too
    assert {(h.weight, h.severity, h.model_version) for h in stored if h.indicator == "risk.npl_ratio"} == {
        (Decimal("2.0000"), Decimal("1.0000"), 1)}


def test_new_model_version_leaves_old_scores_reproducible(bank, staffed):
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        services.recompute(session, PERIOD)
        v2 = services.set_model(session, {"indicators": {"risk.npl_ratio": {"weight": "0"}}})
        assert v2.version == 2
        a = session.scalar(select(EmployeeRiskScore).where(EmployeeRiskScore.total > 0))
        again = services.reproduce(session, a.employee_id, PERIOD)
        assert again["model_version"] == 1 and again["matches"]
        services.recompute(session, PERIOD)
        view = services.employee_view(session, "A", PERIOD)
        # Without the NPL indicator: risk 4/9 = 44.44; 0.35 × 44.44 + 0.20 × 60 + 0.15 × 60 = 36.554 → 36.55, green.
        assert view["score"]["dims"]["risk"] == Decimal("44.44")
        assert (view["score"]["total"], view["score"]["level"], view["score"]["model_version"]) == (
            Decimal("36.55"), "green", 2)
        assert services.get_model(session, 1)["indicators"][0]["weight"] == "2"
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "employee_risk.model.publish")).all()
        assert len(entries) == 1 and entries[0].after["indicators"]["risk.npl_ratio"]["weight"] == "0"


def test_the_cash_out_combination_needs_both_parts_over_their_thresholds(bank, staffed):
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        services.import_signals(session, "card.csv", _csv(f"A,{PERIOD},risk.card_utilisation,0.75,信用卡账单"))
        services.recompute(session, PERIOD)
        hit = {h["indicator"]: h for h in services.employee_view(session, "A", PERIOD)["hits"]}["risk.cash_out_pattern"]
        assert hit["evidence"]["items"] == [
            {"indicator": "risk.debt_to_assets", "value": "0.8000", "threshold": "0.7"},
            {"indicator": "risk.card_utilisation", "value": "0.7500", "threshold": "0.7"}]
        services.set_model(session, {"indicators": {"risk.card_utilisation": {"threshold": "0.8"}}})
        services.recompute(session, PERIOD)
        hits = {h["indicator"] for h in services.employee_view(session, "A", PERIOD)["hits"]}
        assert "risk.cash_out_pattern" not in hits and "risk.card_utilisation" not in hits


@pytest.mark.parametrize("doc, message", [
    ({"indicators": {"risk.made_up": {"weight": "1"}}}, "unknown indicator"),
    ({"indicators": {"risk.npl_ratio": {"dimension": "technology"}}}, "only threshold, weight, severity"),
    ({"indicators": {"risk.npl_ratio": {"severity": "2"}}}, "severity between 0 and 1"),
    ({"dimension_weights": {"risk": "0.5", "compliance": "0.3", "discipline": "0.1", "technology": "0.2"}},
     "sum to 1"),
    ({"bands": {"yellow": "60", "orange": "50", "red": "80"}}, "bands rise"),
])
def test_bad_model_versions_are_refused_and_change_nothing(bank, doc, message):
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        with pytest.raises(services.RiskViewError, match=message):
            services.set_model(session, doc)
        assert services.current_model(session).version == 1


def test_imports_need_an_active_authorisation_or_the_whole_file_is_refused(bank, staffed):
    with tenant_session(bank) as session, session.begin(), acting(compliance(bank), bank):
        services.record_consent(session, employee_no="B", scope="bureau", granted_on=START - dt.timedelta(days=700),
                                expires_on=START - dt.timedelta(days=400), document_ref="HR-ARCH-0002")  # expired
        revoked = services.record_consent(session, employee_no="C", scope="fund_flows",
                                          granted_on=START - dt.timedelta(days=10),
                                          expires_on=START + dt.timedelta(days=400), document_ref="HR-ARCH-0003")
        services.revoke_consent(session, revoked.id)
        before = session.scalar(select(func.count()).select_from(EmployeeRiskSignal))
        with pytest.raises(services.ImportRefused) as refused:
            services.import_signals(session, "mixed.csv", _csv(
                f"A,{PERIOD},risk.bureau_inquiries,7,ok",                   # fine on its own
                f"B,{PERIOD},risk.bureau_inquiries,7,expired",
                f"C,{PERIOD},compliance.customer_fund_flows,2,revoked",
                f"A,{PERIOD},compliance.customer_fund_flows,1,bureau only",
                f"Z,2026-13,risk.npl_ratio,x,"))
        errors = refused.value.errors
        assert set(errors) == {"row 3", "row 4", "row 5", "row 6"}
        assert "no recorded, unexpired bureau authorisation" in errors["row 3"][0]
        assert "fund_flows authorisation" in errors["row 4"][0] and "fund_flows" in errors["row 5"][0]
        assert len(errors["row 6"]) == 4  # unknown employee, bad period, not importable, not a number
        assert session.scalar(select(func.count()).select_from(EmployeeRiskSignal)) == before
        with pytest.raises(services.ImportRefused, match="refused"):
            services.import_signals(session, "bad.csv", b"employee_no,value\nA,1\n")
        # A withdraws the authorisation: what it allowed stops counting at the next computation.
        services.recompute(session, PERIOD)
        assert "risk.debt_to_assets" in {h["indicator"] for h in services.employee_view(session, "A", PERIOD)["hits"]}
        consent = services.employee_view(session, "A", PERIOD)["consents"][0]
        services.revoke_consent(session, consent["id"])
        services.recompute(session, PERIOD)
        view = services.employee_view(session, "A", PERIOD)
        assert "risk.debt_to_assets" not in {h["indicator"] for h in view["hits"]}
        assert view["consents"][0]["active"] is False and view["score"]["dims"]["risk"] == Decimal("45.45")


def test_access_needs_the_permission_and_every_view_is_audited(bank, staffed):
    with tenant_session(bank) as session, session.begin():
        with acting(compliance(bank), bank):
            services.recompute(session, PERIOD)
        for role in ("loan_officer", "branch_manager", "tenant_admin"):
            with acting(person(role, bank, 500), bank), pytest.raises(AccessDenied):
                services.dashboard(session, PERIOD)
        with acting(person("auditor", bank, 501), bank):
            services.employee_view(session, "A", PERIOD)
            services.dashboard(session, PERIOD, level="yellow")
            with pytest.raises(AccessDenied):
                services.set_model(session, {})
            with pytest.raises(NotFound):
                services.employee_view(session, "NOBODY", PERIOD)
        views = session.scalars(select(AuditEntry).where(AuditEntry.action == "employee_risk.view")
                                .order_by(AuditEntry.seq)).all()
        assert [(v.actor, v.object_type, v.object_id) for v in views] == [
            ("501", "employee", "A"), ("501", "employee_risk_period", PERIOD)]


def test_the_api_serves_the_dashboard_drill_down_and_refuses_a_bad_import(bank, staffed, api_client):
    client = api_client(bank, "employee-risk:read employee-risk:write")
    base = f"{client.prefix}/api/v1/employee-risk"
    assert client.post(f"{base}/computations", json={"period": PERIOD}).status_code == 201
    board = client.get(f"{base}/scores", query_string={"period": PERIOD})
    assert board.status_code == 200 and board.get_json()[0]["employee_no"] == "A"
    assert board.get_json()[0]["level"] == "yellow"
    drill = client.get(f"{base}/employees/A", query_string={"period": PERIOD}).get_json()
    assert drill["score"]["total"] == "40.09" and drill["reproduced"]["matches"] is True
    assert {h["indicator"] for h in drill["hits"]} >= {"risk.npl_ratio", "tech.pii_reveals"}
    refused = client.post(f"{base}/imports", data={"file": (io.BytesIO(_csv(f"B,{PERIOD},risk.lender_count,5,x")),
                                                            "b.csv")}, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "bureau authorisation" in refused.get_json()["errors"]["row 2"][0]
    read_only = api_client(bank, "employee-risk:read")
    assert read_only.post(f"{base}/computations", json={"period": PERIOD}).status_code == 403
    assert client.get(f"{base}/model").get_json()["version"] == 1


def test_the_job_computes_a_period_idempotently(bank, staffed, stub_broker):
    for _ in range(2):
        with CurrentTenant.bind(bank):
            jobs.compute_period.fn(PERIOD)
    with tenant_session(bank) as session, session.begin():
        scores = session.scalars(select(EmployeeRiskScore).order_by(EmployeeRiskScore.total.desc())).all()
        assert [(s.period, s.total, s.level) for s in scores][0] == (PERIOD, Decimal("40.09"), "yellow")
        assert len(scores) == 3
        assert session.scalar(select(func.count()).select_from(EmployeeRiskHit)) == 9
    with CurrentTenant.bind(bank):
        jobs.refresh_current_month.fn()  # the daily refresh: the business date's month, here the same one
    with tenant_session(bank) as session:
        assert session.scalar(select(func.count()).select_from(EmployeeRiskScore)) == 3
    assert periodic_jobs()["employee-risk-refresh"].actor is jobs.refresh_current_month


def test_demo_profiles_are_varied_and_seeded_once(tenant_factory):
    from creditfactory.identity.demo import ensure_demo_staff
    from creditfactory.talent import demo as talent_demo
    from creditfactory.talent.risk360 import demo

    bank = tenant_factory(name_en="Demo Conduct Bank")
    try:
        with SystemContext("test: demo staff"), shared_session() as shared, shared.begin():
            ensure_demo_staff(shared, [bank.slug])
        talent_demo.seed_demo(bank)
        made = demo.seed_demo(bank)
        assert made["created"] is True and made["levels"]["orange"] == 1
        assert demo.seed_demo(bank) == {"created": False}
        with tenant_session(bank) as session:
            scores = {no: (s.total, s.level) for s, no in session.execute(
                select(EmployeeRiskScore, Employee.employee_no).join(
                    Employee, Employee.id == EmployeeRiskScore.employee_id))}
            # D004: risk 6/11 (with the cash-out pattern), compliance 8/8, discipline 4/5
            # → 0.35 × 54.55 + 0.30 × 100 + 0.20 × 80 = 65.0925 → 65.09, orange.
            assert scores["D004"] == (Decimal("65.09"), "orange")
            assert len(scores) == len(talent_demo.PEOPLE)
            actors = set(session.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("employee_risk.%"))))
        assert actors == {str(_user_id(f"{bank.slug}.compliance_officer"))}
    finally:
        with shared_session() as shared, shared.begin():
            shared.execute(User.__table__.delete().where(User.username.like(f"{bank.slug}.%")))
