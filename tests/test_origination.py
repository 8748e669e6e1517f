"""The origination process against PostgreSQL: product terms and consent at intake, the decision engine at
admission, pre-approval and approval, the investigation's product parameters and sector profiles (plugins), and
``on_application_decided`` after the commit."""

from __future__ import annotations

import copy
import datetime as dt
import re
import types
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, select

from applications_support import acting, bureau_consent, principal
from creditfactory import hookimpl
from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import engine_for, tenant_session
from creditfactory.decisions.engine import Stage
from creditfactory.decisions.models import DecisionRecord, RuleSetOverlayVersion
from creditfactory.decisions.overlay import overlay_hash
from creditfactory.decisions.services import effective_rule_set
from creditfactory.lending.applications import services
from creditfactory.lending.applications.models import ApplicationStateHistory, ApprovalAuthority, LoanApplication
from creditfactory.lending.applications.states import Event
from creditfactory.lending.customers.models import Consent, Customer
from creditfactory.lending.investigation.analysis import CheckType
from creditfactory.lending.origination import services as origination
from creditfactory.lending.products.models import Product
from creditfactory.lending.products.terms import parse_terms, terms_document
from creditfactory.plugins.types import IndustryProfile

from test_investigation_analysis import WORKSHEET

STANDARD = Path(__file__).resolve().parents[1] / "tenants" / "_standard" / "products" / "biz_operating.v1.yaml"


@pytest.fixture(scope="module")
def bank(tenant_factory):
    """A bank of its own: these tests commit (plugin events fire only after a commit)."""
    return tenant_factory(name_en="Origination Village Bank")


@pytest.fixture
def officer(bank, make_user):
    return principal(make_user("loan_officer", bank), bank, "loan_officer")


@pytest.fixture
def approver(bank, make_user):
    return principal(make_user("approver", bank), bank, "approver")


def product_terms(**investigation_changes) -> dict:
    document = copy.deepcopy(yaml.safe_load(STANDARD.read_text())["terms"])
    document["investigation"]["cross_checks"].update(investigation_changes)
    return terms_document(parse_terms(document))


def world(bank, *, birth_date=dt.date(1980, 5, 1), terms=None, consent=True) -> tuple[int, int]:
    """A committed customer and a product carrying the standard business-loan terms; with ``consent``, the
    customer's written credit-bureau consent the pre-screen needs."""
    with CurrentActor.bind(Actor(id="test:origination", kind=ActorKind.SYSTEM)), \
            tenant_session(bank) as db, db.begin():
        customer = Customer(kind="individual", name="李娜", birth_date=birth_date, years_in_business=5)
        product = Product(code=f"biz_{uuid.uuid4().hex[:8]}", version=1, name_zh="经营贷", name_en="Business loan",
                          terms=terms or product_terms())
        db.add_all([customer, product])
        db.flush()
        if consent:
            bureau_consent(db, customer.id)
        return customer.id, product.id


def intake(bank, person, customer_id, product_id, **changes) -> int:
    data = {"customer_id": customer_id, "product_id": product_id, "amount": "10000", "term_months": 12,
            "channel": "field_app", "repayment_method": "equal_installment", "sector": "retail", **changes}
    with acting(person, bank), tenant_session(bank) as db, db.begin():
        application, _ = services.create_application(db, data)
        return application.id


def load(bank, application_id) -> LoanApplication:
    with tenant_session(bank) as db:
        application = db.get(LoanApplication, application_id)
        db.expunge(application)
        return application


def records(bank, application_id) -> dict[str, DecisionRecord]:
    with tenant_session(bank) as db:
        found = origination.stage_records(db, application_id)
        for r in found.values():
            db.expunge(r)
        return found


# --- intake ---------------------------------------------------------------------------------------------------


def test_intake_refuses_what_the_product_does_not_allow_naming_each_field(bank, officer):
    customer_id, product_id = world(bank)
    with pytest.raises(services.ApplicationError) as refused:
        intake(bank, officer, customer_id, product_id, amount="900000", term_months=48,
               repayment_method="bullet", sector="mining")
    text = str(refused.value)
    # biz_operating: 10 000–500 000 yuan, 3–36 months, no bullet, mining not an eligible sector
    for field in ("amount: 900000.00 is outside", "term_months: 48 is outside", "repayment_method: 'bullet'",
                  "sector: 'mining' is not eligible"):
        assert field in text
    with pytest.raises(services.ApplicationError, match="no customer 999999"):
        intake(bank, officer, 999999, product_id)


def test_a_bureau_query_needs_the_customers_consent(bank, officer):
    customer_id, product_id = world(bank, consent=False)
    with pytest.raises(services.ApplicationError, match="bureau_query: customer .* has given no consent"):
        intake(bank, officer, customer_id, product_id, bureau_query=True)
    with tenant_session(bank) as db, db.begin():
        consent = Consent(customer_id=customer_id, purpose="bureau_query", scope="征信查询", consent_type="written",
                          channel="branch", evidence_signature="signed on paper", captured_by="test",
                          granted_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        db.add(consent)
        db.flush()
        consent_id = consent.id
    application_id = intake(bank, officer, customer_id, product_id, bureau_query=True)
    assert load(bank, application_id).bureau_consent_id == consent_id


# --- admission ------------------------------------------------------------------------------------------------


@pytest.fixture
def decided(bank, enabled_plugin):
    """A plugin recording ``on_application_decided`` calls, enabled for the bank."""
    calls = []
    module = types.ModuleType("cf_test_decided")

    @hookimpl
    def on_application_decided(application_id, outcome):
        calls.append((application_id, outcome))

    module.on_application_decided = on_application_decided
    enabled_plugin(module, "cf_test_decided", bank)
    return calls


def test_admission_declines_an_applicant_over_65_and_plugins_hear_after_the_commit(bank, officer, decided):
    customer_id, product_id = world(bank, birth_date=dt.date(1950, 1, 1))
    application_id = intake(bank, officer, customer_id, product_id)
    application = load(bank, application_id)
    assert application.state == "REJECTED"
    admission = records(bank, application_id)["admission"]
    assert (admission.outcome, admission.reason_codes) == ("decline", ["A02"])
    assert admission.facts["applicant.age"] >= 66
    with tenant_session(bank) as db:
        last = db.scalars(select(ApplicationStateHistory).where(ApplicationStateHistory.application_id == application_id)
                          .order_by(ApplicationStateHistory.id.desc())).first()
        assert last.event == "prescreen_fail" and "A02" in last.reason
    assert decided == [(application_id, "rejected")]


def test_admission_passes_a_standard_applicant_and_a_rolled_back_intake_announces_nothing(bank, officer, decided):
    customer_id, product_id = world(bank)
    application_id = intake(bank, officer, customer_id, product_id)
    assert load(bank, application_id).state == "APPLIED"
    assert records(bank, application_id)["admission"].outcome == "pass"
    old_id, _ = world(bank, birth_date=dt.date(1940, 1, 1))
    with acting(officer, bank), tenant_session(bank) as db:
        with db.begin():
            application, _ = services.create_application(db, {
                "customer_id": old_id, "product_id": product_id, "amount": "10000", "term_months": 12,
                "channel": "branch", "repayment_method": "equal_installment", "sector": "retail"})
            assert application.state == "REJECTED"
            db.rollback()
    assert decided == []


def test_intake_decides_on_the_versions_in_force_read_with_its_customer_and_product(tenant_factory, make_user):
    """Intake reads the admission rule-set versions in force in the statement that reads its customer and product
    (no statement of the decision's own), and an overlay the bank published since is used by the next intake."""
    bank = tenant_factory(name_en="Overlay Village Bank")
    officer = principal(make_user("loan_officer", bank), bank, "loan_officer")
    customer_id, product_id = world(bank)
    first = records(bank, intake(bank, officer, customer_id, product_id))["admission"]
    with tenant_session(bank) as db:
        _, standard, overlay, _ = effective_rule_set(db, Stage.ADMISSION,
                                                     dt.date.fromisoformat(first.facts["application.date"]))
        assert (first.standard_version_id, first.overlay_version_id, overlay) == (standard.id, None, None)
    content = {"add_rules": [{"id": "LOCAL-LARGE", "when": "application.amount > 200000", "action": "refer",
                              "reason_code": "L09"}],
               "reasons": {"L09": {"customer_zh": "大额申请需人工审核", "customer_en": "A large application needs a "
                                   "manual review", "staff_zh": "金额超过20万", "staff_en": "Over 200,000 yuan"}}}
    with CurrentActor.bind(Actor(id="test:origination", kind=ActorKind.SYSTEM)), \
            tenant_session(bank) as db, db.begin():
        version = RuleSetOverlayVersion(code=standard.code, stage="admission", version=1, status="published",
                                        content=content, content_hash=overlay_hash(content),
                                        effective_from=dt.date(2026, 1, 1), created_by="test")
        db.add(version)
        db.flush()
        overlay_id = version.id
    statements = []

    def seen(conn, cursor, statement, *_):
        statements.append(statement)

    event.listen(engine_for(bank.cluster), "before_cursor_execute", seen)
    try:
        for _ in range(2):  # the second finds the overlaid set compiled by the first
            statements.clear()
            again = records(bank, intake(bank, officer, customer_id, product_id, amount="300000"))["admission"]
            assert (again.overlay_version_id, again.outcome, again.reason_codes) == (overlay_id, "refer", ["L09"])
    finally:
        event.remove(engine_for(bank.cluster), "before_cursor_execute", seen)
    assert len([s for s in statements if "rule_set" in s and "INSERT" not in s]) == 1, statements


# --- investigation: product parameters, sector profiles -------------------------------------------------------


def test_the_products_tolerances_and_thresholds_become_the_analysis_parameters(bank, officer):
    customer_id, product_id = world(bank, terms=product_terms(GROSS_MARGIN={"tolerance_pct": "0.05"}))
    application_id = intake(bank, officer, customer_id, product_id)
    with tenant_session(bank) as db:
        params = origination.analysis_parameters(db, db.get(LoanApplication, application_id))
    assert params.tolerance(CheckType.GROSS_MARGIN) == Decimal("0.05")
    assert params.tolerance(CheckType.SALES_VS_SAMPLE) == Decimal("0.10")
    assert (params.repayment_capacity_max, params.debt_to_assets_max, params.quick_ratio_min) == (
        Decimal("0.70"), Decimal("0.7"), Decimal("1.0"))


def _sample_free(worksheet):
    data = copy.deepcopy(worksheet)
    evidence = data["evidence"]
    for key in ("price_samples", "sector_inventory_months"):
        evidence.pop(key)
    data["seasonality"] = ["typical"] * 12
    return data


def test_sector_benchmarks_come_from_the_built_in_profile_and_a_plugin_wins(bank, officer, enabled_plugin):
    data = {**_sample_free(WORKSHEET), "sector_profile": "retail_grocery"}
    customer_id, product_id = world(bank)
    application_id = intake(bank, officer, customer_id, product_id)
    with acting(officer, bank), tenant_session(bank) as db:
        analysis, prepared = origination.analyse_worksheet(db, application_id, data, visit_date=dt.date(2026, 1, 10))
    # built-in grocery retail [R]: margin 0.18, 12 turns a year → 12 ÷ 12 = 1 month of stock, festival season
    assert (prepared["industry_profile"]["plugin"], prepared["industry_profile"]["source"]) == ("builtin", "[R]")
    assert prepared["evidence"]["sector_gross_margin"] == "0.18"
    assert prepared["evidence"]["sector_inventory_months"] == "1.0000"
    assert prepared["seasonality"][0] == "1.4"
    checks = {c.type: c for c in analysis.cross_checks}
    # stated margin 9000 / 40000 = 0.225 against 0.18: deviation (0.225 − 0.18) / 0.18 = 25 % > 10 % → fails
    assert checks[CheckType.GROSS_MARGIN].derived == Decimal("0.1800") and not checks[CheckType.GROSS_MARGIN].passed
    # stock 60000 ÷ monthly cost of goods 31000 = 1.9355 months against 1
    assert checks[CheckType.INVENTORY_TURNOVER].stated == Decimal("1.9355")

    module = types.ModuleType("cf_test_profiles")

    @hookimpl
    def register_industry_profiles():
        return [IndustryProfile("retail_grocery", "本地百货", "Local grocery", Decimal("0.22"), Decimal("6"),
                                (Decimal(1),) * 12, "county survey 2025")]

    module.register_industry_profiles = register_industry_profiles
    enabled_plugin(module, "cf_test_profiles", bank)
    with acting(officer, bank), tenant_session(bank) as db:
        analysis, prepared = origination.analyse_worksheet(db, application_id, data, visit_date=dt.date(2026, 1, 10))
    assert prepared["industry_profile"]["plugin"] == "cf_test_profiles"
    assert prepared["industry_profile"]["source"] == "county survey 2025"
    # 12 ÷ 6 turns = 2 months of stock; margin 0.225 against 0.22: 2.3 % → passes
    assert prepared["evidence"]["sector_inventory_months"] == "2.0000"
    assert {c.type: c for c in analysis.cross_checks}[CheckType.GROSS_MARGIN].passed


# --- the whole process ----------------------------------------------------------------------------------------


def _to_investigating(bank, officer, application_id):
    with acting(officer, bank), tenant_session(bank) as db, db.begin():
        services.fire(db, application_id, Event.PRESCREEN_PASS, "consents captured")
        services.fire(db, application_id, Event.SCHEDULE_VISIT, "visit on Tuesday")


def _worksheet(amount: str, *, all_checks_pass: bool = False) -> dict:
    data = copy.deepcopy(WORKSHEET)
    data["loan"]["amount"] = amount
    data["loan"]["planned_use"] = amount
    if all_checks_pass:
        # stock 1.9355 months against a norm of 1.9 (1.9 %); equity 100000 = 50000 + 70000 − 20000 (0 %)
        data["evidence"].update(sector_inventory_months="1.9", withdrawals="20000")
    return data


def test_complete_worksheet_analyses_and_pre_approves(bank, officer):
    customer_id, product_id = world(bank)
    application_id = intake(bank, officer, customer_id, product_id, amount="20000")
    _to_investigating(bank, officer, application_id)
    with acting(officer, bank), tenant_session(bank) as db, db.begin():
        saved = origination.save_investigation(db, application_id, _worksheet("20000"),
                                               visit_date=dt.date(2026, 1, 10))
    assert saved.advanced
    application = load(bank, application_id)
    assert application.state == "ANALYSED"
    pre = records(bank, application_id)["pre_approval"]
    # no bureau score, no repeat history: the thin-file row (ratio ≤ 0.7) →
    # limit min(max loan, 100000), 10.85 %, 12 months; max loan C = 0.70 × 4000 − 500 = 2300 → 26706.42
    assert pre.reason_codes == ["P04"] and pre.facts["ipc.max_loan"] == "26706.42"
    assert (application.indicative_segment, application.indicative_limit, application.indicative_rate,
            application.indicative_term_months) == ("thin_file", Decimal("26706.42"), Decimal("0.1085"), 12)


def test_review_auto_approves_a_small_standard_case_within_the_engines_authority(bank, officer, decided):
    customer_id, product_id = world(bank)
    with tenant_session(bank) as db, db.begin():
        code = db.get(Product, product_id).code
        db.add(ApprovalAuthority(role=origination.AUTO_APPROVER_ROLE, product_code=code,
                                 max_amount=Decimal("50000"), max_term_months=12))
    application_id = intake(bank, officer, customer_id, product_id, amount="10000")
    _to_investigating(bank, officer, application_id)
    with acting(officer, bank), tenant_session(bank) as db, db.begin():
        origination.save_investigation(db, application_id, _worksheet("10000", all_checks_pass=True),
                                       visit_date=dt.date(2026, 1, 10))
    with acting(officer, bank), tenant_session(bank) as db, db.begin():
        services.fire(db, application_id, Event.SUBMIT, "complete")
    approval = records(bank, application_id)["approval"]
    # ratio (500 + 861.14) / 4000 = 0.3403 ≤ 0.5, 10000 ≤ 100000, debt/assets 0.2308 ≤ 0.5, no failed check
    assert approval.outcome == "approve" and "R10" in approval.reason_codes, (approval.reason_codes, approval.facts)
    assert load(bank, application_id).state == "APPROVED"
    assert decided == [(application_id, "approved")]


def test_review_refers_without_authority_and_the_approver_sees_the_rule_hits(bank, officer, approver, decided):
    customer_id, product_id = world(bank)
    application_id = intake(bank, officer, customer_id, product_id, amount="20000")
    _to_investigating(bank, officer, application_id)
    with acting(officer, bank), tenant_session(bank) as db, db.begin():
        origination.save_investigation(db, application_id, _worksheet("20000"), visit_date=dt.date(2026, 1, 10))
        services.fire(db, application_id, Event.SUBMIT, "complete")
    assert load(bank, application_id).state == "IN_REVIEW"
    approval = records(bank, application_id)["approval"]
    # two failed cross-checks (stock cover 29 %, equity 11 %) → APR-CROSSCHECK refers (R03)
    assert approval.outcome == "refer" and approval.reason_codes == ["R03"]
    assert [f["rule_id"] for f in approval.fired] == ["APR-CROSSCHECK"]
    assert decided == []
    with acting(approver, bank), tenant_session(bank) as db, db.begin():
        db.add(ApprovalAuthority(role="approver", product_code=db.get(Product, product_id).code,
                                 max_amount=Decimal("50000"), max_term_months=12))
        db.flush()
        services.decide(db, application_id, "approve", "cross-checks explained on the phone")
    assert load(bank, application_id).state == "APPROVED"
    assert decided == [(application_id, "approved")]


# --- demo data ------------------------------------------------------------------------------------------------


def test_demo_applications_reach_their_states_and_a_rerun_adds_nothing(tenant_factory, shared_db):
    from creditfactory.db import SystemContext, shared_session
    from creditfactory.identity.demo import ensure_demo_staff
    from creditfactory.lending.origination import demo

    demo_bank = tenant_factory(name_en="Demo Origination Bank")
    with SystemContext("test: demo staff"), shared_session() as shared, shared.begin():
        ensure_demo_staff(shared, [demo_bank.slug])
    try:
        _demo_applications(demo, demo_bank)
    finally:  # the head-office demo users are global: leave none for tests/test_identity_demo.py to find
        from sqlalchemy import delete

        from creditfactory.identity.models import User
        with shared_session() as shared, shared.begin():
            shared.execute(delete(User).where(User.username.like("demo.%")
                                              | User.username.like(f"{demo_bank.slug}.%")))


def _demo_applications(demo, demo_bank):
    world(demo_bank)
    made = demo.ensure_demo_applications(demo_bank.slug)
    assert made == list(demo.PLAN)
    with tenant_session(demo_bank) as db:
        states = {c.name.removeprefix(demo.PREFIX): a.state for c, a in db.execute(
            select(Customer, LoanApplication).join(LoanApplication, LoanApplication.customer_id == Customer.id)
            .where(Customer.name.startswith(demo.PREFIX)))}
    expected = {target: target for target in demo.PLAN} | {"APPROVED_BY_APPROVER": "APPROVED"}
    assert states == expected
    # Every state of DOMAIN §2.2 is shown.
    from creditfactory.lending.applications.states import State
    assert set(states.values()) == {s.value for s in State}
    from creditfactory.lending.applications.models import ApplicationDecision, CommitteeCase, CommitteeSession
    from creditfactory.lending.contracts.models import ContractParty, EContract, RecordingSession
    from creditfactory.lending.disbursement.models import Disbursement
    from creditfactory.lending.loans.models import LoanAccount

    def application_of(db, target):
        return db.scalars(select(LoanApplication).join(Customer, Customer.id == LoanApplication.customer_id)
                          .where(Customer.name == demo.PREFIX + target)).one()

    with tenant_session(demo_bank) as db:
        in_committee = application_of(db, "IN_COMMITTEE")
        with_conditions = application_of(db, "APPROVED_WITH_CONDITIONS")
        sessions = {case.application_id: db.get(CommitteeSession, case.session_id).status
                    for case in db.scalars(select(CommitteeCase))}
        assert sessions == {in_committee.id: "open", with_conditions.id: "closed"}
        decision = db.scalars(select(ApplicationDecision)
                              .where(ApplicationDecision.application_id == with_conditions.id)).one()
        assert decision.conditions and decision.by_committee
        for target in ("CONTRACTED", "DISBURSED"):
            application = application_of(db, target)
            contract = db.scalars(select(EContract).where(EContract.application_id == application.id)).one()
            assert contract.status == "SIGNED"
            recording = db.get(RecordingSession, contract.recording_session_id)
            assert recording.qc_status == "PASSED" and recording.qc_reviewer_id != recording.recorded_by_id
            roles = [(p.role, p.related_party_id is not None) for p in db.scalars(
                select(ContractParty).where(ContractParty.contract_id == contract.id).order_by(ContractParty.id))]
            # The CONTRACTED borrower's spouse is a person without a customer record, and signs.
            assert roles == ([("borrower", False), ("spouse", True), ("lender", False)] if target == "CONTRACTED"
                             else [("borrower", False), ("lender", False)])
        disbursed = application_of(db, "DISBURSED")
        payment = db.scalars(select(Disbursement).where(Disbursement.application_id == disbursed.id)).one()
        assert payment.status == "SETTLED" and db.get(LoanAccount, payment.loan_id).state == "active"
    assert demo.ensure_demo_applications(demo_bank.slug) == []


# --- the portal walk (no browser) -------------------------------------------------------------------------------


def test_portal_walk_from_intake_to_the_approvers_explanation(app, bank, make_user):
    from creditfactory.lending.investigation.portal import flatten
    from creditfactory.testing.staff import HTML, csrf_token, log_in

    customer_id, product_id = world(bank, consent=False)
    prefix = f"/t/{bank.slug}"
    officer_client, approver_client = app.test_client(), app.test_client()
    assert log_in(officer_client, prefix, make_user("loan_officer", bank)).status_code == 302
    home = officer_client.get(f"{prefix}/", headers=HTML).get_data(as_text=True)
    for link in ("/customers\"", "/applications/new\"", "/applications/mine\""):  # my customers, new, mine
        assert f'class="button" href="{prefix}{link}' in home, link
    new = f"{prefix}/applications/new"
    created = officer_client.post(new, headers=HTML, data={
        "csrf_token": csrf_token(officer_client, new), "customer_id": customer_id, "product_id": product_id,
        "amount": "20000", "term_months": "12", "channel": "field_app", "repayment_method": "equal_installment",
        "sector": "retail"})
    assert created.status_code == 302, created.get_data(as_text=True)
    case = created.headers["Location"]
    application_id = int(case.rstrip("/").rsplit("/", 1)[1])
    act = f"{prefix}/applications/{application_id}/act"
    page = officer_client.get(case, headers=HTML).get_data(as_text=True)
    assert 'value="prescreen"' in page
    assert 'id="consent-missing"' in page and f'href="{prefix}/customers/{customer_id}"' in page
    token = csrf_token(officer_client, case)
    # No written credit-bureau consent yet: the pre-screen is refused and says what to capture where.
    refused = officer_client.post(act, headers=HTML, data={"csrf_token": token, "action": "prescreen", "passed": "1",
                                                          "reason": "ok"})
    assert refused.status_code == 422 and "bureau_query" in refused.get_data(as_text=True)
    customer_page = f"{prefix}/customers/{customer_id}"
    assert officer_client.post(f"{customer_page}/consents", headers=HTML, data={
        "csrf_token": csrf_token(officer_client, customer_page), "purpose": "bureau_query",
        "scope": "查询征信报告，用于本次贷款审批", "consent_type": "written", "channel": "paper_scan",
        "evidence_signature": "纸质授权书 PS-0001"}).status_code == 302
    assert 'id="consent-missing"' not in officer_client.get(case, headers=HTML).get_data(as_text=True)
    assert officer_client.post(act, headers=HTML, data={"csrf_token": token, "action": "prescreen", "passed": "1",
                                                       "reason": "ok"}).status_code == 302
    assert 'value="visit"' in officer_client.get(case, headers=HTML).get_data(as_text=True)
    assert officer_client.post(act, headers=HTML, data={"csrf_token": token, "action": "visit",
                                                       "reason": "Tuesday"}).status_code == 302
    page = officer_client.get(case, headers=HTML).get_data(as_text=True)
    worksheet = f"{prefix}/investigation/{application_id}"
    assert f'href="{worksheet}"' in page
    form = {**flatten(_worksheet("20000")), "csrf_token": csrf_token(officer_client, worksheet), "action": "save"}
    saved = officer_client.post(worksheet, headers=HTML, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)[-2000:]
    page = officer_client.get(case, headers=HTML).get_data(as_text=True)
    assert 'id="pre-approval"' in page and "26,706.42" in page
    assert officer_client.post(act, headers=HTML, data={"csrf_token": token, "action": "submit",
                                                       "reason": "done"}).status_code == 302
    assert log_in(approver_client, prefix, make_user("approver", bank)).status_code == 302
    page = approver_client.get(case, headers=HTML).get_data(as_text=True)
    # the approval stage referred it: the reviewer reads why and which rule fired, with the value it read
    assert 'data-stage="approval"' in page and "R03" in page and "APR-CROSSCHECK" in page
    assert "business.cross_checks_failed = 2" in page


def test_portal_new_application_from_the_customer_page_is_registered_once(app, bank, make_user):
    """The customer page opens the form for that customer; the form's idempotency key makes a second send of the
    same form (a double tap, a retry on a weak signal) show the first application instead of registering another."""
    from creditfactory.testing.staff import HTML, csrf_token, log_in

    customer_id, product_id = world(bank)
    prefix = f"/t/{bank.slug}"
    client = app.test_client()
    assert log_in(client, prefix, make_user("loan_officer", bank)).status_code == 302
    customer_page = client.get(f"{prefix}/customers/{customer_id}", headers=HTML).get_data(as_text=True)
    new = f"{prefix}/applications/new?customer_id={customer_id}"
    assert f'href="{new}"' in customer_page
    form_page = client.get(new, headers=HTML).get_data(as_text=True)
    assert f'<option value="{customer_id}" selected>' in form_page
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', form_page)[1]
    data = {"csrf_token": csrf_token(client, new), "idempotency_key": key, "customer_id": customer_id,
            "product_id": product_id, "amount": "20000", "term_months": "12", "channel": "field_app",
            "repayment_method": "equal_installment", "sector": "retail"}
    first = client.post(new, headers=HTML, data=data)
    again = client.post(new, headers=HTML, data=data)
    assert first.status_code == again.status_code == 302 and first.headers["Location"] == again.headers["Location"]
    with tenant_session(bank) as db:
        assert len(db.scalars(select(LoanApplication).where(LoanApplication.customer_id == customer_id)).all()) == 1
    # Back to the sent form, changed and sent again: said so, with a fresh key for a deliberate second application.
    changed = client.post(new, headers=HTML, data={**data, "amount": "30000"}).get_data(as_text=True)
    assert "此表单已登记过一笔申请" in changed and f'value="{key}"' not in changed
