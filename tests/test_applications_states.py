"""The application state machine (DOMAIN §2.2): every state × event allowed or refused, in memory and in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select, update

from applications_support import acting, bureau_consent, customer_and_product, principal
from creditfactory.errors import Conflict
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import Principal
from creditfactory.lending.applications import services, states
from creditfactory.lending.applications.models import ApplicationStateHistory, LoanApplication
from creditfactory.lending.applications.states import Event as E, State as S
from creditfactory.lending.customers.models import Customer, RelatedParty

PRE_CONTRACT = {S.LEAD, S.APPLIED, S.PRE_SCREENED, S.INVESTIGATING, S.ANALYSED, S.IN_REVIEW, S.IN_COMMITTEE,
                S.APPROVED, S.APPROVED_WITH_CONDITIONS}

#: DOMAIN §2.2 written out again by hand, independently of states.TRANSITIONS.
EXPECTED = {
    (S.LEAD, E.APPLY): S.APPLIED,
    (S.APPLIED, E.PRESCREEN_FAIL): S.REJECTED,
    (S.APPLIED, E.PRESCREEN_PASS): S.PRE_SCREENED,
    (S.PRE_SCREENED, E.SCHEDULE_VISIT): S.INVESTIGATING,
    (S.INVESTIGATING, E.ANALYSE): S.ANALYSED,
    (S.ANALYSED, E.SUBMIT): S.IN_REVIEW,
    (S.IN_REVIEW, E.RETURN): S.INVESTIGATING,
    (S.IN_REVIEW, E.APPROVE): S.APPROVED,
    (S.IN_REVIEW, E.REJECT): S.REJECTED,
    (S.IN_REVIEW, E.REFER): S.IN_COMMITTEE,
    (S.IN_COMMITTEE, E.COMMITTEE_APPROVE): S.APPROVED,
    (S.IN_COMMITTEE, E.COMMITTEE_APPROVE_WITH_CONDITIONS): S.APPROVED_WITH_CONDITIONS,
    (S.IN_COMMITTEE, E.COMMITTEE_REJECT): S.REJECTED,
    (S.IN_COMMITTEE, E.COMMITTEE_RETURN): S.INVESTIGATING,
    (S.APPROVED, E.CONTRACT): S.CONTRACTED,
    (S.APPROVED_WITH_CONDITIONS, E.CONTRACT): S.CONTRACTED,
    (S.CONTRACTED, E.DISBURSE): S.DISBURSED,
}
EXPECTED.update({(s, E.CANCEL): S.CANCELLED for s in PRE_CONTRACT})
EXPECTED.update({(s, E.EXPIRE): S.EXPIRED for s in PRE_CONTRACT})

ALL = list(itertools.product(S, E))


def test_the_table_is_domain_2_2():
    assert states.TRANSITIONS == EXPECTED
    assert set(states.EVENT_RULES) == set(E)


@pytest.mark.parametrize(("state", "event"), ALL, ids=[f"{s.value}-{e.value}" for s, e in ALL])
def test_next_state_allows_or_refuses_naming_state_and_event(state, event):
    if (state, event) in EXPECTED:
        assert states.next_state(state, event) is EXPECTED[(state, event)]
    else:
        with pytest.raises(Conflict) as refused:
            states.next_state(state, event)
        assert state.value in str(refused.value) and event.value in str(refused.value)


def test_final_states_allow_nothing():
    for state in (S.REJECTED, S.CANCELLED, S.EXPIRED, S.DISBURSED):
        assert not [e for e in E if (state, e) in EXPECTED]


@pytest.fixture
def everything(tenant_a, make_user):
    """A person of tenant A holding every village-bank permission (the permission checks are tested apart)."""
    username = make_user("loan_officer", tenant_a)
    base = principal(username, tenant_a, "loan_officer")
    return Principal(base.user_id, username, Context.TENANT, tenant_a.slug,
                     Permission.of_context(Context.TENANT), frozenset({"loan_officer"}))


def test_every_state_and_event_in_postgresql(tenant_a, tenant_db, everything):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    bureau_consent(db, customer_id)
    with acting(everything, tenant_a):
        application, _ = services.create_application(db, {"customer_id": customer_id, "product_id": product_id,
                                                          "amount": "10000", "term_months": 12, "channel": "branch"})
        for state, event in ALL:
            db.execute(update(LoanApplication).where(LoanApplication.id == application.id).values(state=state.value))
            db.refresh(application)
            before = db.scalar(select(ApplicationStateHistory.id).order_by(ApplicationStateHistory.id.desc()).limit(1))
            if (state, event) in EXPECTED:
                entry = states.transition(db, application, event, reason="test")
                assert application.state == EXPECTED[(state, event)].value
                assert (entry.from_state, entry.to_state, entry.event, entry.actor_id) == (
                    state.value, application.state, event.value, everything.user_id)
            else:
                with pytest.raises(Conflict, match=f"{event.value}.*{state.value}"):
                    states.transition(db, application, event, reason="test")
                db.refresh(application)
                assert application.state == state.value
                latest = db.scalar(select(ApplicationStateHistory.id).order_by(ApplicationStateHistory.id.desc()).limit(1))
                assert latest == before


def test_an_event_needs_its_permission(tenant_a, tenant_db, make_user):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    officer = principal(make_user("loan_officer", tenant_a), tenant_a, "loan_officer")
    auditor = principal(make_user("approver", tenant_a), tenant_a, "approver")
    with acting(officer, tenant_a):
        application, _ = services.create_application(db, {"customer_id": customer_id, "product_id": product_id,
                                                          "amount": "10000", "term_months": 12, "channel": "phone"})
    with acting(auditor, tenant_a), pytest.raises(AccessDenied, match="application.create"):
        states.transition(db, application, E.PRESCREEN_PASS)
    db.refresh(application)
    assert application.state == "APPLIED"


def test_history_times_each_state_and_closes_the_previous(tenant_a, tenant_db, everything):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    bureau_consent(db, customer_id)
    with acting(everything, tenant_a):
        application, _ = services.create_application(db, {"customer_id": customer_id, "product_id": product_id,
                                                          "amount": "5000", "term_months": 6, "channel": "wechat_mini",
                                                          "lead": True})
        for event in (E.APPLY, E.PRESCREEN_PASS, E.SCHEDULE_VISIT):
            states.transition(db, application, event, reason=f"why {event.value}")
        rows = services.history(db, application)
        assert [(r.from_state, r.to_state) for r in rows] == [
            (None, "LEAD"), ("LEAD", "APPLIED"), ("APPLIED", "PRE_SCREENED"), ("PRE_SCREENED", "INVESTIGATING")]
        assert all(r.left_at is not None for r in rows[:-1]) and rows[-1].left_at is None
        assert rows[2].reason == "why prescreen_pass"
        assert application.investigator_id == everything.user_id
        assert set(services.turnaround(db, application)["seconds_in_state"]) == {"LEAD", "APPLIED", "PRE_SCREENED",
                                                                               "INVESTIGATING"}


# --- the consent gate of the pre-screen (DOMAIN §2.2 "consents captured §4", §4.2) --------------------------------


def _applied(db, tenant, person, customer_id, product_id):
    with acting(person, tenant):
        application, _ = services.create_application(db, {"customer_id": customer_id, "product_id": product_id,
                                                          "amount": "10000", "term_months": 12, "channel": "branch"})
    return application


def _refused(db, tenant, person, application, *phrases):
    before = db.scalar(select(ApplicationStateHistory.id).order_by(ApplicationStateHistory.id.desc()).limit(1))
    with acting(person, tenant), pytest.raises(states.PrescreenConsentMissing) as refused:
        states.transition(db, application, E.PRESCREEN_PASS, reason="consents captured")
    assert refused.value.status == 422
    for phrase in ("bureau_query", *phrases):
        assert phrase in str(refused.value)
    db.refresh(application)
    assert application.state == "APPLIED" and application.bureau_consent_id is None
    assert db.scalar(select(ApplicationStateHistory.id).order_by(ApplicationStateHistory.id.desc()).limit(1)) == before


def test_pre_screen_needs_an_active_written_bureau_consent(tenant_a, tenant_db, everything):
    db = tenant_db(tenant_a)
    customer_id, product_id = customer_and_product(db)
    application = _applied(db, tenant_a, everything, customer_id, product_id)
    _refused(db, tenant_a, everything, application, "has given no consent", "the applicant 王芳")
    now = dt.datetime.now(dt.timezone.utc)
    bureau_consent(db, customer_id, granted_at=now - dt.timedelta(days=40), expires_at=now - dt.timedelta(days=10))
    _refused(db, tenant_a, everything, application, "expired")
    bureau_consent(db, customer_id, withdrawn_at=now - dt.timedelta(minutes=1), withdrawal_reason="客户撤回",
                   granted_at=now - dt.timedelta(days=2))
    _refused(db, tenant_a, everything, application, "withdrew")
    # Another purpose does not stand in for the bureau query.
    bureau_consent(db, customer_id, purpose="credit_assessment", consent_type="general")
    _refused(db, tenant_a, everything, application, "withdrew")
    consent = bureau_consent(db, customer_id)
    with acting(everything, tenant_a):
        states.transition(db, application, E.PRESCREEN_PASS, reason="consents captured")
    assert application.state == "PRE_SCREENED" and application.bureau_consent_id == consent.id
    # A failed pre-screen needs no consent: refusing the applicant queries nothing more.
    other = _applied(db, tenant_a, everything, customer_and_product(db)[0], product_id)
    with acting(everything, tenant_a):
        states.transition(db, other, E.PRESCREEN_FAIL, reason="blacklisted")
    assert other.state == "REJECTED"


def test_a_micro_enterprise_needs_its_legal_representatives_consent_when_a_customer(tenant_a, tenant_db, everything):
    db = tenant_db(tenant_a)
    _, product_id = customer_and_product(db)
    enterprise = Customer(kind="micro_enterprise", name="普洱茶业有限公司", legal_representative_name="李强")
    representative = Customer(kind="individual", name="李强")
    db.add_all([enterprise, representative])
    db.flush()
    db.add(RelatedParty(customer_id=enterprise.id, role="legal_representative",
                        related_customer_id=representative.id))
    db.flush()
    application = _applied(db, tenant_a, everything, enterprise.id, product_id)
    _refused(db, tenant_a, everything, application, "the applicant 普洱茶业有限公司",
             f"the legal representative (customer {representative.id})")
    enterprise_consent = bureau_consent(db, enterprise.id)
    _refused(db, tenant_a, everything, application, f"the legal representative (customer {representative.id})")
    bureau_consent(db, representative.id)
    with acting(everything, tenant_a):
        states.transition(db, application, E.PRESCREEN_PASS, reason="consents captured")
    assert application.state == "PRE_SCREENED" and application.bureau_consent_id == enterprise_consent.id
