"""The rest of the loan life cycle through the API: restructuring (new schedule version, old kept), payoff,
classification review (COB's downgrade confirmed, an upgrade requested and approved by a second person), waivers
and write-offs as change requests a second person approves, litigation; bad input changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from creditfactory.db import SystemContext, tenant_session
from creditfactory.lending.cob import services as cob

from servicing_helpers import open_standard
from test_products_api import bearer, machine_token, person_token

D = Decimal


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(business_date="2026-01-01")
    with SystemContext("test"), tenant_session(tenant) as s, s.begin():
        open_standard(s, "LC-RESTRUCTURE")
        open_standard(s, "LC-REVIEW")
        open_standard(s, "LC-WRITE-OFF")
    return tenant


def test_restructure_keeps_the_old_schedule_and_a_payoff_settles(app, bank):
    http = app.test_client()
    write = bearer(machine_token(app, "loans:read loans:write", tenant_slug=bank.slug))
    base = f"/t/{bank.slug}/api/v1/loans/LC-RESTRUCTURE"
    both = http.post(f"{base}/restructuring", headers=write,
                     json={"months": 6, "installments": [], "reason": "drought"})
    assert both.status_code == 422
    short = http.post(f"{base}/restructuring", headers=write, json={"reason": "drought", "installments": [
        {"due_date": "2026-03-01", "principal": "100.00", "interest": "0.00"}]})
    assert short.status_code == 422 and short.content_type.startswith("application/problem+json")
    assert http.get(base, headers=write).json["schedule_version"] == 1  # refused input changed nothing
    done = http.post(f"{base}/restructuring", headers=write,
                     json={"months": 6, "method": "equal_principal", "reason": "drought: longer term"})
    assert done.status_code == 200, done.json
    assert (done.json["state"], done.json["schedule_version"]) == ("restructured", 2)
    assert done.json["observation_until"] == "2027-01-01"
    schedule = http.get(f"{base}/schedule", headers=write).json
    assert [r["status"] for r in schedule if r["version"] == 1] == ["superseded"] * 3
    new = [r for r in schedule if r["version"] == 2]
    assert len(new) == 6 and sum(D(r["principal_due"]) for r in new) == D("12000.00")
    assert new[0]["due_date"] == "2026-02-01" and new[0]["principal_due"] == "2000.00"

    quote = http.get(f"{base}/payoff-quote", headers=write).json
    paid = http.post(f"{base}/repayments", json={"amount": quote["total"], "payoff": True},
                     headers={**write, "Idempotency-Key": "lc-payoff"})
    assert paid.status_code == 200 and paid.json["kind"] == "payoff"
    assert http.get(base, headers=write).json["state"] == "settled"
    again = http.post(f"{base}/restructuring", headers=write, json={"months": 3, "reason": "again"})
    assert again.status_code == 409


def _arrears(http, base, headers) -> Decimal:
    """What clears today's arrears: penalty, then the overdue instalments' interest and principal."""
    loan = http.get(base, headers=headers).json
    rows = [r for r in http.get(f"{base}/schedule", headers=headers).json
            if r["version"] == loan["schedule_version"] and r["status"] == "overdue"]
    return D(loan["penalty_receivable"]) + sum(
        (D(r["principal_due"]) - D(r["principal_paid"]) + D(r["interest_accrued"]) - D(r["interest_paid"])
         for r in rows), D("0.00"))


def test_review_waive_upgrade_litigate_and_write_off(app, bank, make_user):
    http = app.test_client()
    write = bearer(machine_token(app, "loans:read loans:write", tenant_slug=bank.slug))
    read = bearer(machine_token(app, "loans:read", tenant_slug=bank.slug))
    checker = bearer(person_token(app, bank, make_user("risk_manager", bank), "config:approve"))
    # Waivers and write-offs are change requests: a person proposes them (through an app), a machine may not.
    maker = bearer(person_token(app, bank, make_user("operations", bank), "loans:read loans:write"))
    prefix = f"/t/{bank.slug}/api/v1"
    review, write_off = f"{prefix}/loans/LC-REVIEW", f"{prefix}/loans/LC-WRITE-OFF"
    for _ in range(33):  # to 2026-02-03: instalment 1 (due 01-31) is overdue
        cob.close_day(bank)

    # Classification review: COB proposed a downgrade; servicing staff confirm it.
    queue = http.get(f"{prefix}/loans/classification-reviews", headers=read).json
    event = next(e for e in queue if e["loan_reference"] == "LC-REVIEW")
    assert (event["direction"], event["trigger"], event["to_class"]) == ("downgrade", "dpd", "special_mention")
    assert http.post(f"{prefix}/loans/classification-reviews/{event['id']}/confirmation",
                     headers=read).status_code == 403
    confirmed = http.post(f"{prefix}/loans/classification-reviews/{event['id']}/confirmation", headers=write)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "confirmed"
    assert http.post(f"{prefix}/loans/classification-reviews/{event['id']}/confirmation",
                     headers=write).status_code == 409
    assert http.get(review, headers=read).json["risk_class"] == "special_mention"
    assert all(e["loan_reference"] != "LC-REVIEW" for e in
               http.get(f"{prefix}/loans/classification-reviews", headers=read).json)

    # A waiver is a change request: nothing moves until a second person approves it.
    penalty = D(http.get(review, headers=read).json["penalty_receivable"])
    assert penalty > 0
    machine = http.post(f"{review}/waivers", headers=write, json={"penalty": str(penalty), "reason": "hail"})
    assert machine.status_code == 403
    too_much = http.post(f"{review}/waivers", headers=maker, json={"penalty": str(penalty + 1), "reason": "hail"})
    # Checked against the balance when applied (it may have changed meanwhile): the approval is refused.
    assert too_much.status_code == 202, too_much.json
    assert http.post(f"{prefix}/changes/{too_much.json['id']}/approve", headers=checker).status_code == 422
    assert http.post(f"{prefix}/changes/{too_much.json['id']}/reject", headers=checker,
                     json={"reason": "more than is owed"}).status_code == 200
    empty = http.post(f"{review}/waivers", headers=maker, json={"reason": "hail"})
    assert empty.status_code == 422
    waiver = http.post(f"{review}/waivers", headers=maker, json={"penalty": str(penalty), "reason": "hail damage"})
    assert waiver.status_code == 202 and waiver.json["kind"] == "loan.waiver"
    assert [c["id"] for c in http.get(f"{review}/changes", headers=read).json] == [waiver.json["id"]]
    assert D(http.get(review, headers=read).json["penalty_receivable"]) == penalty
    approved = http.post(f"{prefix}/changes/{waiver.json['id']}/approve", headers=checker)
    assert approved.status_code == 200, approved.json
    assert http.get(review, headers=read).json["penalty_receivable"] == "0.00"
    assert http.get(f"{review}/changes", headers=read).json == []
    assert http.get(f"{review}/transactions?limit=1", headers=read).json[0]["kind"] == "waiver"

    # An upgrade: requested with evidence, approved by a second person only when the rules allow it.
    bad_class = http.post(f"{review}/upgrade-requests", headers=write, json={"to_class": "doubtful", "reason": "x"})
    assert bad_class.status_code == 422
    upgrade = http.post(f"{review}/upgrade-requests", headers=write,
                        json={"to_class": "normal", "reason": "harvest sold", "evidence": {"receipt": "R-17"}})
    assert upgrade.status_code == 201 and upgrade.json["direction"] == "upgrade"
    upgrade_id = upgrade.json["id"]
    assert http.post(f"{prefix}/loans/classification-reviews/{upgrade_id}/confirmation",
                     headers=write).status_code == 404  # upgrades are approved, not confirmed
    early = http.post(f"{prefix}/loans/classification-reviews/{upgrade_id}/approval", headers=checker)
    assert early.status_code == 409  # still overdue: the DPD rule requires special mention
    repaid = http.post(f"{review}/repayments", json={"amount": str(_arrears(http, review, read))},
                       headers={**write, "Idempotency-Key": "lc-arrears"})
    assert repaid.status_code == 200, repaid.json
    assert http.get(review, headers=read).json["dpd"] == 0
    approval = http.post(f"{prefix}/loans/classification-reviews/{upgrade_id}/approval", headers=checker)
    assert approval.status_code == 200 and approval.json["status"] == "confirmed"
    assert http.get(review, headers=read).json["risk_class"] == "normal"
    history = http.get(f"{review}/classification", headers=read).json
    assert [(e["direction"], e["status"]) for e in history][:2] == [("upgrade", "confirmed"),
                                                                     ("downgrade", "confirmed")]

    # A proposal can be rejected, with a reason; the loan keeps its class.
    other = next(e for e in http.get(f"{prefix}/loans/classification-reviews", headers=read).json
                 if e["loan_reference"] == "LC-WRITE-OFF")
    reject = f"{prefix}/loans/classification-reviews/{other['id']}/rejection"
    assert http.post(reject, headers=write, json={"reason": " "}).status_code == 422
    rejected = http.post(reject, headers=write, json={"reason": "collateral covers the loan"})
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert http.get(write_off, headers=read).json["risk_class"] == "normal"

    # Litigation and write-off follow the state machine: a loan in good standing takes neither.
    assert http.post(f"{review}/litigation", headers=write, json={"reason": "x"}).status_code == 409
    assert http.post(f"{review}/write-off", headers=maker, json={"reason": "x"}).status_code == 409
    litigated = http.post(f"{write_off}/litigation", headers=write, json={"reason": "filed at the county court"})
    assert litigated.status_code == 200 and litigated.json["state"] == "in_litigation"
    assert http.post(f"{write_off}/write-off", headers=maker, json={"reason": ""}).status_code == 422
    asked = http.post(f"{write_off}/write-off", headers=maker, json={"reason": "court found no assets"})
    assert asked.status_code == 202 and asked.json["kind"] == "loan.write_off"
    twice = http.post(f"{write_off}/write-off", headers=maker, json={"reason": "court found no assets"})
    assert twice.status_code == 422  # one request per loan waits at a time
    assert http.get(write_off, headers=read).json["state"] == "in_litigation"
    done = http.post(f"{prefix}/changes/{asked.json['id']}/approve", headers=checker)
    assert done.status_code == 200, done.json
    loan = http.get(write_off, headers=read).json
    assert loan["state"] == "written_off"
    assert http.post(f"{write_off}/repayments", json={"amount": "1.00"},
                     headers={**write, "Idempotency-Key": "lc-after-write-off"}).status_code == 409
    postings = http.get(f"{write_off}/postings?limit=20", headers=read).json
    assert any(p["kind"] == "write_off" for p in postings)
    with SystemContext("test: books"), tenant_session(bank) as s, s.begin():
        from creditfactory.lending.ledger import services as ledger

        assert ledger.problems(s) == []
