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
