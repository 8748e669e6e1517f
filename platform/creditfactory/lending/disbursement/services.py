"""Disbursement (DOMAIN §2.4): create (idempotent) → send through a payment adapter → settled / failed / reversed.

Settlement opens the loan account with the signed contract's schedule (``loans.open_loan``, which posts the
balanced disbursement entry Dr 1301 principal receivable / Cr 1001 cash and clearing), moves the application
CONTRACTED → DISBURSED and, once committed, fires the ``on_loan_disbursed`` plugin hook. Settling twice changes
nothing. Every step re-checks the contract (``contracts.services.disbursement_problems``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from ...audit import record
from ...errors import Conflict, DomainError, NotFound
from ...files.sniff import sniff
from ...files.store import file_store
from ...identity.authorization import requires
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ...plugins import get_host
from ... import settings as settings_module
from ..applications.models import LoanApplication
from ..applications.states import Event, State, transition
from ..contracts.models import EContract
from ..contracts.services import disbursement_problems, get_contract
from ..loans import services as loans
from ..products.services import terms_of
from . import adapters
from .models import MODES, SELF_PAYMENT_GROUNDS, Disbursement

log = logging.getLogger(__name__)

#: Self-payment ground → the product's regulatory parameter capping the amount (None: no amount cap).
GROUND_THRESHOLDS = {
    "personal_business": "entrusted_payment.personal_business_threshold",
    "undetermined_counterparty": "entrusted_payment.undetermined_counterparty_threshold",
    "no_non_cash_settlement": None,
}


class DisbursementError(DomainError):
    """Bad input for a disbursement."""


def _who() -> int | None:
    principal = CurrentPrincipal.get_or_none()
    return principal.user_id if principal is not None else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def get_disbursement(session: Session, disbursement_id: int, *, lock: bool = False) -> Disbursement:
    query = select(Disbursement).where(Disbursement.id == disbursement_id)
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no disbursement {disbursement_id}")
    if lock:
        session.refresh(row)
    return row


def _blockers(session: Session, contract: EContract) -> None:
    problems = disbursement_problems(session, contract)
    if problems:
        raise Conflict("the contract blocks disbursement: " + "; ".join(problems))


def _text(value: Any, name: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else str(value)
    if required and not value:
        raise DisbursementError(f"{name} is required")
    if len(value) > limit:
        raise DisbursementError(f"{name} is longer than {limit} characters")
    return value


@requires(Permission.LOAN_DISBURSE)
def create_disbursement(session: Session, contract_id: int, *, idempotency_key: str, payee_name: str,
                        payee_account: str, payee_bank: str = "", purpose: str = "", mode: str = "ENTRUSTED",
                        self_payment_ground: str | None = None, value_date: dt.date | None = None,
                        evidence: list[tuple[str, bytes]] | None = None,
                        adapter: str = adapters.DEFAULT_ADAPTER) -> tuple[Disbursement, bool]:
    """Create the disbursement of a signed contract; ``(disbursement, replayed)``.

    Entrusted payment (受托支付) by default: the payee is the borrower's counterparty and evidence of the
    transaction (purchase contract, invoice) is required. Self payment (自主支付) only on one of the grounds of
    DOMAIN §2.4 and within the product's regulatory threshold for it. The same ``idempotency_key`` returns the
    first disbursement (``replayed``); with a different request it is 409.
    """
    key = _text(idempotency_key, "idempotency_key", 100)
    evidence = evidence or []
    digest = hashlib.sha256(json.dumps({
        "contract": contract_id, "payee_name": payee_name, "payee_account": payee_account, "payee_bank": payee_bank,
        "purpose": purpose, "mode": mode, "ground": self_payment_ground,
        "value_date": value_date.isoformat() if value_date else None, "adapter": adapter,
        "evidence": [hashlib.sha256(data).hexdigest() for _, data in evidence]}, sort_keys=True).encode()).hexdigest()
    # Requests with one key take turns: a concurrent retry waits for the first and then finds it.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"disbursement:{key}"})
    existing = session.scalars(select(Disbursement).where(Disbursement.idempotency_key == key)).first()
    if existing is not None:
        if existing.request_digest != digest:
            raise Conflict(f"Idempotency-Key {key!r} was used for a different disbursement request")
        return existing, True
    contract = get_contract(session, contract_id, lock=True)
    application = session.get(LoanApplication, contract.application_id)
    if application.state != State.CONTRACTED.value:
        raise Conflict(f"application {application.reference} is {application.state}, not CONTRACTED")
    _blockers(session, contract)
    live = session.scalar(select(Disbursement.id).where(Disbursement.contract_id == contract.id,
                                                       Disbursement.status.in_(("PENDING", "SENT", "SETTLED"))))
    if live is not None:
        raise Conflict(f"contract {contract.reference} already has disbursement {live}")
    if mode not in MODES:
        raise DisbursementError(f"mode must be one of {', '.join(MODES)}")
    amount = Decimal(contract.amount)
    terms = terms_of(session, application.product_id)
    if mode == "SELF":
        if self_payment_ground not in SELF_PAYMENT_GROUNDS:
            raise DisbursementError("self payment needs a ground: " + ", ".join(SELF_PAYMENT_GROUNDS))
        code = GROUND_THRESHOLDS[self_payment_ground]
        if code is not None:
            threshold = terms.regulatory_value(code)
            if amount > threshold:
                raise DisbursementError(f"self payment on ground {self_payment_ground} is allowed up to {threshold} "
                                        f"yuan (product parameter regulatory.{code}); this loan is {amount}: "
                                        "use entrusted payment")
    elif self_payment_ground is not None:
        raise DisbursementError("a self-payment ground is only given with mode SELF")
    if mode == "ENTRUSTED" and not evidence:
        raise DisbursementError("entrusted payment needs evidence of the transaction (purchase contract, invoice)")
    adapters.get_adapter(adapter)
    stored_evidence = []
    limit = settings_module.get().upload_max_bytes
    for filename, data in evidence:
        if not data or len(data) > limit:
            raise DisbursementError(f"evidence {filename!r} is empty or larger than {limit} bytes")
        content_type = sniff(data)
        if content_type is None:
            raise DisbursementError(f"evidence {filename!r} is not a photo or PDF")
        stored = file_store().put(session.info["tenant"].slug, data)
        stored_evidence.append({"key": stored.key, "sha256": stored.sha256, "content_type": content_type,
                                "filename": (filename or "evidence")[-200:]})
    disbursement = Disbursement(
        idempotency_key=key, request_digest=digest, contract_id=contract.id, application_id=application.id,
        amount=amount, mode=mode, self_payment_ground=self_payment_ground if mode == "SELF" else None,
        payee_name=_text(payee_name, "payee_name", 200), payee_account=_text(payee_account, "payee_account", 64),
        payee_bank=_text(payee_bank, "payee_bank", 200, required=False), purpose=_text(purpose, "purpose", 2000,
                                                                                       required=False),
        evidence=stored_evidence, value_date=value_date, adapter=adapter, status="PENDING", created_by_id=_who())
    session.add(disbursement)
    session.flush()
    record(session, "disbursement.create", object_type="disbursement", object_id=disbursement.id,
           after={"contract": contract.reference, "amount": amount, "mode": mode, "ground": self_payment_ground,
                  "payee_name": disbursement.payee_name, "evidence": [e["sha256"] for e in stored_evidence]})
    return disbursement, False


@requires(Permission.LOAN_DISBURSE)
def send(session: Session, disbursement_id: int) -> Disbursement:
    """Hand the payment order to the adapter: PENDING → SENT (sending a SENT one again changes nothing)."""
    disbursement = get_disbursement(session, disbursement_id, lock=True)
    if disbursement.status == "SENT":
        return disbursement
    if disbursement.status != "PENDING":
        raise Conflict(f"disbursement {disbursement.id} is {disbursement.status}; only a PENDING one is sent")
    contract = get_contract(session, disbursement.contract_id)
    _blockers(session, contract)
    if disbursement.value_date is None:
        disbursement.value_date = loans.current_business_date(session)
    disbursement.adapter_ref = adapters.get_adapter(disbursement.adapter).send(session, disbursement,
                                                                               reference=contract.reference)
    disbursement.status, disbursement.sent_at = "SENT", _now()
    session.flush()
    record(session, "disbursement.send", object_type="disbursement", object_id=disbursement.id,
           before={"status": "PENDING"}, after={"status": "SENT", "adapter": disbursement.adapter,
                                                "adapter_ref": disbursement.adapter_ref})
    return disbursement


@requires(Permission.LOAN_DISBURSE, allow_system=True)
def mark_settled(session: Session, disbursement_id: int, *, core_banking_ref: str) -> Disbursement:
    """The core banking paid out: open the loan, post the disbursement, application → DISBURSED.

    Settling a SETTLED disbursement again (same or no new reference) changes nothing.
    """
    disbursement = get_disbursement(session, disbursement_id, lock=True)
    ref = _text(core_banking_ref, "core_banking_ref", 64)
    if disbursement.status == "SETTLED":
        if ref != disbursement.core_banking_ref:
            raise Conflict(f"disbursement {disbursement.id} was settled with core banking reference "
                           f"{disbursement.core_banking_ref}")
        return disbursement
    if disbursement.status != "SENT":
        raise Conflict(f"disbursement {disbursement.id} is {disbursement.status}; only a SENT one settles")
    contract = get_contract(session, disbursement.contract_id, lock=True)
    _blockers(session, contract)
    application = session.get(LoanApplication, disbursement.application_id)
    terms = terms_of(session, application.product_id)
    loan = loans.open_loan(
        session, reference=contract.reference.removeprefix("HT-"), customer_id=application.customer_id,
        principal=disbursement.amount, annual_rate=contract.annual_rate,
        installments=contract.schedule["periods"], penalty_rate=terms.penalty_rate(Decimal(contract.annual_rate)),
        product_id=application.product_id, application_id=application.id,
        day_count=360 if terms.day_count == "act360" else 365, grace_days=terms.grace_days,
        allocation_order=terms.allocation_order)
    disbursement.loan_id = loan.id
    disbursement.core_banking_ref = ref
    disbursement.status, disbursement.settled_at = "SETTLED", _now()
    session.flush()
    transition(session, application, Event.DISBURSE,
               reason=f"disbursement {disbursement.id} settled, core banking reference {ref}")
    record(session, "disbursement.settle", object_type="disbursement", object_id=disbursement.id,
           before={"status": "SENT"}, after={"status": "SETTLED", "loan_id": loan.id, "core_banking_ref": ref})
    _after_commit(session, loan.id, str(disbursement.amount))
    return disbursement


def _after_commit(session: Session, loan_id: int, amount: str) -> None:
    """Fire ``on_loan_disbursed`` once the settlement is committed (never for a rolled-back one)."""
    def fire(_session: Session) -> None:
        try:
            get_host().call("on_loan_disbursed", loan_id=loan_id, amount=amount)
        except Exception:  # noqa: BLE001 - a plugin never undoes a committed disbursement
            log.exception("on_loan_disbursed failed for loan %s", loan_id)
    event.listen(session, "after_commit", fire, once=True)


@requires(Permission.LOAN_DISBURSE, allow_system=True)
def mark_failed(session: Session, disbursement_id: int, *, reason: str) -> Disbursement:
    """The payment was refused (wrong account, ...): PENDING/SENT → FAILED. A new disbursement may follow."""
    return _close(session, disbursement_id, "FAILED", reason, ("PENDING", "SENT"))


@requires(Permission.LOAN_DISBURSE, allow_system=True)
def mark_reversed(session: Session, disbursement_id: int, *, reason: str) -> Disbursement:
    """The payment was sent and came back (退汇) before settlement: SENT → REVERSED."""
    return _close(session, disbursement_id, "REVERSED", reason, ("SENT",))


def _close(session: Session, disbursement_id: int, status: str, reason: str, allowed: tuple[str, ...]) -> Disbursement:
    disbursement = get_disbursement(session, disbursement_id, lock=True)
    reason = _text(reason, "reason", 2000)
    if disbursement.status == status:
        return disbursement
    if disbursement.status not in allowed:
        raise Conflict(f"disbursement {disbursement.id} is {disbursement.status}; it cannot become {status}")
    before = disbursement.status
    disbursement.status, disbursement.failure_reason = status, reason
    session.flush()
    record(session, f"disbursement.{status.lower()}", object_type="disbursement", object_id=disbursement.id,
           before={"status": before}, after={"status": status, "reason": reason})
    return disbursement


def queue(session: Session, *, statuses: tuple[str, ...] = ("PENDING", "SENT")) -> list[Disbursement]:
    return list(session.scalars(select(Disbursement).where(Disbursement.status.in_(statuses))
                                .order_by(Disbursement.id)))
