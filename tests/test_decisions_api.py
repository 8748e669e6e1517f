"""Decisions API write paths: overlay drafts, validation with positions, diff, maker-checker publication through
/api/v1/changes, head-office standard drafts (the author may not publish), explanations and human overrides."""

from __future__ import annotations

import datetime as dt

import pytest

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import CurrentTenant, SystemContext, shared_session, tenant_session
from creditfactory.decisions import services
from creditfactory.decisions.engine import Stage
from creditfactory.identity.permissions import Context

from test_products_api import bearer, machine_token, person_token

DAY = dt.date(2026, 11, 28)
APPLICANT = {"applicant.age": 40, "applicant.on_blacklist": False, "applicant.id_verified": True,
             "bureau.has_bad_debt": False, "business.years_in_business": 4, "history.is_employee": False,
             "bureau.max_overdue_days": 0, "bureau.overdue_count_24m": 0, "ipc.repayment_ratio": 0.75,
             "application.amount": 80000, "ipc.debt_to_assets": 0.3, "business.cross_checks_failed": 0,
             "bureau.queries_6m": 9, "application.date": DAY}


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(name_en="Decisions API Bank")
    # The head-office files as published versions (committed: the API reads them on its own connections). The
    # same date as tests/test_decisions_persistence.py, whose sync then finds nothing new.
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, DAY - dt.timedelta(days=30))
    return tenant


def test_overlay_draft_validate_diff_and_publication_by_a_second_person(app, bank, make_user):
    http = app.test_client()
    prefix = f"/t/{bank.slug}/api/v1"
    maker = bearer(person_token(app, bank, make_user("risk_manager", bank), "rulesets:read config:write"))
    checker = bearer(person_token(app, bank, make_user("risk_manager", bank), "config:approve"))

    bad = {"add_rules": [{"id": "LOCAL-X", "when": "applicant.age > 18 and channel.code > 5", "action": "refer",
                          "reason_code": "R01"}]}
    checked = http.post(f"{prefix}/decisions/overlays/validation", headers=maker,
                        json={"code": "std-approval", "overlay": bad})
    assert checked.status_code == 200, checked.json
    assert checked.json["valid"] is False
    assert checked.json["errors"][0]["position"] == 37  # 'channel.code > 5': a string compared with a number
    assert "cannot compare" in checked.json["errors"][0]["message"]
    refused = http.post(f"{prefix}/decisions/overlays", headers=maker,
                        json={"code": "std-approval", "overlay": bad, "effective_from": DAY.isoformat()})
    assert refused.status_code == 422 and "position 37" in refused.json["detail"]
    loosening = {"tighten": {"APR-RATIO": {"ratio": "> 0.8"}}}
    assert http.post(f"{prefix}/decisions/overlays/validation", headers=maker, json={
        "code": "std-approval", "overlay": loosening}).json["errors"][0]["message"].count("not stricter") == 1

    created = http.post(f"{prefix}/decisions/overlays", headers=maker, json={
        "code": "std-approval", "overlay": {"tighten": {"APR-RATIO": {"ratio": "> 0.7"}}},
        "effective_from": DAY.isoformat()})
    assert created.status_code == 201, created.json
    version_id = created.json["id"]
    assert created.json["status"] == "draft" and created.json["stage"] == "approval"
    updated = http.put(f"{prefix}/decisions/overlays/{version_id}", headers=maker,
                       json={"overlay": {"tighten": {"APR-RATIO": {"ratio": "> 0.6"}}, "disable": ["APR-QUERIES"]}})
    assert updated.status_code == 200, updated.json
    diff = http.get(f"{prefix}/decisions/overlays/{version_id}/diff", headers=maker).json
    assert diff["standard"]["code"] == "std-approval"
    assert {(d["change"], d["id"], d.get("after")) for d in diff["differences"]} == {
        ("tightened", "APR-RATIO", "> 0.6"), ("disabled", "APR-QUERIES", None)}

    proposed = http.post(f"{prefix}/decisions/overlays/{version_id}/publication", headers=maker)
    assert proposed.status_code == 201, proposed.json
    assert proposed.json["kind"] == "decisions.overlay.publish" and proposed.json["status"] == "pending"
    assert http.get(f"{prefix}/decisions/overlays/{version_id}", headers=maker).json["status"] == "pending"
    # A machine client may read but never be the maker: a change records a person.
    machine = bearer(machine_token(app, "config:write", tenant_slug=bank.slug))
    assert http.put(f"{prefix}/decisions/overlays/{version_id}", headers=machine,
                    json={"overlay": {}}).status_code == 409  # pending: not a draft any more
    approved = http.post(f"{prefix}/changes/{proposed.json['id']}/approve", headers=checker)
    assert approved.status_code == 200, approved.json
    published = http.get(f"{prefix}/decisions/overlays/{version_id}", headers=maker).json
    assert published["status"] == "published" and published["change_request_id"] == proposed.json["id"]
    in_force = http.get(f"{prefix}/decisions/rulesets", headers=maker, query_string={"on": DAY.isoformat()}).json
    assert next(e for e in in_force if e["stage"] == "approval")["overlay"]["id"] == version_id


def test_explanation_in_both_languages_and_override_by_a_person(app, bank, make_user):
    with CurrentTenant.bind(bank), CurrentActor.bind(Actor("test:decisions-api", ActorKind.SYSTEM)), \
            SystemContext("test: a decision"), tenant_session(bank) as session, session.begin():
        record_id = services.evaluate_stage(session, Stage.ADMISSION, {**APPLICANT, "applicant.age": 16}).record_id
    http = app.test_client()
    prefix = f"/t/{bank.slug}/api/v1/decisions/records/{record_id}"
    reader = bearer(machine_token(app, "rulesets:read", tenant_slug=bank.slug))
    stored = http.get(prefix, headers=reader)
    assert stored.status_code == 200 and stored.json["stage"] == "admission"
    zh = http.get(f"{prefix}/explanation", headers=reader, query_string={"locale": "zh"}).json
    en = http.get(f"{prefix}/explanation", headers=reader, query_string={"locale": "en"}).json
    assert zh["outcome"] == "decline" and [r["code"] for r in zh["reasons"]] == [r["code"] for r in en["reasons"]]
    assert zh["reasons"][0]["text"] != en["reasons"][0]["text"] and "fired" not in zh
    staff = http.get(f"{prefix}/explanation", headers=reader, query_string={"audience": "staff", "locale": "en"})
    assert staff.json["fired"][0]["values"]
    approver = bearer(person_token(app, bank, make_user("approver", bank), "applications:decide"))
    short = http.post(f"{prefix}/override", headers=approver, json={"outcome": "refer", "justification": "no"})
    assert short.status_code == 422
    done = http.post(f"{prefix}/override", headers=approver,
                     json={"outcome": "refer", "justification": "age verified from the household register"})
    assert done.status_code == 200, done.json
    assert done.json["override_outcome"] == "refer" and done.json["overridden_by"]
    again = http.post(f"{prefix}/override", headers=approver,
                      json={"outcome": "approve", "justification": "a second try at overriding"})
    assert again.status_code == 409
    assert http.get(f"{prefix}/explanation", headers=reader).json["outcome"] == "refer"


def test_head_office_standard_draft_published_by_another(app):
    http = app.test_client()
    ruleset = {"code": "api-standard", "stage": "approval", "tables": [], "rules": [
        {"id": "API-R", "when": "application.amount > 'x'", "action": "refer", "reason_code": "AX"}],
        "reasons": {"AX": {"code": "AX", "customer_zh": "人工审核", "customer_en": "Manual review",
                           "staff_zh": "测试", "staff_en": "Test"}}}
    author = bearer(machine_token(app, "ruleset-templates:write", context=Context.HEAD_OFFICE))
    refused = http.post("/api/v1/ruleset-templates", headers=author,
                        json={"ruleset": ruleset, "effective_from": "2999-01-01"})
    assert refused.status_code == 422 and "position" in refused.json["detail"]
    ruleset["rules"][0]["when"] = "application.amount > 1"
    draft = http.post("/api/v1/ruleset-templates", headers=author, json={"ruleset": ruleset,
                                                                         "effective_from": "2999-01-01"})
    assert draft.status_code == 201 and draft.json["status"] == "draft"
    own = http.post(f"/api/v1/ruleset-templates/{draft.json['id']}/publication", headers=author)
    assert own.status_code == 409 and "author" in own.json["detail"]
    other = bearer(machine_token(app, "ruleset-templates:write", context=Context.HEAD_OFFICE))
    published = http.post(f"/api/v1/ruleset-templates/{draft.json['id']}/publication", headers=other)
    assert published.status_code == 200 and published.json["status"] == "published"
    listed = http.get("/api/v1/ruleset-templates", headers=other).json
    assert any(v["id"] == draft.json["id"] for v in listed)


def test_publication_approved_on_the_approvals_page(app, bank, make_user):
    import re

    from test_products_api import HTML, log_in_person

    http = app.test_client()
    prefix = f"/t/{bank.slug}"
    maker = bearer(person_token(app, bank, make_user("risk_manager", bank), "rulesets:read config:write"))
    draft = http.post(f"{prefix}/api/v1/decisions/overlays", headers=maker, json={
        "code": "std-admission", "overlay": {}, "effective_from": "2999-01-01"}).json
    change = http.post(f"{prefix}/api/v1/decisions/overlays/{draft['id']}/publication", headers=maker).json
    checker = app.test_client()
    log_in_person(checker, bank, make_user("risk_manager", bank))
    page = checker.get(f"{prefix}/admin/approvals", headers=HTML).get_data(as_text=True)
    assert "decisions.overlay.publish" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    done = checker.post(f"{prefix}/admin/approvals/{change['id']}", headers=HTML,
                        data={"decision": "approve", "csrf_token": csrf})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert http.get(f"{prefix}/api/v1/decisions/overlays/{draft['id']}", headers=maker).json["status"] == "published"
