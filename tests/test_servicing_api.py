"""The loan servicing API end to end with a real client-credentials token."""

from __future__ import annotations

import datetime as dt

import pytest

from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context

from servicing_helpers import open_standard


@pytest.fixture(scope="module")
def bank(tenant_factory):
    tenant = tenant_factory(business_date="2026-01-01")
    with SystemContext("test"), tenant_session(tenant) as s, s.begin():
        open_standard(s, "API-1")
    return tenant


def token(client, tenant, scopes):
    with SystemContext("test: api"), shared_session() as session, session.begin():
        issued = oauth_services.create_client(session, "贷后测试", scopes, context=Context.TENANT,
                                              tenant_slug=tenant.slug)
    import base64

    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_repay_read_and_reverse_through_the_api(client, bank):
    write = token(client, bank, "loans:read loans:write")
    base = f"/t/{bank.slug}/api/v1/loans/API-1"
    loan = client.get(base, headers=write).get_json()
    assert loan["principal_outstanding"] == "12000.00" and loan["state"] == "active"
    headers = {**write, "Idempotency-Key": "api-pay-1"}
    first = client.post(f"{base}/repayments", json={"amount": "100.00"}, headers=headers)
    again = client.post(f"{base}/repayments", json={"amount": "100.00"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    clash = client.post(f"{base}/repayments", json={"amount": "200.00"}, headers=headers)
    assert clash.status_code == 409 and clash.content_type.startswith("application/problem+json")
    missing = client.post(f"{base}/repayments", json={"amount": "1.00"}, headers=write)
    assert missing.status_code == 422
    too_much = client.post(f"{base}/repayments", json={"amount": "99999.00"},
                           headers={**write, "Idempotency-Key": "api-pay-2"})
    assert too_much.status_code == 422
    schedule = client.get(f"{base}/schedule", headers=write).get_json()
    assert [row["interest_due"] for row in schedule] == ["120.00", "80.00", "40.00"]
    postings = client.get(f"{base}/postings?limit=10", headers=write).get_json()
    assert {p["kind"] for p in postings} >= {"disbursement", "repayment"}
    quote = client.get(f"{base}/payoff-quote", headers=write).get_json()
    # The 100.00 paid the current period's interest first (allocation order), so all principal is still owed.
    assert (quote["interest"], quote["total"]) == ("0.00", "12000.00")
    reversal = client.post(f"{base}/reversals", json={"idempotency_key": "api-pay-1", "reason": "bounced"},
                           headers=write)
    assert reversal.status_code == 200 and reversal.get_json()["kind"] == "reversal"
    assert client.get(base, headers=write).get_json()["principal_outstanding"] == "12000.00"
    status = client.get(f"/t/{bank.slug}/api/v1/loans/cob", headers=write).get_json()
    assert status["business_date"] == "2026-01-01"


def test_read_scope_cannot_post(client, bank):
    read = token(client, bank, "loans:read")
    response = client.post(f"/t/{bank.slug}/api/v1/loans/API-1/repayments", json={"amount": "1.00"},
                           headers={**read, "Idempotency-Key": "nope"})
    assert response.status_code == 403


def test_listings_are_paged_and_name_an_unknown_loan(client, bank):
    from creditfactory.lending.cob import services as cob

    for _ in range(3):
        cob.close_day(bank)
    read = token(client, bank, "loans:read")
    base = f"/t/{bank.slug}/api/v1/loans/API-1"
    newest = client.get(f"{base}/postings?limit=2", headers=read).get_json()
    older = client.get(f"{base}/postings?limit=2&before_entry={newest[-1]['entry_id']}", headers=read).get_json()
    assert len(newest) == 2 and older and older[0]["entry_id"] < newest[-1]["entry_id"]
    assert client.get(f"{base}/postings?before_entry=1", headers=read).get_json() == []
    transactions = client.get(f"{base}/transactions?limit=1", headers=read).get_json()
    assert len(transactions) == 1
    assert client.get(f"{base}/transactions?before_id={transactions[0]['id']}",
                      headers=read).get_json()[-1]["kind"] == "disbursement"
    assert [r["seq"] for r in client.get(f"{base}/schedule?version=1", headers=read).get_json()] == [1, 2, 3]
    assert client.get(f"{base}/schedule?version=2", headers=read).get_json() == []
    for tail in ("/schedule", "/transactions", "/postings", "/classification"):
        assert client.get(f"/t/{bank.slug}/api/v1/loans/NO-SUCH{tail}", headers=read).status_code == 404


def test_listings_written_by_postgresql_match_their_schemas(client, bank):
    """The schedule, transactions and postings JSON is built in SQL (``routes._json_of``): it must be exactly what
    the documented schemas would dump from the rows."""
    from sqlalchemy import select

    from creditfactory.lending.ledger.models import JournalEntry, JournalLine
    from creditfactory.lending.loans import schemas
    from creditfactory.lending.loans.models import Installment, LoanAccount, LoanTransaction

    read = token(client, bank, "loans:read")
    base = f"/t/{bank.slug}/api/v1/loans/API-1"
    with SystemContext("test"), tenant_session(bank) as s, s.begin():
        loan_id = s.scalars(select(LoanAccount.id).where(LoanAccount.reference == "API-1")).one()
        schedule = schemas.InstallmentSchema(many=True).dump(s.scalars(select(Installment).where(
            Installment.loan_id == loan_id).order_by(Installment.version, Installment.seq)).all())
        transactions = schemas.TransactionSchema(many=True).dump(s.scalars(select(LoanTransaction).where(
            LoanTransaction.loan_id == loan_id).order_by(LoanTransaction.id.desc())).all())
        postings = schemas.PostingSchema(many=True).dump([dict(r) for r in s.execute(
            select(JournalLine.entry_id, JournalEntry.business_date, JournalEntry.kind, JournalLine.account_code,
                   JournalLine.debit, JournalLine.credit).join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalLine.loan_id == loan_id).order_by(JournalLine.entry_id.desc(), JournalLine.id.desc()))
            .mappings()])
    assert transactions and postings and schedule
    assert client.get(f"{base}/schedule", headers=read).get_json() == schedule
    assert client.get(f"{base}/transactions?limit=1000", headers=read).get_json() == transactions
    assert client.get(f"{base}/postings?limit=1000", headers=read).get_json() == postings
