"""The risk-rule pages in headless Chromium on a phone, in Chinese and English, under the production CSP: a risk
manager tightens a threshold in the decision-table grid (a loosening is refused at its cell), simulates the draft
against stored decisions, proposes it; a second risk manager approves it and the new overlay is in force. An
approver reads a decision's explanation and overrides it with a justification."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

import dramatiq

from applications_support import customer_and_product
from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.decisions import services
from creditfactory.decisions.engine import Stage
from creditfactory.decisions.models import DecisionRecord, RuleSetOverlayVersion, StandardRuleSetVersion
from creditfactory.jobs import make_broker, use_broker
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.testing.staff import STAFF_PASSWORD
from test_applications_browser import log_in, phone_page
from test_identity_admin import staff  # noqa: F401 - users with an enrolled second factor (head office)
from test_portal_browser import base_url, browser, fits_on_a_phone, no_csp_violations, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

TODAY = dt.date.today()
#: Facts of an approval-stage applicant the standard refers (ratio 0.5-0.7: neither declined nor auto-approved).
APPLICANT = {"ipc.repayment_ratio": 0.45, "application.amount": 80000, "ipc.debt_to_assets": 0.3,
             "business.cross_checks_failed": 0, "bureau.queries_6m": 2, "application.is_renewal": False,
             "application.date": TODAY}
#: Repayment-capacity ratios of the stored decisions: the standard refers 0.58 and 0.65 and declines above 0.7;
#: the zh walk tightens APR-RATIO to > 0.6 (0.65 declined), the en walk to > 0.55 (0.58 and 0.65 declined).
RATIOS = (0.3, 0.45, 0.58, 0.65, 0.75, 0.8)
#: Per language: the visible texts the walk clicks and checks, and the threshold it sets.
TEXT = {
    "zh": {"create": "新建草稿", "validate": "校验", "save": "保存草稿", "simulate": "模拟", "propose": "提议发布",
           "approve": "批准并发布", "published": "已发布", "pending": "待复核", "override": "改判",
           "threshold": "> 0.6", "swapped": 0.65, "changed": "1", "overridden": 0.75,
           "justification": "客户提供了新的银行流水，还款能力已复核"},
    "en": {"create": "Create draft", "validate": "Validate", "save": "Save draft", "simulate": "Simulate",
           "propose": "Propose publication", "approve": "Approve and publish", "published": "Published",
           "pending": "Awaiting approval", "override": "Override", "threshold": "> 0.55",
           "swapped": 0.58, "changed": "2", "overridden": 0.8,
           "justification": "New bank statements show the income covers the instalment"},
}


@pytest.fixture
def bank(tenant_factory):
    """A bank of its own per walk: each starts from the standard rules alone."""
    tenant = tenant_factory(name_zh="湖北咸宁嘉鱼吴江村镇银行", name_en="Hubei Xianning Jiayu Wujiang Village Bank")
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, dt.date(2026, 10, 29))
    # Stored approval decisions of applications in review: what a simulation replays.
    with tenant_session(tenant) as db, db.begin(), \
            CurrentActor.bind(Actor(id="test:decisions-browser", kind=ActorKind.SYSTEM)):
        customer_id, product_id = customer_and_product(db)
        for i, ratio in enumerate(RATIOS):
            application = LoanApplication(reference=f"DT-{tenant.slug}-{i}", customer_id=customer_id,
                                          product_id=product_id, amount=80000, term_months=12, channel="branch",
                                          state="IN_REVIEW")
            db.add(application)
            db.flush()
            services.evaluate_stage(db, Stage.APPROVAL, APPLICANT | {"ipc.repayment_ratio": ratio}, on=TODAY,
                                    application_id=application.id)
    return tenant


@pytest.fixture(scope="module")
def worker(cf_settings):
    """The PostgreSQL job broker with a worker thread, for builds whose simulations run as jobs."""
    broker = make_broker(cf_settings.database_url)
    running = None
    try:
        with use_broker(broker):
            running = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
            running.start()
            yield broker
    finally:
        if running is not None:
            running.stop(timeout=10_000)
        broker.close()


def _record_of(bank, ratio: float) -> int:
    with tenant_session(bank) as db:
        records = db.scalars(select(DecisionRecord).where(DecisionRecord.stage == "approval")
                             .order_by(DecisionRecord.id)).all()
        return next(r.id for r in records if r.facts["ipc.repayment_ratio"] == ratio)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_tighten_simulate_propose_approve_and_override(browser, base_url, bank, worker, make_user,  # noqa: F811
                                                       language):
    t = TEXT[language]
    rules = f"{base_url}/t/{bank.slug}/rules"
    maker_name, checker_name = make_user("risk_manager", bank), make_user("risk_manager", bank)

    maker = phone_page(browser)
    log_in(maker, base_url, bank, maker_name, language)
    maker.goto(rules)
    maker.select_option("#code", "std-approval")
    maker.get_by_role("button", name=t["create"]).click()
    assert "/rules/overlays/" in maker.url
    version_id = int(maker.url.rstrip("/").rsplit("/", 1)[1])

    # A loosening of a decline rule is refused at its cell, with nothing saved.
    cell = maker.get_by_label("APR-RATIO · ratio", exact=True)
    cell.fill("> 0.8")
    maker.get_by_role("button", name=t["validate"], exact=True).click()
    refused = maker.locator("tr[data-row='APR-RATIO'] td.invalid .cell-error")
    assert "not stricter" in refused.inner_text()
    assert maker.get_by_label("APR-RATIO · ratio", exact=True).get_attribute("aria-invalid") == "true"
    fits_on_a_phone(maker)
    screenshot(maker, f"decisions-grid-refused-{language}")

    maker.get_by_label("APR-RATIO · ratio", exact=True).fill(t["threshold"])
    maker.get_by_role("button", name=t["save"], exact=True).click()
    assert maker.locator("tr[data-row='APR-RATIO'] td.changed input").input_value() == t["threshold"]
    assert maker.locator(".diff-list li[data-change='tightened']").count() == 1

    maker.get_by_role("button", name=t["simulate"], exact=True).click()
    # A simulation job's page refreshes itself until the run is done; a synchronous back-test is done at once.
    result = maker.wait_for_selector(".simulation-result[data-status='done']", timeout=120_000)
    assert f"{len(RATIOS)}" in result.inner_text()
    assert result.get_attribute("data-changed") == t["changed"]  # refer -> decline above the new threshold
    fits_on_a_phone(maker)
    screenshot(maker, f"decisions-simulation-{language}")

    maker.get_by_role("button", name=t["propose"], exact=True).click()
    assert maker.locator("#version-status").inner_text() == t["pending"]
    assert maker.get_by_role("button", name=t["approve"]).count() == 0  # never one's own
    no_csp_violations(maker)

    checker = phone_page(browser)
    log_in(checker, base_url, bank, checker_name, language)
    checker.goto(f"{rules}/overlays/{version_id}")
    checker.get_by_role("button", name=t["approve"], exact=True).click()
    assert checker.locator("#version-status").inner_text() == t["published"]
    checker.goto(rules)
    assert checker.locator("tr[data-stage='approval'] .overlay-in-force a").get_attribute("href").endswith(
        f"/rules/overlays/{version_id}")
    fits_on_a_phone(checker)
    no_csp_violations(checker)
    with tenant_session(bank) as db:
        assert db.get(RuleSetOverlayVersion, version_id).status == "published"
        compiled, _, overlay, _ = services.effective_rule_set(db, Stage.APPROVAL, TODAY)
    assert overlay.id == version_id
    assert compiled.evaluate(APPLICANT | {"ipc.repayment_ratio": t["swapped"]}).outcome.value == "decline"

    # The reviewer's side: a stored decision explained in both languages, then overridden with a justification.
    approver = phone_page(browser)
    log_in(approver, base_url, bank, make_user("approver", bank), language)
    record_id = _record_of(bank, t["overridden"])
    approver.goto(f"{base_url}/t/{bank.slug}/rules/decisions/{record_id}")
    reasons = approver.locator("table.reasons").inner_text()
    assert "R01" in reasons and "还款能力比率超过70%" in reasons and "Repayment-capacity ratio above 70%" in reasons
    assert "APR-RATIO" in approver.locator("ul.fired").inner_text()
    approver.select_option("#outcome-choice", "refer")
    approver.fill("#justification", t["justification"])
    approver.get_by_role("button", name=t["override"], exact=True).click()
    assert approver.locator(".justification").inner_text() == t["justification"]
    fits_on_a_phone(approver)
    screenshot(approver, f"decisions-override-{language}")
    no_csp_violations(approver)
    with tenant_session(bank) as db:
        record = db.get(DecisionRecord, record_id)
        assert (record.override_outcome, record.override_justification) == ("refer", t["justification"])


def test_add_a_rule_refused_at_its_cell_disable_an_optional_one_then_remove_it(browser, base_url, bank,  # noqa: F811
                                                                               make_user):
    rules = f"{base_url}/t/{bank.slug}/rules"
    maker = phone_page(browser)
    log_in(maker, base_url, bank, make_user("risk_manager", bank), "en")
    maker.goto(rules)
    maker.select_option("#code", "std-approval")
    maker.get_by_role("button", name="Create draft").click()
    # Only optional rows can be disabled; locked rows have no editable cell.
    assert maker.get_by_label("Disable APR-QUERIES", exact=True).count() == 1
    assert maker.get_by_label("Disable APR-RATIO", exact=True).count() == 0
    assert maker.locator("tr[data-row='APR-CROSSCHECK'] input").count() == 0

    maker.get_by_role("button", name="Add a rule to approval").click()
    maker.get_by_label("Rule id 1", exact=True).fill("LOCAL-AMOUNT")
    maker.get_by_label("new rule 1 · amount", exact=True).fill(">= 'x'")  # a string against a number
    maker.select_option("select[aria-label='new rule 1 · action']", "refer")
    maker.get_by_label("new rule 1 · reason", exact=True).fill("'R05'")
    maker.get_by_label("Disable APR-QUERIES", exact=True).check()
    maker.get_by_role("button", name="Save draft", exact=True).click()
    error = maker.locator("tr[data-row='LOCAL-AMOUNT'] td.invalid .cell-error")
    assert "position" in error.inner_text()
    # Nothing was saved, and the page kept every edit.
    assert maker.get_by_label("Disable APR-QUERIES", exact=True).is_checked()
    fits_on_a_phone(maker)

    maker.get_by_label("new rule 1 · amount", exact=True).fill("> 200000")
    maker.get_by_role("button", name="Save draft", exact=True).click()
    assert {maker.locator(".diff-list li").nth(i).get_attribute("data-change")
            for i in range(maker.locator(".diff-list li").count())} == {"added", "disabled"}
    version_id = int(maker.url.split("?")[0].rsplit("/", 1)[1])
    with tenant_session(bank) as db:
        content = db.get(RuleSetOverlayVersion, version_id).content
    assert content == {"add_rows": {"approval": [{"id": "LOCAL-AMOUNT", "cells": {"amount": "> 200000"},
                                                  "outputs": {"action": "'refer'", "reason": "'R05'"}}]},
                       "disable": ["APR-QUERIES"]}

    maker.get_by_role("button", name="Remove").click()
    assert maker.locator("tr[data-row='LOCAL-AMOUNT']").count() == 0
    maker.get_by_role("button", name="Save draft", exact=True).click()
    with tenant_session(bank) as db:
        assert db.get(RuleSetOverlayVersion, version_id).content == {"disable": ["APR-QUERIES"]}
    screenshot(maker, "decisions-grid-edited-en")
    no_csp_violations(maker)


def test_head_office_edits_a_standard_in_the_grid_on_a_phone(browser, base_url, staff):  # noqa: F811
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, dt.date(2026, 10, 29))
        known = set(shared.scalars(select(StandardRuleSetVersion.id)))
        published = shared.scalar(select(StandardRuleSetVersion.id)
                                  .where(StandardRuleSetVersion.code == "std-approval",
                                         StandardRuleSetVersion.status == "published")
                                  .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    username, authenticator = staff("head_office_risk_owner")
    page = phone_page(browser)
    try:
        page.goto(f"{base_url}/lang/en?next=/login")
        page.fill("#username", username)
        page.fill("#password", STAFF_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base_url}/login/totp")
        page.locator("#code").fill(authenticator.now())
        page.get_by_role("button", name="Continue").click()
        page.goto(f"{base_url}/head-office/rules/{published}")
        page.get_by_role("link", name="Edit as a new draft").click()
        page.get_by_label("Rule 5 · amount", exact=True).fill("> 250000")
        page.fill("#effective_from", "2099-01-01")
        page.get_by_role("button", name="Validate", exact=True).click()
        assert page.locator(".diff-list li[data-change='changed']").count() == 1
        fits_on_a_phone(page)
        screenshot(page, "decisions-standard-grid-en")
        page.get_by_role("button", name="Save as a new draft", exact=True).click()
        assert page.locator("#version-status").inner_text() == "Draft"
        no_csp_violations(page)
    finally:
        with shared_session() as shared, shared.begin():
            shared.execute(delete(StandardRuleSetVersion).where(StandardRuleSetVersion.id.not_in(known)))
