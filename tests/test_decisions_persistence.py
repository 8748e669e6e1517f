"""Decision engine persistence on real PostgreSQL: standard versions, overlays by maker-checker, decisions, replay."""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
from contextlib import contextmanager

import pytest

from creditfactory.db import CurrentTenant, SystemContext
from creditfactory.decisions import services
from creditfactory.decisions.engine import Outcome, RuleSet, Stage
from creditfactory.decisions.models import DecisionRecord, StandardRuleSetVersion
from creditfactory.decisions.overlay import OverlayError, apply_overlay
from creditfactory.errors import Conflict
from creditfactory.identity import changes, services as identity_services
from creditfactory.identity.errors import AccessDenied, SegregationOfDutiesViolation
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, load_principal

DAY = dt.date(2026, 11, 28)


@contextmanager
def acting(p, tenant):
    with CurrentPrincipal.bind(p), CurrentTenant.bind(tenant):
        yield


def make_user(shared_db, username):
    with SystemContext("test: users"):
        user, _ = identity_services.create_user(shared_db, username, username.title(),
                                                password="a long enough passphrase")
    return user


@pytest.fixture
def bank(tenant_a, tenant_db, shared_db):
    session = tenant_db(tenant_a)
    people = {}
    for username, role in (("dmaker", "risk_manager"), ("dchecker", "risk_manager"), ("dapprover", "approver")):
        user = make_user(shared_db, username)
        with SystemContext("test: grants"):
            identity_services.grant(shared_db, username, role, tenant_a.slug)
        people[username] = load_principal(shared_db, user, Context.TENANT, tenant_a.slug, tenant_db=session)
    with SystemContext("test: standard rule sets"):
        services.sync_standard(shared_db, DAY - dt.timedelta(days=30))
    return session, shared_db, people


APPLICANT = {"applicant.age": 40, "applicant.on_blacklist": False, "applicant.id_verified": True,
             "bureau.has_bad_debt": False, "business.years_in_business": 4, "history.is_employee": False,
             "bureau.max_overdue_days": 0, "bureau.overdue_count_24m": 0, "ipc.repayment_ratio": 0.45,
             "application.amount": 80000, "ipc.debt_to_assets": 0.3, "business.cross_checks_failed": 0,
             "bureau.queries_6m": 2, "application.date": DAY}


def test_sync_is_idempotent_and_versions_are_published(bank):
    session, shared, _ = bank
    with SystemContext("test: again"):
        assert services.sync_standard(shared, DAY) == []
    versions = shared.query(StandardRuleSetVersion).filter_by(status="published").all()
    assert {v.code for v in versions} >= {"std-admission", "std-pre-approval", "std-approval"}


def test_decisions_are_stored_replayable_and_explained(bank, tenant_a):
    session, shared, people = bank
    with acting(people["dapprover"], tenant_a):
        ok = services.evaluate_stage(session, Stage.APPROVAL, APPLICANT, shared=shared)
        assert ok.outcome is Outcome.APPROVE and ok.reason_codes == ["R10"]
        risky = services.evaluate_stage(session, "approval", {**APPLICANT, "ipc.repayment_ratio": 0.75,
                                                              "bureau.queries_6m": 9}, shared=shared)
        assert risky.outcome is Outcome.DECLINE and risky.reason_codes == ["R01", "R04"]
        record = session.get(DecisionRecord, risky.record_id)
        assert record.facts["application.date"] == "2026-11-28" and record.outcome == "decline"
        assert [f["rule_id"] for f in record.fired] == ["APR-RATIO", "APR-QUERIES"]
        assert record.fired[0]["values"] == {"ipc.repayment_ratio": 0.75}
        again = services.replay(session, risky.record_id, shared=shared)
        assert (again.outcome, again.reason_codes) == (risky.outcome, risky.reason_codes)
        customer = services.explain_decision(session, risky.record_id, "zh", "customer", shared=shared)
        assert customer["reasons"][0] == {"code": "R01", "text": "申请金额超出还款能力"}
        staff = services.explain_decision(session, risky.record_id, "en", "staff", shared=shared)
        assert staff["reasons"][1]["text"] == "More than 6 bureau queries in 6 months" and staff["fired"]
        pre = services.evaluate_stage(session, Stage.PRE_APPROVAL, {"business.type": "trade",
                                      "ipc.repayment_ratio": 0.5, "bureau.score": 700, "history.loans_repaid": 0,
                                      "ipc.max_loan": 250000.0, "application.date": DAY}, shared=shared)
        assert pre.outputs == {"segment": "standard", "indicative_limit": 250000.0, "indicative_rate": 0.0925,
                               "indicative_term_months": 18}

        with pytest.raises(Exception, match="justification"):
            services.override_decision(session, risky.record_id, "approve", "ok")
        services.override_decision(session, risky.record_id, "refer", "Customer brought a new income proof")
        with pytest.raises(Conflict, match="already overridden"):
            services.override_decision(session, risky.record_id, "approve", "Changed my mind about this one")
        assert services.explain_decision(session, risky.record_id, shared=shared)["outcome"] == "refer"
    with acting(people["dmaker"], tenant_a), pytest.raises(AccessDenied, match="application.approve"):
        services.override_decision(session, ok.record_id, "decline", "Risk manager is not an approver")


def test_overlay_publication_by_maker_checker_and_effective_dates(bank, tenant_a):
    session, shared, people = bank
    overlay = {"tighten": {"APR-RATIO": {"ratio": "> 0.6"}}, "disable": ["APR-QUERIES"],
               "add_rules": [{"id": "LOCAL-SEASON", "when": "business.type == 'agriculture' and "
                              "application.term_months > 12", "action": "refer", "reason_code": "L01"}],
               "reasons": {"L01": {"customer_zh": "申请需人工审核", "customer_en": "Your application needs a manual "
                                   "review", "staff_zh": "农户期限超过12个月", "staff_en": "Farm loan over 12 months"}}}
    with acting(people["dmaker"], tenant_a):
        draft = services.save_overlay_draft(session, shared, "std-approval", overlay, DAY)
        request = services.propose_overlay_publication(session, draft.id)
        assert draft.status == "pending"
        with pytest.raises(SegregationOfDutiesViolation):
            changes.approve(session, request.id)
        # before publication the standard decides
        d = services.evaluate_stage(session, Stage.APPROVAL, {**APPLICANT, "ipc.repayment_ratio": 0.65}, shared=shared)
        assert d.outcome is Outcome.REFER and "R01" not in d.reason_codes
    with acting(people["dchecker"], tenant_a):
        changes.approve(session, request.id)
    assert draft.status == "published"
    with acting(people["dmaker"], tenant_a):
        d = services.evaluate_stage(session, Stage.APPROVAL, {**APPLICANT, "ipc.repayment_ratio": 0.65,
                                    "bureau.queries_6m": 9}, shared=shared)
        assert d.outcome is Outcome.DECLINE and d.reason_codes == ["R01"]  # tightened; APR-QUERIES disabled
        earlier = services.evaluate_stage(session, Stage.APPROVAL, {**APPLICANT, "ipc.repayment_ratio": 0.65,
                                          "application.date": DAY - dt.timedelta(days=1)}, shared=shared)
        assert "R01" not in earlier.reason_codes  # the overlay is effective from DAY only
        changes_listed = services.effective_diff(session, Stage.APPROVAL, DAY, shared=shared)
        assert {(c["change"], c["id"]) for c in changes_listed} == {
            ("tightened", "APR-RATIO"), ("disabled", "APR-QUERIES"), ("added", "LOCAL-SEASON")}
        with pytest.raises(Conflict, match="published versions never change"):
            services.update_overlay_draft(session, shared, draft.id, {})


def test_overlays_cannot_loosen_remove_or_touch_locked_rules(bank):
    _, shared, _ = bank
    standard = RuleSet.from_dict(shared.query(StandardRuleSetVersion).filter_by(code="std-approval")
                                 .order_by(StandardRuleSetVersion.version.desc()).first().content)
    with pytest.raises(OverlayError, match="not stricter"):
        apply_overlay(standard, {"tighten": {"APR-RATIO": {"ratio": "> 0.8"}}})
    with pytest.raises(OverlayError, match="not stricter"):
        apply_overlay(standard, {"tighten": {"APR-SMALL-STANDARD": {"amount": "<= 200000"}}})
    apply_overlay(standard, {"tighten": {"APR-SMALL-STANDARD": {"amount": "<= 50000"}}})
    with pytest.raises(OverlayError, match="did not mark it optional"):
        apply_overlay(standard, {"disable": ["APR-RATIO"]})
    with pytest.raises(OverlayError, match="locked"):
        apply_overlay(standard, {"tighten": {"APR-CROSSCHECK": {"xc": ">= 0"}}})
    with pytest.raises(OverlayError, match="already a standard rule"):
        apply_overlay(standard, {"add_rows": {"approval": [{"id": "APR-RATIO", "cells": {}, "outputs": {}}]}})
    with pytest.raises(Exception, match="unknown fact 'applicant.shoe_size'"):
        from creditfactory.decisions.engine import CompiledRuleSet
        CompiledRuleSet(apply_overlay(standard, {"add_rules": [{"id": "X", "when": "applicant.shoe_size > 44"}]}))


def test_building_the_effective_set_is_small(bank):
    """The cost is reported, not asserted (timing belongs to benchmarks); memory is bounded."""
    _, shared, _ = bank
    version = shared.query(StandardRuleSetVersion).filter_by(code="std-approval").first()
    tracemalloc.start()
    services.CACHE.entries.clear()
    started = time.perf_counter()
    services.CACHE.get(version, None)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 1024 * 1024
    print(f"effective approval set built in {elapsed * 1000:.1f} ms, peak {peak / 1024:.0f} KiB")


def test_api_lists_facts_and_rule_sets_in_force(app, tenant_a):
    from creditfactory.db import shared_session
    from creditfactory.identity.oauth import services as oauth_services

    with SystemContext("test: decisions api client"), shared_session() as s, s.begin():
        issued = oauth_services.create_client(s, "决策测试", "rulesets:read", context=Context.TENANT,
                                              tenant_slug=tenant_a.slug)
    import base64
    http = app.test_client()
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {basic}"}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    facts = http.get(f"/t/{tenant_a.slug}/api/v1/decisions/facts", headers=headers)
    assert facts.status_code == 200
    assert {"name": "ipc.repayment_ratio", "label_zh": "还款能力比率"}.items() <= next(
        f for f in facts.json if f["name"] == "ipc.repayment_ratio").items()
    in_force = http.get(f"/t/{tenant_a.slug}/api/v1/decisions/rulesets", headers=headers,
                        query_string={"on": "2026-11-28"})
    assert in_force.status_code == 200
    assert [entry["stage"] for entry in in_force.json] == ["admission", "pre_approval", "approval"]
    assert http.get(f"/t/{tenant_a.slug}/api/v1/decisions/facts").status_code == 401
