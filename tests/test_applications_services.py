"""Applications against PostgreSQL: intake from every channel, idempotency (also concurrent), segregation of duties,
approval authority through maker-checker, single approver, credit committee, expiry and SLA reminder jobs."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from dramatiq import Worker
from sqlalchemy import delete, func, select, update

from applications_support import acting, bureau_consent, customer_and_product, principal
from creditfactory.db import CurrentTenant, tenant_session
from creditfactory.errors import Conflict
from creditfactory.identity import changes
from creditfactory.identity.errors import AccessDenied, SegregationOfDutiesViolation
from creditfactory.identity.changes import ChangeRequestError
from creditfactory.lending.applications import authority, jobs, services
from creditfactory.lending.applications.models import (CHANNELS, ApplicationDecision, ApplicationIdempotencyKey,
                                                       ApplicationReminder, ApplicationStateHistory,
                                                       ApprovalAuthority, CommitteeCase, CommitteeMember,
                                                       CommitteeSession, CommitteeVote, LoanApplication)
from creditfactory.lending.applications.states import Event, transition
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.products.models import Product
from creditfactory.tenancy.models import TenantParameter


@pytest.fixture
def people(tenant_a, make_user):
    def make(role):
        return principal(make_user(role, tenant_a), tenant_a, role)
    return make


@pytest.fixture
def officer(people):
    return people("loan_officer")


def new_application(db, tenant, officer, amount="30000", term=12, channel="branch", code=None):
    customer_id, product_id = customer_and_product(db, code)
    bureau_consent(db, customer_id)  # the pre-screen of to_review needs it
    with acting(officer, tenant):
        application, _ = services.create_application(db, {"customer_id": customer_id, "product_id": product_id,
                                                          "amount": amount, "term_months": term, "channel": channel})
    return application


def to_review(db, tenant, officer, application):
    with acting(officer, tenant):
        for event in (Event.PRESCREEN_PASS, Event.SCHEDULE_VISIT, Event.ANALYSE, Event.SUBMIT):
            transition(db, application, event, reason="test")
    assert application.state == "IN_REVIEW"


# --- intake -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_intake_from_every_channel(tenant_a, tenant_db, officer, channel):
    db = tenant_db(tenant_a)
    application = new_application(db, tenant_a, officer, channel=channel)
    assert application.channel == channel and application.state == "APPLIED"
    assert application.officer_id == officer.user_id == application.assignee_id
    assert application.reference == f"LA{application.created_at.astimezone(dt.timezone(dt.timedelta(hours=8))):%Y%m%d}{application.id:06d}"
    [entry] = services.history(db, application)
    assert (entry.from_state, entry.to_state, entry.event, entry.actor_id) == (None, "APPLIED", "intake", officer.user_id)


def test_bad_intake_names_every_problem_and_creates_nothing(tenant_a, tenant_db, officer):
    db = tenant_db(tenant_a)
    before = db.scalar(select(func.count()).select_from(LoanApplication))
    with acting(officer, tenant_a), pytest.raises(services.ApplicationError) as refused:
        services.create_application(db, {"customer_id": 999999, "product_id": 999999, "amount": "-5",
                                         "term_months": 0, "channel": "fax"})
    for words in ("channel", "amount", "term_months", "no customer", "no product"):
        assert words in str(refused.value)
    assert db.scalar(select(func.count()).select_from(LoanApplication)) == before


def test_machine_intake_names_a_real_officer(tenant_a, tenant_db, officer, people):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    approver = people("approver")
    data = {"customer_id": customer_id, "product_id": product_id, "amount": "1000", "term_months": 3,
            "channel": "partner", "officer_id": approver.user_id}
    with acting(officer, tenant_a), pytest.raises(services.ApplicationError, match="no loan officer"):
        services.create_application(db, data)
    with acting(officer, tenant_a):
        application, _ = services.create_application(db, {**data, "officer_id": officer.user_id})
    assert application.officer_id == officer.user_id


def test_a_retry_replays_the_first_response_and_another_body_is_refused(tenant_a, tenant_db, officer):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    body = {"customer_id": customer_id, "product_id": product_id, "amount": "8000", "term_months": 6,
            "channel": "mobile_banking"}
    with acting(officer, tenant_a):
        application, replay = services.create_application(db, body, idempotency_key="k-1")
        assert replay is None
        services.remember_response(db, "k-1", application, {"id": application.id, "reference": application.reference})
        again, replay = services.create_application(db, {**body, "amount": "8000.00"}, idempotency_key="k-1")
        assert again is None and replay == {"id": application.id, "reference": application.reference}
        with pytest.raises(services.IdempotencyKeyReused):
            services.create_application(db, {**body, "amount": "9000"}, idempotency_key="k-1")
    assert db.scalar(select(func.count()).select_from(LoanApplication)
                     .where(LoanApplication.customer_id == customer_id)) == 1


def test_a_retry_is_replayed_even_where_its_body_would_no_longer_pass(tenant_a, tenant_db, officer):
    # The key decides before the checks do: the consent behind the first request's bureau query is withdrawn
    # before the client retries, and the retry still gets the first answer, not a refusal.
    from creditfactory.lending.customers import services as customers

    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    body = {"customer_id": customer_id, "product_id": product_id, "amount": "5000", "term_months": 6,
            "channel": "field_app", "bureau_query": True}
    with acting(officer, tenant_a):
        consent = customers.grant_consent(db, customer_id, purpose="bureau_query", scope="查询征信报告，用于本次贷款审批",
                                          consent_type="written", channel="paper_scan", evidence_signature="ESIGN-1",
                                          granted_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        application, _ = services.create_application(db, body, idempotency_key="k-consent")
        services.remember_response(db, "k-consent", application, {"id": application.id})
        customers.withdraw_consent(db, customer_id, consent.id, reason="the customer asked")
        with pytest.raises(services.ApplicationError, match="bureau_query"):
            services.create_application(db, body, idempotency_key="k-other")
        assert services.create_application(db, body, idempotency_key="k-consent") == (None, {"id": application.id})


def test_concurrent_retries_create_once(tenant_a, officer):
    with tenant_session(tenant_a) as db, db.begin():
        customer_id, product_id = customer_and_product(db)
    body = {"customer_id": customer_id, "product_id": product_id, "amount": "12000", "term_months": 12,
            "channel": "online_banking"}
    key = f"race-{uuid.uuid4().hex}"
    barrier = threading.Barrier(6)
    answers, errors = [], []

    def retry():
        from creditfactory.audit import Actor, ActorKind, CurrentActor
        try:
            with CurrentActor.bind(Actor(id="test:race", kind=ActorKind.SYSTEM)), acting(officer, tenant_a), \
                    tenant_session(tenant_a) as db, db.begin():
                barrier.wait()
                application, replay = services.create_application(db, body, idempotency_key=key)
                if application is not None:
                    replay = {"id": application.id}
                    services.remember_response(db, key, application, replay)
                answers.append(replay)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert len(answers) == 6 and len({a["id"] for a in answers}) == 1
        with tenant_session(tenant_a) as db:
            assert db.scalar(select(func.count()).select_from(LoanApplication)
                             .where(LoanApplication.customer_id == customer_id)) == 1
    finally:
        _remove(customer_id, product_id, tenant_a)


def _remove(customer_id, product_id, tenant):
    with tenant_session(tenant) as db, db.begin():
        ids = select(LoanApplication.id).where(LoanApplication.customer_id == customer_id).scalar_subquery()
        db.execute(delete(ApplicationIdempotencyKey).where(ApplicationIdempotencyKey.application_id.in_(ids)))
        db.execute(delete(ApplicationStateHistory).where(ApplicationStateHistory.application_id.in_(ids)))
        from creditfactory.decisions.models import DecisionRecord
        db.execute(delete(DecisionRecord).where(DecisionRecord.application_id.in_(ids)))
        db.execute(delete(LoanApplication).where(LoanApplication.customer_id == customer_id))
        db.execute(delete(Customer).where(Customer.id == customer_id))
        db.execute(delete(Product).where(Product.id == product_id))


# --- review, authority, approver --------------------------------------------------------------------------------


def set_authority(db, tenant, people, role, product, amount, term):
    maker, checker = people("risk_manager"), people("tenant_admin")
    with acting(maker, tenant):
        request = authority.propose_authority(db, role, product, amount, term)
    assert db.scalar(select(func.count()).select_from(ApprovalAuthority)
                     .where(ApprovalAuthority.role == role, ApprovalAuthority.product_code == product)) == 0
    with acting(maker, tenant), pytest.raises(SegregationOfDutiesViolation):
        changes.approve(db, request.id)
    with acting(checker, tenant):
        changes.approve(db, request.id)


def test_authority_is_set_only_through_maker_checker(tenant_a, tenant_db, people):
    db = tenant_db(tenant_a)
    with acting(people("loan_officer"), tenant_a), pytest.raises(AccessDenied, match="approval_authority.configure"):
        authority.propose_authority(db, "approver", "*", "50000", 12)
    with acting(people("risk_manager"), tenant_a), pytest.raises(ChangeRequestError, match="max_amount"):
        authority.propose_authority(db, "approver", "*", "-1", 12)
    set_authority(db, tenant_a, people, "approver", "*", "50000", 12)
    [row] = [r for r in authority.matrix(db) if r.role == "approver" and r.product_code == "*"]
    assert (row.max_amount, row.max_term_months) == (Decimal("50000.00"), 12)


def test_within_authority_a_single_approver_decides_with_reasons(tenant_a, tenant_db, people, officer):
    db = tenant_db(tenant_a)
    set_authority(db, tenant_a, people, "approver", "*", "50000", 12)
    small = new_application(db, tenant_a, officer, amount="50000", term=12)
    big = new_application(db, tenant_a, officer, amount="50000.01", term=12)
    long = new_application(db, tenant_a, officer, amount="1000", term=13)
    for application in (small, big, long):
        to_review(db, tenant_a, officer, application)
    approver = people("approver")
    with acting(approver, tenant_a):
        with pytest.raises(services.ApplicationError, match="reasons"):
            services.decide(db, small.id, "approve", " ")
        decision = services.decide(db, small.id, "approve", "cash flow covers the instalment 2.1 times")
        for application in (big, long):
            with pytest.raises(Conflict, match="above your approval authority"):
                services.decide(db, application.id, "approve", "looks fine")
    assert small.state == "APPROVED" and (decision.decided_by, decision.decision) == (approver.user_id, "approve")
    assert db.get(LoanApplication, big.id).state == "IN_REVIEW"


def test_a_product_row_overrides_the_general_one(tenant_a, tenant_db, people, officer):
    db = tenant_db(tenant_a)
    code = f"grass_{uuid.uuid4().hex[:6]}"
    set_authority(db, tenant_a, people, "approver", "*", "50000", 12)
    set_authority(db, tenant_a, people, "approver", code, "20000", 12)
    application = new_application(db, tenant_a, officer, amount="30000", code=code)
    assert not services.within_authority(db, application, {"approver"})
    assert services.within_authority(db, new_application(db, tenant_a, officer, amount="30000"), {"approver"})


def test_the_investigator_never_reviews_approves_or_votes(tenant_a, tenant_db, make_user, people):
    db = tenant_db(tenant_a)
    username = make_user("loan_officer", tenant_a)
    # One person holding the officer's and every middle-office role: the duty rule still refuses.
    both = principal(username, tenant_a, "loan_officer", "reviewer", "approver", "credit_committee_member")
    set_authority(db, tenant_a, people, "approver", "*", "50000", 12)
    application = new_application(db, tenant_a, both)
    to_review(db, tenant_a, both, application)
    members = [people("credit_committee_member") for _ in range(3)]
    with acting(members[0], tenant_a):
        committee = services.create_session(db, dt.date(2026, 12, 1), [m.user_id for m in members])
    with acting(both, tenant_a):
        for attempt in (lambda: services.decide(db, application.id, "approve", "mine"),
                        lambda: services.fire(db, application.id, Event.RETURN, "more"),
                        lambda: services.add_case(db, committee.id, application.id)):
            with pytest.raises(SegregationOfDutiesViolation):
                attempt()
    assert db.get(LoanApplication, application.id).state == "IN_REVIEW"
    with acting(people("reviewer"), tenant_a):
        services.add_case(db, committee.id, application.id)
    db.add(CommitteeMember(session_id=committee.id, user_id=both.user_id))
    db.flush()
    with acting(both, tenant_a), pytest.raises(SegregationOfDutiesViolation):
        services.vote(db, committee.id, application.id, "approve")


def test_return_goes_back_to_investigating_with_the_reason(tenant_a, tenant_db, people, officer):
    db = tenant_db(tenant_a)
    application = new_application(db, tenant_a, officer)
    to_review(db, tenant_a, officer, application)
    with acting(people("reviewer"), tenant_a):
        with pytest.raises(services.ApplicationError, match="reason"):
            services.fire(db, application.id, Event.RETURN, "")
        services.fire(db, application.id, Event.RETURN, "household balance sheet missing")
    assert application.state == "INVESTIGATING" and application.assignee_id == officer.user_id
    assert services.history(db, application)[-1].reason == "household balance sheet missing"


# --- committee --------------------------------------------------------------------------------------------------


def test_committee_votes_dissent_conditions_and_decisions(tenant_a, tenant_db, people, officer):
    db = tenant_db(tenant_a)
    cases = [new_application(db, tenant_a, officer, amount="200000", term=24) for _ in range(3)]
    for application in cases:
        to_review(db, tenant_a, officer, application)
    members = [people("credit_committee_member") for _ in range(4)]
    chair = members[0]
    with acting(chair, tenant_a):
        with pytest.raises(services.ApplicationError, match="at least 3 members"):
            services.create_session(db, dt.date(2026, 12, 2), [m.user_id for m in members[:2]])
        with pytest.raises(services.ApplicationError, match="no credit-committee role"):
            services.create_session(db, dt.date(2026, 12, 2), [m.user_id for m in members[:2]] + [officer.user_id])
        committee = services.create_session(db, dt.date(2026, 12, 2), [m.user_id for m in members])
    with acting(people("reviewer"), tenant_a):
        for application in cases:
            services.add_case(db, committee.id, application.id)
    assert {a.state for a in cases} == {"IN_COMMITTEE"}
    ballots = {
        cases[0].id: [("approve", "", []), ("approve_with_conditions", "", ["spouse co-signs"]), ("reject", "thin margin", [])],
        cases[1].id: [("reject", "over-indebted", []), ("reject", "bureau", []), ("approve", "", [])],
        cases[2].id: [("return", "verify stock", []), ("approve", "", []), ("reject", "sector", [])],
    }
    for application_id, votes in ballots.items():
        for member, (choice, comment, conditions) in zip(members, votes):
            with acting(member, tenant_a):
                services.vote(db, committee.id, application_id, choice, comment, conditions)
    with acting(members[0], tenant_a):
        with pytest.raises(Conflict, match="already voted"):
            services.vote(db, committee.id, cases[0].id, "reject", "changed my mind")
    with acting(members[3], tenant_a):
        with pytest.raises(services.ApplicationError, match="conditions"):
            services.vote(db, committee.id, cases[0].id, "approve_with_conditions")
    outsider = people("credit_committee_member")
    with acting(outsider, tenant_a), pytest.raises(AccessDenied, match="no member"):
        services.vote(db, committee.id, cases[0].id, "approve")
    with acting(chair, tenant_a):
        services.close_session(db, committee.id, "three cases heard")
        with pytest.raises(Conflict, match="closed"):
            services.vote(db, committee.id, cases[0].id, "approve")
    for application in cases:
        db.refresh(application)
    assert [a.state for a in cases] == ["APPROVED_WITH_CONDITIONS", "REJECTED", "INVESTIGATING"]
    first = db.get(CommitteeCase, (committee.id, cases[0].id))
    assert first.conditions == ["spouse co-signs"] and first.dissent == [members[2].user_id]
    assert db.get(CommitteeCase, (committee.id, cases[1].id)).dissent == [members[2].user_id]
    decision = db.scalars(select(ApplicationDecision).where(ApplicationDecision.application_id == cases[1].id)).one()
    assert (decision.decision, decision.by_committee, decision.decided_by) == ("reject", committee.id, chair.user_id)
    assert "three cases heard" in decision.reasons


def test_a_session_without_quorum_cannot_close(tenant_a, tenant_db, people, officer):
    db = tenant_db(tenant_a)
    application = new_application(db, tenant_a, officer, amount="200000")
    to_review(db, tenant_a, officer, application)
    members = [people("credit_committee_member") for _ in range(3)]
    with acting(members[0], tenant_a):
        committee = services.create_session(db, dt.date(2026, 12, 3), [m.user_id for m in members])
    with acting(people("approver"), tenant_a):
        services.add_case(db, committee.id, application.id)
    with acting(members[0], tenant_a):
        services.vote(db, committee.id, application.id, "approve")
        with pytest.raises(Conflict, match="quorum"):
            services.close_session(db, committee.id, "minutes")
    assert db.get(LoanApplication, application.id).state == "IN_COMMITTEE"


def test_tally():
    def v(choice, conditions=()):
        return CommitteeVote(vote=choice, conditions=list(conditions), member_id=0)
    assert services.tally([v("approve"), v("approve"), v("reject")]) == ("approve", [])
    assert services.tally([v("approve"), v("approve_with_conditions", ["b", "a"]), v("reject")]) == (
        "approve_with_conditions", ["a", "b"])
    assert services.tally([v("approve"), v("approve"), v("reject"), v("return")]) == ("return", [])
    assert services.tally([v("reject"), v("reject"), v("return")]) == ("reject", [])


# --- cancellation, expiry and SLA jobs ----------------------------------------------------------------------------


def test_cancel_from_any_pre_contract_state_needs_a_reason(tenant_a, tenant_db, officer):
    db = tenant_db(tenant_a)
    application = new_application(db, tenant_a, officer)
    with acting(officer, tenant_a):
        with pytest.raises(services.ApplicationError):
            services.fire(db, application.id, Event.CANCEL, "")
        services.fire(db, application.id, Event.CANCEL, "customer withdrew")
        with pytest.raises(Conflict, match="CANCELLED"):
            services.fire(db, application.id, Event.CANCEL, "again")


def run_jobs(broker, tenant, *actors):
    with CurrentTenant.bind(tenant):
        for actor in actors:
            actor.send()
    worker = Worker(broker, worker_timeout=50)
    worker.start()
    try:
        broker.join("tenant", timeout=20_000)
    finally:
        worker.stop(timeout=10_000)


@pytest.fixture
def committed(tenant_a, officer):
    """Two committed applications of tenant A (jobs run in their own transactions), removed afterwards."""
    made = []
    with tenant_session(tenant_a) as db, db.begin():
        for _ in range(2):
            application = new_application(db, tenant_a, officer)
            made.append((application.id, application.customer_id, application.product_id))
    yield [m[0] for m in made]
    with tenant_session(tenant_a) as db, db.begin():
        db.execute(delete(ApplicationReminder).where(ApplicationReminder.application_id.in_([m[0] for m in made])))
        db.execute(delete(TenantParameter).where(TenantParameter.key.in_([services.EXPIRY_DAYS_KEY])))
    for _, customer_id, product_id in made:
        _remove(customer_id, product_id, tenant_a)


def test_expiry_job_expires_old_pre_contract_applications_once(tenant_a, stub_broker, committed):
    old, fresh = committed
    with tenant_session(tenant_a) as db, db.begin():
        db.add(TenantParameter(key=services.EXPIRY_DAYS_KEY, value=10))
        db.execute(update(LoanApplication).where(LoanApplication.id == old)
                   .values(created_at=func.now() - dt.timedelta(days=11)))
    run_jobs(stub_broker, tenant_a, jobs.expire_applications)
    run_jobs(stub_broker, tenant_a, jobs.expire_applications)
    with tenant_session(tenant_a) as db:
        assert db.get(LoanApplication, old).state == "EXPIRED"
        assert db.get(LoanApplication, fresh).state == "APPLIED"
        rows = db.scalars(select(ApplicationStateHistory).where(ApplicationStateHistory.application_id == old,
                                                                ApplicationStateHistory.event == "expire")).all()
        assert len(rows) == 1 and rows[0].actor == "system" and "10 days" in rows[0].reason


def test_sla_reminders_go_to_the_assignee_once_per_state_visit(tenant_a, stub_broker, committed, officer):
    late, on_time = committed
    with tenant_session(tenant_a) as db, db.begin():
        db.execute(update(LoanApplication).where(LoanApplication.id == late)
                   .values(state_entered_at=func.now() - dt.timedelta(hours=25)))
    run_jobs(stub_broker, tenant_a, jobs.send_sla_reminders)
    run_jobs(stub_broker, tenant_a, jobs.send_sla_reminders)
    with tenant_session(tenant_a) as db:
        [reminder] = db.scalars(select(ApplicationReminder).where(
            ApplicationReminder.application_id.in_(committed))).all()
        assert (reminder.application_id, reminder.user_id, reminder.state) == (late, officer.user_id, "APPLIED")
        assert "24 h" in reminder.message


def test_expiry_and_sla_reminders_are_scheduled_for_every_tenant():
    from creditfactory.jobs.schedule import periodic_jobs

    scheduled = periodic_jobs()
    assert scheduled["application-expiry"].actor is jobs.expire_applications
    reminders = [job for name, job in scheduled.items() if name.startswith("application-sla-reminders-")]
    assert {job.actor for job in reminders} == {jobs.send_sla_reminders}
    assert sorted(job.daily_at for job in reminders) == [dt.time(8, 30), dt.time(12, 30), dt.time(16, 30)]
