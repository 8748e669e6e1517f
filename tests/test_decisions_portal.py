"""The head office's standard rule-set pages through the test client: the grid round-trips a whole standard, a
refused cell is shown at its place, a saved edit becomes a new draft version that its author may not publish."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from creditfactory.db import SystemContext, shared_session
from creditfactory.decisions import services
from creditfactory.decisions.engine import RuleSet
from creditfactory.decisions.models import StandardRuleSetVersion
from test_identity_admin import HTML, logged_in, post, staff  # noqa: F401


@pytest.fixture
def approval_standard():
    """The published standard approval set (synced from the files); drafts the test makes are removed after it."""
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, dt.date(2026, 10, 29))
        version = shared.scalar(select(StandardRuleSetVersion)
                                .where(StandardRuleSetVersion.code == "std-approval",
                                       StandardRuleSetVersion.status == "published")
                                .order_by(StandardRuleSetVersion.version.desc()).limit(1))
        known = set(shared.scalars(select(StandardRuleSetVersion.id)))
    yield version
    with shared_session() as shared, shared.begin():
        shared.execute(delete(StandardRuleSetVersion).where(StandardRuleSetVersion.id.not_in(known)))


def grid_form(content: dict, **cells: str) -> dict[str, str]:
    """The fields the head office's grid posts for ``content``, with ``cells`` ("ROW.column": text) changed."""
    ruleset = RuleSet.from_dict(content)
    data = {}
    for ti, table in enumerate(ruleset.tables):
        data[f"n-{ti}-count"] = str(len(table.rows))
        for k, row in enumerate(table.rows):
            data[f"n-{ti}-{k}-id"] = row.id
            for ci, column in enumerate(table.inputs):
                data[f"n-{ti}-{k}-c-{ci}"] = cells.get(f"{row.id}.{column.id}", row.cells.get(column.id, ""))
            for oi, column in enumerate(table.outputs):
                text = row.outputs.get(column.id, "")
                data[f"n-{ti}-{k}-o-{oi}"] = text.strip("'") if column.id == "action" else text
            for flag in ("optional", "locked"):
                if getattr(row, flag):
                    data[f"n-{ti}-{k}-{flag}"] = "1"
            if row.description:
                data[f"n-{ti}-{k}-description"] = row.description
            if row.priority:
                data[f"n-{ti}-{k}-priority"] = str(row.priority)
    return data


def test_edit_a_standard_as_a_new_draft_published_by_someone_else(app, staff, approval_standard):  # noqa: F811
    author = logged_in(app, "", *staff("head_office_risk_owner"))
    page = f"/head-office/rules/{approval_standard.id}"
    shown = author.get(f"{page}?edit=1", headers=HTML)
    assert shown.status_code == 200 and 'name="n-0-0-id"' in shown.get_data(as_text=True)

    refused = post(author, f"{page}?edit=1", page, {
        **grid_form(approval_standard.content, **{"APR-LARGE.amount": "> 'many'"}), "op": "save",
        "effective_from": "2099-01-01"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'aria-label="Rule 5 · amount" aria-invalid="true"' in body and "position 1" in body

    saved = post(author, f"{page}?edit=1", page, {
        **grid_form(approval_standard.content, **{"APR-LARGE.amount": "> 250000"}), "op": "save",
        "effective_from": "2099-01-01"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with shared_session() as shared:
        draft = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == "std-approval")
                              .order_by(StandardRuleSetVersion.version.desc()).limit(1))
        assert (draft.status, draft.effective_from) == ("draft", dt.date(2099, 1, 1))
    # Everything else round-trips through the grid unchanged: outputs, optional and locked flags, other tables.
    expected = RuleSet.from_dict(approval_standard.content).as_dict()
    next(r for t in expected["tables"] for r in t["rows"] if r["id"] == "APR-LARGE")["cells"]["amount"] = "> 250000"
    assert draft.content == expected

    listing = "/head-office/rules"
    publish = f"Publish std-approval v{draft.version}"
    assert publish not in author.get(listing, headers=HTML).get_data(as_text=True)
    mine = post(author, f"/head-office/rules/{draft.id}?edit=1", f"/head-office/rules/{draft.id}/publication", {})
    assert mine.status_code == 302 and "error=" in mine.headers["Location"]
    checker = logged_in(app, "", *staff("head_office_risk_owner"))
    assert publish in checker.get(listing, headers=HTML).get_data(as_text=True)


def test_case_page_links_the_explanation_and_an_override_needs_a_justification(app, staff, tenant_factory):  # noqa: F811
    from applications_support import customer_and_product
    from creditfactory.audit import Actor, ActorKind, CurrentActor
    from creditfactory.db import tenant_session
    from creditfactory.decisions.engine import Stage
    from creditfactory.decisions.models import DecisionRecord
    from creditfactory.lending.applications.models import LoanApplication

    bank = tenant_factory(name_en="Decision Pages Bank")
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, dt.date(2026, 10, 29))
    with tenant_session(bank) as db, db.begin(), CurrentActor.bind(Actor(id="test:portal", kind=ActorKind.SYSTEM)):
        customer_id, product_id = customer_and_product(db)
        application = LoanApplication(reference=f"DP-{bank.slug}", customer_id=customer_id, product_id=product_id,
                                      amount=80000, term_months=12, channel="branch", state="IN_REVIEW")
        db.add(application)
        db.flush()
        facts = {"ipc.repayment_ratio": 0.75, "application.amount": 80000, "ipc.debt_to_assets": 0.3,
                 "business.cross_checks_failed": 0, "bureau.queries_6m": 2, "application.is_renewal": False}
        record_id = services.evaluate_stage(db, Stage.APPROVAL, facts, on=dt.date.today(),
                                            application_id=application.id).record_id
        application_id = application.id
    prefix = f"/t/{bank.slug}"
    decision = f"{prefix}/rules/decisions/{record_id}"

    approver = logged_in(app, prefix, *staff("approver", bank))
    case = approver.get(f"{prefix}/applications/{application_id}", headers=HTML).get_data(as_text=True)
    assert f'href="{decision}"' in case
    short = post(approver, decision, f"{decision}/override", {"outcome": "approve", "justification": "ok"})
    assert short.status_code == 422 and "at least 10 characters" in short.get_data(as_text=True)
    unknown = post(approver, decision, f"{decision}/override", {"outcome": "maybe", "justification": "x" * 20})
    assert unknown.status_code == 422
    with tenant_session(bank) as db:
        assert db.get(DecisionRecord, record_id).override_outcome is None

    # A risk manager reads the explanation but may not override (application.approve).
    risk = logged_in(app, prefix, *staff("risk_manager", bank))
    page = risk.get(decision, headers=HTML).get_data(as_text=True)
    assert "R01" in page and 'id="justification"' not in page
    refused = post(risk, f"{prefix}/rules", f"{decision}/override", {"outcome": "approve", "justification": "x" * 20})
    assert refused.status_code == 403
