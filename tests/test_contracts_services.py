"""Contracts and disbursement against PostgreSQL: rendering and hashing, signatures with the tenant's platform key,
the face-signing recording and its QC, the one gate before disbursement (tampered file, missing signature, failed
QC), self-payment thresholds, idempotency, settlement opening a balanced loan and the application's states."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from applications_support import acting, principal
from contracts_support import MP4, PDF_EVIDENCE, approved_application
from creditfactory.errors import Conflict, DomainError
from creditfactory.files.store import file_store
from creditfactory.lending.applications.models import ApplicationStateHistory
from creditfactory.lending.contracts import services as contracts
from creditfactory.lending.contracts.models import ContractSignature, SigningKey
from creditfactory.lending.disbursement import services as disbursements
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.ledger.models import JournalEntry, JournalLine
from creditfactory.lending.loans.models import Installment, LoanAccount


@pytest.fixture
def ops(tenant_a, make_user):
    """Two operations staff: one records and signs, the other reviews the recording."""
    return (principal(make_user("operations", tenant_a), tenant_a, "operations"),
            principal(make_user("operations", tenant_a), tenant_a, "operations"))


@pytest.fixture
def db(tenant_db, tenant_a):
    return tenant_db(tenant_a)


T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def prepare(db, tenant, clerk, **kw):
    application = approved_application(db, **kw)
    with acting(clerk, tenant):
        contract = contracts.prepare_contract(db, application.id, annual_rate="0.12",
                                              repayment_method="equal_principal")
    return application, contract


def record(db, tenant, clerk, contract):
    with acting(clerk, tenant):
        return contracts.record_recording(db, contract.id, media=MP4, started_at=T0,
                                          ended_at=T0 + dt.timedelta(minutes=12), script_version="loan-v1",
                                          risk_disclosures_read=["rate", "penalty"],
                                          customer_confirmations=["我已知晓并确认"], location="营业部")


def sign_all(db, tenant, clerk, contract):
    with acting(clerk, tenant):
        for party in contracts.parties_of(db, contract.id):
            contracts.sign(db, contract.id, party.id)


def signed_and_passed(db, tenant, ops, **kw):
    clerk, reviewer = ops
    application, contract = prepare(db, tenant, clerk, **kw)
    recording = record(db, tenant, clerk, contract)
    sign_all(db, tenant, clerk, contract)
    with acting(reviewer, tenant):
        contracts.review_recording(db, recording.id, passed=True)
    db.refresh(application)
    return application, contract


def disburse(db, tenant, clerk, contract, key="d-1", **kw):
    values = dict(payee_name="县农资公司", payee_account="6222020200112233", payee_bank="农商银行城关支行",
                  purpose="采购化肥", evidence=[("invoice.pdf", PDF_EVIDENCE)])
    values.update(kw)
    with acting(clerk, tenant):
        return disbursements.create_disbursement(db, contract.id, idempotency_key=key, **values)


def test_prepare_renders_a_pdf_with_the_calculators_schedule_and_every_party(db, tenant_a, ops):
    application, contract = prepare(db, tenant_a, ops[0])
    data = file_store().get(contract.file_key)
    assert data.startswith(b"%PDF-") and b"/FontFile2" in data  # the CJK font is embedded
    assert contract.pdf_sha256 == contract.file_key.rsplit("/", 1)[1]
    # 12,000.00 at 12 % equal principal over 3 whole months from 2026-03-01: 4,000.00 a month;
    # interest = balance × 12 % / 12: 12000 → 120.00, 8000 → 80.00, 4000 → 40.00.
    periods = contract.schedule["periods"]
    assert [(p["due_date"], p["principal"], p["interest"]) for p in periods] == [
        ("2026-04-01", "4000.00", "120.00"), ("2026-05-01", "4000.00", "80.00"), ("2026-06-01", "4000.00", "40.00")]
    parties = contracts.parties_of(db, contract.id)
    assert [(p.role, p.name) for p in parties] == [("borrower", "王芳"), ("guarantor", "李强"),
                                                   ("lender", parties[-1].name)]
    assert parties[-1].customer_id is None and contract.status == "DRAFT"
    assert contract.template_id == "default.zh.html" and len(contract.template_version) == 64


def test_related_persons_without_a_customer_record_are_parties_and_sign(db, tenant_a, ops, make_user):
    """A spouse and a natural-person guarantor recorded only as related parties (no customer record) sign too; a
    spouse who is also a co-borrower signs once, as co-borrower."""
    from creditfactory.lending.customers import services as customers

    clerk, reviewer = ops
    officer = principal(make_user("loan_officer", tenant_a), tenant_a, "loan_officer")
    application = approved_application(db)
    with acting(officer, tenant_a):
        spouse = customers.add_related_party(db, application.customer_id, role="spouse", name="赵敏",
                                             resident_id="11010519491231002X")
        customers.add_related_party(db, application.customer_id, role="co_borrower", name="赵敏",
                                    resident_id="11010519491231002X")
        guarantor = customers.add_related_party(db, application.customer_id, role="guarantor", name="孙伟")
    with acting(clerk, tenant_a):
        contract = contracts.prepare_contract(db, application.id, annual_rate="0.12",
                                              repayment_method="equal_principal")
    parties = contracts.parties_of(db, contract.id)
    assert [(p.role, p.name) for p in parties] == [
        ("borrower", "王芳"), ("co_borrower", "赵敏"), ("guarantor", "李强"), ("guarantor", "孙伟"),
        ("lender", parties[-1].name)]
    persons = {p.name: p for p in parties if p.related_party_id is not None}
    assert persons["孙伟"].related_party_id == guarantor.id and persons["孙伟"].customer_id is None
    assert persons["赵敏"].related_party_id != spouse.id  # the co-borrower row, not the spouse row
    recording = record(db, tenant_a, clerk, contract)
    with acting(clerk, tenant_a):
        contracts.sign(db, contract.id, parties[0].id)
    assert "孙伟 (guarantor) has not signed" in contracts.disbursement_problems(db, contract)
    with acting(clerk, tenant_a):
        for party in parties[1:]:
            contracts.sign(db, contract.id, party.id)
    with acting(reviewer, tenant_a):
        contracts.review_recording(db, recording.id, passed=True)
    db.refresh(application)
    assert contract.status == "SIGNED" and application.state == "CONTRACTED"
    assert contracts.disbursement_problems(db, contract) == []
    statement = next(s for s in contracts.signatures_of(db, contract.id) if s.party_id == persons["孙伟"].id).statement
    assert f'"related_party_id":{guarantor.id}' in statement and '"customer_id":null' in statement


def test_a_spouse_who_is_only_a_spouse_signs_as_the_spouse(db, tenant_a, ops, make_user):
    from creditfactory.lending.customers import services as customers

    officer = principal(make_user("loan_officer", tenant_a), tenant_a, "loan_officer")
    application = approved_application(db, guarantor=False)
    with acting(officer, tenant_a):
        spouse = customers.add_related_party(db, application.customer_id, role="spouse", name="赵敏")
    with acting(ops[0], tenant_a):
        contract = contracts.prepare_contract(db, application.id, annual_rate="0.12", repayment_method="bullet",
                                              language="en")
    parties = contracts.parties_of(db, contract.id)
    assert [(p.role, p.name, p.related_party_id) for p in parties[:-1]] == [
        ("borrower", "王芳", None), ("spouse", "赵敏", spouse.id)]


def test_rate_and_method_must_fit_the_product(db, tenant_a, ops):
    application = approved_application(db)
    with acting(ops[0], tenant_a):
        with pytest.raises(DomainError, match="outside the product's range"):
            contracts.prepare_contract(db, application.id, annual_rate="0.30", repayment_method="bullet")
        with pytest.raises(DomainError, match="not offered"):
            contracts.prepare_contract(db, application.id, annual_rate="0.10", repayment_method="balloon")


def test_one_person_as_a_customer_and_as_a_person_record_signs_once(db, tenant_a, ops, make_user):
    """The spouse is a customer of the bank, and also recorded as a co-borrower by name and resident ID: the same
    resident ID makes them one person, who signs once, as co-borrower."""
    from creditfactory.lending.customers import services as customers

    officer = principal(make_user("loan_officer", tenant_a), tenant_a, "loan_officer")
    application = approved_application(db, guarantor=False)
    number = "11010519491231002X"
    with acting(officer, tenant_a):
        spouse = customers.create_customer(db, kind="individual", name="赵敏", resident_id=number)
        customers.add_related_party(db, application.customer_id, role="spouse", related_customer_id=spouse.id)
        co_borrower = customers.add_related_party(db, application.customer_id, role="co_borrower", name="赵敏",
                                                  resident_id=number)
    with acting(ops[0], tenant_a):
        contract = contracts.prepare_contract(db, application.id, annual_rate="0.12", repayment_method="bullet")
    assert [(p.role, p.customer_id, p.related_party_id) for p in contracts.parties_of(db, contract.id)][:-1] == [
        ("borrower", application.customer_id, None), ("co_borrower", None, co_borrower.id)]


def test_a_products_interest_only_is_the_calculators_monthly_interest(db, tenant_a, ops):
    from sqlalchemy import update

    from creditfactory.lending.products.models import Product

    application = approved_application(db)
    terms = {**db.get(Product, application.product_id).terms,
             "repayment_methods": ["equal_installment", "interest_only", "revolving"]}
    # Set before first use (versions are immutable once made; the helper makes the product with its own terms).
    db.execute(update(Product).where(Product.id == application.product_id).values(terms=terms))
    db.expire_all()
    with acting(ops[0], tenant_a):
        with pytest.raises(DomainError, match="allowed: equal_installment, monthly_interest"):
            contracts.prepare_contract(db, application.id, annual_rate="0.10", repayment_method="revolving")
        contract = contracts.prepare_contract(db, application.id, annual_rate="0.12", repayment_method="interest_only")
    assert contract.repayment_method == "monthly_interest"
    assert [p["principal"] for p in contract.schedule["periods"]] == ["0.00", "0.00", "12000.00"]


def test_signatures_verify_with_the_tenants_sealed_key(db, tenant_a, ops):
    application, contract = prepare(db, tenant_a, ops[0])
    sign_all(db, tenant_a, ops[0], contract)
    signatures = contracts.signatures_of(db, contract.id)
    assert len(signatures) == 3 and contract.status == "SIGNED"
    assert all(contracts.verify_signature(db, s) for s in signatures)
    assert {s.ca_provider for s in signatures} == {"platform"} and all(s.signed_hash == contract.pdf_sha256
                                                                        for s in signatures)
    key = db.scalars(select(SigningKey).where(SigningKey.status == "active")).one()
    assert b"PRIVATE" not in key.sealed_private_key and len(key.sealed_private_key) == 12 + 32 + 16
    forged = signatures[0]
    forged.statement = forged.statement.replace(contract.pdf_sha256, "0" * 64)
    assert not contracts.verify_signature(db, forged)
    with acting(ops[0], tenant_a), pytest.raises(Conflict):
        contracts.sign(db, contract.id, signatures[0].party_id)
    # Signed, but no recording yet: still APPROVED.
    db.refresh(application)
    assert application.state == "APPROVED"


def test_fully_signed_and_qc_passed_contracts_the_application(db, tenant_a, ops):
    application, contract = signed_and_passed(db, tenant_a, ops)
    assert application.state == "CONTRACTED"
    assert contracts.disbursement_problems(db, contract) == []
    last = db.scalars(select(ApplicationStateHistory).where(ApplicationStateHistory.application_id == application.id)
                      .order_by(ApplicationStateHistory.id.desc())).first()
    assert last.event == "contract" and last.from_state == "APPROVED"


def test_recorder_cannot_review_and_a_failure_needs_a_reason(db, tenant_a, ops):
    _, contract = prepare(db, tenant_a, ops[0])
    recording = record(db, tenant_a, ops[0], contract)
    assert recording.media_sha256 == recording.media_key.rsplit("/", 1)[1]
    with acting(ops[0], tenant_a), pytest.raises(Conflict, match="segregation"):
        contracts.review_recording(db, recording.id, passed=True)
    with acting(ops[1], tenant_a), pytest.raises(DomainError, match="why"):
        contracts.review_recording(db, recording.id, passed=False)


def test_a_tampered_pdf_blocks_disbursement(db, tenant_a, ops):
    application, contract = signed_and_passed(db, tenant_a, ops)
    store = file_store()
    path = store.root / contract.file_key
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n% amount changed after signing\n")
        problems = contracts.disbursement_problems(db, contract)
        assert any("no longer matches its SHA-256" in p for p in problems)
        with pytest.raises(Conflict, match="blocks disbursement"):
            disburse(db, tenant_a, ops[0], contract)
    finally:
        path.write_bytes(original)
    assert contracts.disbursement_problems(db, contract) == []


def test_a_missing_signature_blocks(db, tenant_a, ops):
    clerk, reviewer = ops
    application, contract = prepare(db, tenant_a, clerk)
    recording = record(db, tenant_a, clerk, contract)
    borrower = contracts.parties_of(db, contract.id)[0]
    with acting(clerk, tenant_a):
        contracts.sign(db, contract.id, borrower.id)
    with acting(reviewer, tenant_a):
        contracts.review_recording(db, recording.id, passed=True)
    assert contract.status == "PARTIALLY_SIGNED"
    problems = contracts.disbursement_problems(db, contract)
    assert problems == ["李强 (guarantor) has not signed", f"{contracts.parties_of(db, contract.id)[-1].name} "
                                                            "(lender) has not signed"]
    db.refresh(application)
    assert application.state == "APPROVED"


def test_a_failed_qc_blocks(db, tenant_a, ops):
    clerk, reviewer = ops
    application, contract = prepare(db, tenant_a, clerk)
    recording = record(db, tenant_a, clerk, contract)
    sign_all(db, tenant_a, clerk, contract)
    with acting(reviewer, tenant_a):
        contracts.review_recording(db, recording.id, passed=False, note="客户未朗读风险提示")
    assert recording.qc_status == "FAILED" and recording.qc_reviewer_id == reviewer.user_id
    assert contracts.disbursement_problems(db, contract) == ["the face-signing recording's QC is FAILED"]
    db.refresh(application)
    assert application.state == "APPROVED"


def test_self_payment_only_within_the_products_threshold(db, tenant_a, ops):
    application, contract = signed_and_passed(db, tenant_a, ops, amount="12000.00", personal_threshold="10000")
    with pytest.raises(DomainError, match="allowed up to 10000"):
        disburse(db, tenant_a, ops[0], contract, mode="SELF", self_payment_ground="personal_business", evidence=[])
    with pytest.raises(DomainError, match="needs a ground"):
        disburse(db, tenant_a, ops[0], contract, mode="SELF", evidence=[])
    with pytest.raises(DomainError, match="needs evidence"):
        disburse(db, tenant_a, ops[0], contract, evidence=[])
    # 12,000 ≤ the 300,000 cap for an undetermined counterparty: allowed.
    disbursement, _ = disburse(db, tenant_a, ops[0], contract, mode="SELF",
                               self_payment_ground="undetermined_counterparty", evidence=[])
    assert disbursement.mode == "SELF" and disbursement.status == "PENDING"


def test_disbursement_end_to_end_is_idempotent_and_balanced(db, tenant_a, ops):
    clerk = ops[0]
    application, contract = signed_and_passed(db, tenant_a, ops)
    first, replayed = disburse(db, tenant_a, clerk, contract)
    again, replayed_again = disburse(db, tenant_a, clerk, contract)
    assert (replayed, replayed_again, again.id) == (False, True, first.id)
    with pytest.raises(Conflict, match="different"):
        disburse(db, tenant_a, clerk, contract, payee_account="000")
    with pytest.raises(Conflict, match="already has disbursement"):
        disburse(db, tenant_a, clerk, contract, key="d-2")
    assert first.evidence[0]["sha256"] and first.amount == Decimal("12000.00")

    with acting(clerk, tenant_a):
        disbursements.send(db, first.id)
    assert first.status == "SENT" and first.value_date == dt.date(2026, 3, 1)
    rows = list(csv.reader(io.StringIO(file_store().get(first.adapter_ref).decode("utf-8-sig"))))
    assert rows[0][:5] == ["disbursement_id", "reference", "value_date", "currency", "amount"]
    assert rows[1][1:] == [contract.reference, "2026-03-01", "CNY", "12000.00", "ENTRUSTED", "县农资公司",
                           "6222020200112233", "农商银行城关支行", "采购化肥"]

    entries_before = db.scalar(select(func.count()).select_from(JournalEntry))
    with acting(clerk, tenant_a):
        disbursements.mark_settled(db, first.id, core_banking_ref="CB20260301001")
        disbursements.mark_settled(db, first.id, core_banking_ref="CB20260301001")  # twice: nothing changes
        with pytest.raises(Conflict):
            disbursements.mark_settled(db, first.id, core_banking_ref="OTHER")
    assert db.scalar(select(func.count()).select_from(JournalEntry)) == entries_before + 1
    loan = db.get(LoanAccount, first.loan_id)
    assert (loan.state, loan.principal_outstanding, loan.application_id) == ("active", Decimal("12000.00"),
                                                                             application.id)
    rows = db.scalars(select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq)).all()
    assert [(r.due_date.isoformat(), f"{r.principal_due}", f"{r.interest_due}") for r in rows] == [
        (p["due_date"], p["principal"], p["interest"]) for p in contract.schedule["periods"]]
    lines = db.scalars(select(JournalLine).join(JournalEntry).where(JournalEntry.loan_id == loan.id)).all()
    assert sum(l.debit for l in lines) == sum(l.credit for l in lines) == Decimal("12000.00")
    ledger.check(db)
    db.refresh(application)
    assert application.state == "DISBURSED"
    with acting(clerk, tenant_a), pytest.raises(Conflict):
        disbursements.mark_failed(db, first.id, reason="too late")


def test_failed_disbursement_can_be_retried(db, tenant_a, ops):
    application, contract = signed_and_passed(db, tenant_a, ops)
    first, _ = disburse(db, tenant_a, ops[0], contract)
    with acting(ops[0], tenant_a):
        disbursements.send(db, first.id)
        disbursements.mark_failed(db, first.id, reason="账户不存在")
    second, _ = disburse(db, tenant_a, ops[0], contract, key="d-2", payee_account="6222020200119999")
    assert (first.status, second.status) == ("FAILED", "PENDING")
    db.refresh(application)
    assert application.state == "CONTRACTED"


def test_reads_need_no_disburse_permission_but_operations_do(db, tenant_a, make_user):
    officer = principal(make_user("loan_officer", tenant_a), tenant_a, "loan_officer")
    application = approved_application(db)
    from creditfactory.identity.errors import AccessDenied
    with acting(officer, tenant_a), pytest.raises(AccessDenied):
        contracts.prepare_contract(db, application.id, annual_rate="0.12", repayment_method="bullet")
