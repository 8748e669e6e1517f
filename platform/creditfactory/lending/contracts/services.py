"""Contracts: prepare (render + store + hash), sign per party, record the face-signing session and its QC, and
the one check that decides whether a contract may be disbursed.

Flow: an APPROVED / APPROVED_WITH_CONDITIONS application → ``prepare_contract`` (DRAFT; parties: the borrower, the
borrower's co-borrowers, guarantors and spouse among the customer's related parties, whether customers or persons
recorded only as a related party, and the bank as lender) → ``record_recording`` (the 双录 media, QC PENDING) →
``sign`` per party (PARTIALLY_SIGNED … SIGNED) → ``review_recording`` (QC PASSED / FAILED by someone other than
who recorded it). When every party has signed and QC has passed, the application moves to CONTRACTED
(``Event.CONTRACT``). ``disbursement_problems`` is the single gate disbursement calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...audit import record
from ...errors import Conflict, DomainError, NotFound
from ...files.store import FileNotStored, FileStoreError, file_store
from ...identity.authorization import authorize, requires
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ..applications.models import LoanApplication
from ..applications.states import Event, State, transition
from ..calc.schedule import DayCount, Method, ScheduleTerms, build_schedule
from ..cob.dates import business_date
from ..customers.models import Customer, RelatedParty
from ..products.models import Product
from ..products.services import terms_of
from . import render, signers
from .models import ContractParty, ContractSignature, EContract, RecordingSession

CONTRACTABLE = (State.APPROVED.value, State.APPROVED_WITH_CONDITIONS.value)
ROLE_ZH = {"borrower": "借款人", "co_borrower": "共同借款人", "guarantor": "保证人", "spouse": "借款人配偶",
           "lender": "贷款人"}
ROLE_EN = {"borrower": "Borrower", "co_borrower": "Co-borrower", "guarantor": "Guarantor",
           "spouse": "Borrower's spouse", "lender": "Lender"}
MEDIA_TYPES = ("video/mp4", "video/quicktime", "video/webm", "audio/mpeg", "audio/mp4")


#: Product terms name a method differently from the calculator in one case (products/terms.py: ``interest_only``
#: is the calculator's ``monthly_interest``); contracts and loans keep the calculator's code.
PRODUCT_METHODS = {"interest_only": Method.MONTHLY_INTEREST.value}


def contract_methods(product_methods) -> list[str]:
    """The calculator codes a term loan of a product with these ``repayment_methods`` may be contracted with."""
    return [PRODUCT_METHODS.get(m, m) for m in product_methods if m != Method.REVOLVING.value]


class ContractError(DomainError):
    """Bad input for a contract operation."""


def _who() -> tuple[int | None, str]:
    principal = CurrentPrincipal.get_or_none()
    return (principal.user_id, principal.username) if principal is not None else (None, "system")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def get_contract(session: Session, contract_id: int, *, lock: bool = False) -> EContract:
    query = select(EContract).where(EContract.id == contract_id)
    contract = session.scalars(query.with_for_update() if lock else query).first()
    if contract is None:
        raise NotFound(f"no contract {contract_id}")
    return contract


def contract_for_application(session: Session, application_id: int) -> EContract | None:
    return session.scalars(select(EContract).where(EContract.application_id == application_id,
                                                   EContract.status != "VOIDED")).first()


def parties_of(session: Session, contract_id: int) -> list[ContractParty]:
    return list(session.scalars(select(ContractParty).where(ContractParty.contract_id == contract_id)
                                .order_by(ContractParty.id)))


def signatures_of(session: Session, contract_id: int) -> list[ContractSignature]:
    return list(session.scalars(select(ContractSignature).where(ContractSignature.contract_id == contract_id)
                                .order_by(ContractSignature.id)))


def _rate(value: Any) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ContractError(f"annual_rate {value!r} is not a number") from None
    if not rate.is_finite() or rate < 0 or rate >= 1:
        raise ContractError("annual_rate is a fraction between 0 and 1 (0.0612 = 6.12 %)")
    return rate


@requires(Permission.LOAN_DISBURSE)
def prepare_contract(session: Session, application_id: int, *, annual_rate: Any, repayment_method: str,
                     language: str = "zh") -> EContract:
    """Render the product's contract for an approved application, store the PDF and record its SHA-256."""
    application = session.scalars(select(LoanApplication).where(LoanApplication.id == application_id)
                                  .with_for_update()).first()
    if application is None:
        raise NotFound(f"no application {application_id}")
    if application.state not in CONTRACTABLE:
        raise Conflict(f"application {application.reference} is {application.state}; a contract is prepared "
                       f"only for {' or '.join(CONTRACTABLE)}")
    if contract_for_application(session, application.id) is not None:
        raise Conflict(f"application {application.reference} already has a contract; void it first")
    product = session.get(Product, application.product_id)
    terms = terms_of(session, application.product_id)
    rate = _rate(annual_rate)
    if not (terms.annual_rate.contains(rate) or any(p.annual_rate.contains(rate) for p in terms.sector_pricing)):
        raise ContractError(f"annual_rate {rate} is outside the product's range "
                            f"{terms.annual_rate.min}–{terms.annual_rate.max}")
    offered = contract_methods(terms.repayment_methods)
    repayment_method = PRODUCT_METHODS.get(repayment_method, repayment_method)
    if repayment_method not in offered:
        raise ContractError(f"repayment_method {repayment_method!r} is not offered for a term loan of this product; "
                            f"allowed: {', '.join(offered)}")
    start = business_date(session)
    schedule = build_schedule(ScheduleTerms(method=Method(repayment_method), principal=Decimal(application.amount),
                                            annual_rate=rate, months=application.term_months, start=start,
                                            day_count=DayCount(terms.day_count))).as_dict()
    tenant = session.info["tenant"]
    user_id, _ = _who()
    count = session.scalar(select(func.count()).select_from(EContract)
                           .where(EContract.application_id == application.id))
    reference = f"HT-{application.reference}" + (f"-{count}" if count else "")
    template_id, template_version, template = render.template_for(product.code, language)
    contract = EContract(reference=reference, application_id=application.id, template_id=template_id,
                         template_version=template_version, language=language, amount=application.amount,
                         term_months=application.term_months, annual_rate=rate, repayment_method=repayment_method,
                         start_date=start, schedule=schedule, file_key="", pdf_sha256="", status="DRAFT",
                         prepared_by_id=user_id)
    session.add(contract)
    session.flush()
    parties = _parties(session, contract, application, tenant)
    context = {
        "title": "个人借款合同" if language == "zh" else "Loan Contract",
        "contract": contract, "application": application, "product": product, "parties": parties,
        "lender": next(p for p in parties if p.role == "lender"), "schedule": schedule,
        "role_zh": ROLE_ZH, "role_en": ROLE_EN, "method_zh": Method(repayment_method).label_zh,
        "day_count": terms.day_count, "penalty_rate": terms.penalty_rate(rate),
        "money": lambda v: f"{Decimal(v):,.2f}",
        "percent": lambda v: f"{(Decimal(v) * 100).quantize(Decimal('0.0001'), ROUND_HALF_UP).normalize():f}%",
    }
    created = dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc)
    pdf = render.render_pdf(template, context, created=created)
    stored = file_store().put(tenant.slug, pdf)
    contract.file_key, contract.pdf_sha256 = stored.key, stored.sha256
    session.flush()
    record(session, "contract.prepare", object_type="e_contract", object_id=contract.id,
           after={"application": application.reference, "template": template_id, "template_version": template_version,
                  "pdf_sha256": stored.sha256,
                  "parties": [(p.role, p.customer_id, p.related_party_id) for p in parties],
                  "annual_rate": rate, "repayment_method": repayment_method})
    return contract


#: Related-party roles that sign the loan contract, in the order they are listed; a spouse signs the spouse's
#: consent to the debt (共同还款承诺) unless the same person already signs as co-borrower or guarantor.
SIGNING_ROLES = ("co_borrower", "guarantor", "spouse")


def _parties(session: Session, contract: EContract, application: LoanApplication, tenant) -> list[ContractParty]:
    """The borrower, the signing related parties (customers, or persons recorded only as a related party), the bank."""
    borrower = session.get(Customer, application.customer_id)
    parties = [ContractParty(contract_id=contract.id, role="borrower", customer_id=borrower.id, name=borrower.name)]
    related = session.execute(
        select(RelatedParty, Customer.name, Customer.resident_id_index)
        .outerjoin(Customer, Customer.id == RelatedParty.related_customer_id)
        .where(RelatedParty.customer_id == borrower.id, RelatedParty.role.in_(SIGNING_ROLES))).all()
    related.sort(key=lambda row: (SIGNING_ROLES.index(row[0].role), row[0].id))

    def person_of(customer_id: int | None, party_id: int | None, id_index: str | None) -> Any:
        # One person, one key: the resident-ID blind index where known (the same for a customer record and a
        # person record of the same person), else the record's own id.
        if id_index:
            return ("resident", id_index)
        return ("customer", customer_id) if customer_id is not None else ("person", party_id)

    seen_roles: set[tuple[str, Any]] = set()
    signing: set[Any] = {person_of(borrower.id, None, borrower.resident_id_index)}
    for party, customer_name, customer_index in related:
        is_customer = party.related_customer_id is not None
        person = person_of(party.related_customer_id, party.id,
                           customer_index if is_customer else party.resident_id_index)
        if (party.role, person) in seen_roles or (party.role == "spouse" and person in signing):
            continue
        seen_roles.add((party.role, person))
        signing.add(person)
        parties.append(ContractParty(
            contract_id=contract.id, role=party.role, customer_id=party.related_customer_id,
            related_party_id=None if is_customer else party.id,
            name=customer_name if is_customer else party.name))
    parties.append(ContractParty(contract_id=contract.id, role="lender", customer_id=None,
                                 name=tenant.name_zh or tenant.name_en or tenant.slug))
    session.add_all(parties)
    session.flush()
    return parties


def statement_for(contract: EContract, party: ContractParty, *, signed_at: dt.datetime, method: str,
                  witness: str) -> bytes:
    """The exact bytes a signature covers: canonical JSON naming the document hash and the signer."""
    return json.dumps({"contract": contract.reference, "pdf_sha256": contract.pdf_sha256, "party_id": party.id,
                       "role": party.role, "customer_id": party.customer_id,
                       "related_party_id": party.related_party_id, "name": party.name,
                       "signed_at": signed_at.astimezone(dt.timezone.utc).isoformat(), "method": method,
                       "witness": witness}, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _check_file(contract: EContract) -> str | None:
    """None when the stored PDF still hashes to the contract's SHA-256; else what is wrong."""
    try:
        data = file_store().get(contract.file_key)
    except FileNotStored:
        return f"contract {contract.reference}: its PDF is missing from the file store"
    except (FileStoreError, ValueError):
        return f"contract {contract.reference}: its PDF no longer matches its SHA-256 (altered)"
    if hashlib.sha256(data).hexdigest() != contract.pdf_sha256:
        return f"contract {contract.reference}: its PDF no longer matches its SHA-256 (altered)"
    return None


@requires(Permission.LOAN_DISBURSE)
def sign(session: Session, contract_id: int, party_id: int, *, method: str = "face_signing",
         provider: str = signers.PLATFORM) -> ContractSignature:
    """Record ``party``'s signature over the contract's SHA-256, made by ``provider`` (the platform key or a CA)."""
    contract = get_contract(session, contract_id, lock=True)
    if contract.status in ("SIGNED", "VOIDED"):
        raise Conflict(f"contract {contract.reference} is {contract.status}")
    party = session.get(ContractParty, party_id)
    if party is None or party.contract_id != contract.id:
        raise NotFound(f"contract {contract.reference} has no party {party_id}")
    if session.scalar(select(ContractSignature.id).where(ContractSignature.party_id == party.id)) is not None:
        raise Conflict(f"{party.name} ({party.role}) has already signed contract {contract.reference}")
    if method not in ("face_signing", "e_signature"):
        raise ContractError("method must be face_signing or e_signature")
    problem = _check_file(contract)
    if problem:
        raise Conflict(f"{problem}: it cannot be signed")
    user_id, username = _who()
    signed_at = _now()
    statement = statement_for(contract, party, signed_at=signed_at, method=method, witness=username)
    result = signers.get_signer(provider).sign(session, statement)
    signature = ContractSignature(contract_id=contract.id, party_id=party.id, method=method,
                                  ca_provider=result.provider, cert_serial=result.cert_serial,
                                  signed_hash=contract.pdf_sha256, statement=statement.decode(),
                                  signature_value=result.signature_value, timestamp_token=result.timestamp_token,
                                  signed_at=signed_at, recorded_by_id=user_id, recorded_by=username)
    session.add(signature)
    session.flush()
    record(session, "contract.sign", object_type="e_contract", object_id=contract.id,
           after={"party_id": party.id, "role": party.role, "method": method, "provider": result.provider,
                  "cert_serial": result.cert_serial, "signed_hash": contract.pdf_sha256})
    _advance(session, contract)
    return signature


def _advance(session: Session, contract: EContract) -> None:
    """Move the contract's status after a signature or a QC decision, and the application once complete."""
    parties = parties_of(session, contract.id)
    signed = {s.party_id for s in signatures_of(session, contract.id)}
    if signed and len(signed) < len(parties):
        contract.status = "PARTIALLY_SIGNED"
    elif len(signed) == len(parties) and contract.status != "SIGNED":
        contract.status = "SIGNED"
        contract.signed_at = _now()
    session.flush()
    recording = session.get(RecordingSession, contract.recording_session_id) if contract.recording_session_id else None
    application = session.get(LoanApplication, contract.application_id)
    if contract.status == "SIGNED" and recording is not None and recording.qc_status == "PASSED" \
            and application.state in CONTRACTABLE:
        transition(session, application, Event.CONTRACT,
                   reason=f"contract {contract.reference} signed by every party; recording QC passed")


def verify_signature(session: Session, signature: ContractSignature) -> bool:
    """Whether a stored signature still verifies over its statement, and the statement names its hash."""
    result = signers.SignatureResult(signature.ca_provider, signature.cert_serial, signature.signature_value,
                                     signature.timestamp_token)
    try:
        signer = signers.get_signer(signature.ca_provider)
    except signers.SignerError:
        return False
    statement = signature.statement.encode()
    try:
        named = json.loads(statement)["pdf_sha256"]
    except (ValueError, KeyError):
        return False
    return named == signature.signed_hash and signer.verify(session, statement, result)


@requires(Permission.LOAN_DISBURSE)
def record_recording(session: Session, contract_id: int, *, media: bytes, started_at: dt.datetime,
                     ended_at: dt.datetime, script_version: str, risk_disclosures_read: list[str],
                     customer_confirmations: list[str], location: str = "", device_id: str = "",
                     staff_ids: list[int] | None = None) -> RecordingSession:
    """Store the face-signing / dual-recording media (SHA-256 in the file store) and link it, QC PENDING."""
    contract = get_contract(session, contract_id, lock=True)
    if contract.status == "VOIDED":
        raise Conflict(f"contract {contract.reference} is voided")
    if not media:
        raise ContractError("the recording is empty")
    content_type = _media_type(media)
    if content_type is None:
        raise ContractError(f"the recording is not audio or video (accepted: {', '.join(MEDIA_TYPES)})")
    if ended_at <= started_at:
        raise ContractError("ended_at must be after started_at")
    if not (script_version or "").strip():
        raise ContractError("script_version is required")
    stored = file_store().put(session.info["tenant"].slug, media)
    user_id, _ = _who()
    customers = [p.customer_id for p in parties_of(session, contract.id) if p.customer_id is not None]
    recording = RecordingSession(
        subject_type="LOAN_SIGNING", subject_id=contract.id, staff_ids=sorted({*(staff_ids or []), *(
            [user_id] if user_id else [])}), customer_ids=customers, started_at=started_at, ended_at=ended_at,
        media_key=stored.key, media_sha256=stored.sha256, media_content_type=content_type,
        script_version=script_version.strip()[:40], risk_disclosures_read=[str(x) for x in risk_disclosures_read],
        customer_confirmations=[str(x) for x in customer_confirmations], location=location[:200],
        device_id=device_id[:100], recorded_by_id=user_id, qc_status="PENDING")
    session.add(recording)
    session.flush()
    contract.recording_session_id = recording.id
    session.flush()
    record(session, "contract.recording", object_type="e_contract", object_id=contract.id,
           after={"recording_session_id": recording.id, "media_sha256": stored.sha256, "size": stored.size})
    return recording


def _media_type(data: bytes) -> str | None:
    """Audio/video containers by their magic bytes (what the browser claims is ignored)."""
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "video/webm"
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return None


@requires(Permission.LOAN_DISBURSE)
def review_recording(session: Session, recording_id: int, *, passed: bool, note: str = "") -> RecordingSession:
    """QC of a recording by a reviewer other than who recorded it: PASSED or FAILED (a failure needs a note)."""
    recording = session.scalars(select(RecordingSession).where(RecordingSession.id == recording_id)
                                .with_for_update()).first()
    if recording is None:
        raise NotFound(f"no recording session {recording_id}")
    if recording.qc_status != "PENDING":
        raise Conflict(f"recording session {recording_id} was already reviewed: {recording.qc_status}")
    user_id, _ = _who()
    if user_id is None:
        raise ContractError("a recording is reviewed by a person")
    if user_id == recording.recorded_by_id:
        raise Conflict("the person who recorded the session cannot review it (segregation of duties)")
    if not passed and not note.strip():
        raise ContractError("say why the recording failed QC")
    recording.qc_status = "PASSED" if passed else "FAILED"
    recording.qc_reviewer_id = user_id
    recording.qc_note = note.strip()
    recording.qc_at = _now()
    session.flush()
    record(session, "contract.recording.qc", object_type="recording_session", object_id=recording.id,
           before={"qc_status": "PENDING"}, after={"qc_status": recording.qc_status, "note": recording.qc_note})
    if recording.subject_type == "LOAN_SIGNING" and passed:
        contract = get_contract(session, recording.subject_id, lock=True)
        if contract.recording_session_id == recording.id:
            _advance(session, contract)
    return recording


def disbursement_problems(session: Session, contract: EContract) -> list[str]:
    """Everything that forbids paying out on ``contract`` (empty: it may be disbursed).

    The invariant of DOMAIN §2.3: the stored PDF still hashes to the recorded SHA-256, every party has signed that
    hash with a signature that still verifies, and the face-signing recording exists and passed QC.
    """
    problems = []
    if contract.status == "VOIDED":
        problems.append(f"contract {contract.reference} is voided")
    file_problem = _check_file(contract)
    if file_problem:
        problems.append(file_problem)
    signatures = {s.party_id: s for s in signatures_of(session, contract.id)}
    for party in parties_of(session, contract.id):
        signature = signatures.get(party.id)
        if signature is None:
            problems.append(f"{party.name} ({party.role}) has not signed")
        elif signature.signed_hash != contract.pdf_sha256 or not verify_signature(session, signature):
            problems.append(f"the signature of {party.name} ({party.role}) does not verify")
    recording = session.get(RecordingSession, contract.recording_session_id) if contract.recording_session_id else None
    if recording is None:
        problems.append("no face-signing recording (双录)")
    elif recording.qc_status != "PASSED":
        problems.append(f"the face-signing recording's QC is {recording.qc_status}")
    return problems


def contract_pdf(session: Session, contract_id: int) -> tuple[EContract, bytes]:
    authorize(Permission.APPLICATION_READ)
    contract = get_contract(session, contract_id)
    return contract, file_store().get(contract.file_key)
