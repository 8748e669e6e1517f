"""Collections (DOMAIN §2.8) and post-loan inspections (§2.7).

The daily ``review`` (a tenant job after COB, also callable) is set-based SQL over the whole portfolio: it opens a
collection case for every loan that fell past due, moves open cases to the stage their DPD implies, closes cases
whose arrears are cleared, marks promises to pay kept or broken, queues pre-due reminders and schedules
post-loan inspections. Every statement is idempotent (partial unique indexes + ``ON CONFLICT DO NOTHING``), so
running it twice for one business date changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jinja2 import Environment, StrictUndefined
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ... import audit
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ...privacy import keys
from ..classification.models import CLASSES
from ..cob.dates import business_date as current_business_date
from ..loans.models import LoanAccount
from . import policy
from .models import (
    ACTION_KINDS, INSPECTION_METHODS, OUTCOMES, CollectionAction, CollectionCase, CollectionNotice, Inspection,
    PromiseToPay,
)

ZERO = Decimal("0.00")
OPEN_LOAN_STATES = "('active', 'overdue', 'restructured', 'in_litigation')"
#: The class an inspection outcome proposes as the loan's floor (COB then proposes the downgrade to a reviewer).
OUTCOME_CLASS = {"normal": None, "concern": "special_mention", "risk": "substandard"}


class CollectionError(DomainError):
    """A refused collections or inspection request."""


def _who() -> str:
    principal = CurrentPrincipal.get_or_none()
    return principal.username if principal is not None else "system"


# --------------------------------------------------------------------------------------------------- review
_STAGE = """CASE WHEN a.dpd > :late THEN 'late' WHEN a.dpd > :mid THEN 'mid' ELSE 'early' END"""

_OPEN_CASES = f"""
INSERT INTO collection_case (loan_id, status, stage, dpd, opened_on)
SELECT a.id, 'open', {_STAGE}, a.dpd, :d FROM loan_account a
WHERE a.dpd > 0 AND a.state IN {OPEN_LOAN_STATES}
ON CONFLICT (loan_id) WHERE status = 'open' DO NOTHING
"""

_UPDATE_CASES = f"""
UPDATE collection_case c SET stage = {_STAGE}, dpd = a.dpd, updated_at = now()
FROM loan_account a WHERE a.id = c.loan_id AND c.status = 'open' AND a.dpd > 0
  AND (c.dpd <> a.dpd OR c.stage <> {_STAGE})
"""

_CLOSE_CASES = f"""
UPDATE collection_case c SET status = 'closed', closed_on = :d, dpd = a.dpd, updated_at = now()
FROM loan_account a WHERE a.id = c.loan_id AND c.status = 'open'
  AND (a.dpd = 0 OR a.state NOT IN {OPEN_LOAN_STATES})
"""

# Paid towards a promise: repayments (not reversed) from the day it was made up to the promised date.
_PAID = """
(SELECT coalesce(sum(t.amount), 0) FROM loan_transaction t
 WHERE t.loan_id = p.loan_id AND t.kind IN ('repayment', 'payoff') AND NOT t.reversed
   AND t.business_date BETWEEN p.made_on AND least(p.promised_date, :d))
"""

_RESOLVE_PROMISES = f"""
UPDATE promise_to_pay p SET paid = x.paid, resolved_on = :d,
       status = CASE WHEN x.paid >= p.amount THEN 'kept' ELSE 'broken' END
FROM (SELECT p.id, {_PAID} AS paid FROM promise_to_pay p WHERE p.status = 'open') x
WHERE p.id = x.id AND (x.paid >= p.amount OR p.promised_date < :d)
"""

_REMINDERS = """
INSERT INTO collection_reminder (loan_id, installment_id, kind, due_date, amount, created_on, sent)
SELECT i.loan_id, i.id, 'pre_due', i.due_date,
       i.principal_due - i.principal_paid + i.interest_due - i.interest_paid, :d, false
FROM loan_installment i JOIN loan_account a ON a.id = i.loan_id AND a.schedule_version = i.version
WHERE i.status IN ('due', 'partial') AND i.due_date BETWEEN :d AND CAST(:d AS date) + :days
  AND a.state IN ('active', 'restructured')
ON CONFLICT (installment_id, kind) DO NOTHING
"""

# First check: loans never inspected, due first_check_days after disbursement.
_FIRST_CHECKS = f"""
INSERT INTO post_loan_inspection (loan_id, type, due_date, reason, early_warning_hits, business_status,
                                  new_debts, inspector)
SELECT a.id, 'first_check', a.disbursed_on + :first, 'first check after disbursement (funds use)', '[]', '', '', ''
FROM loan_account a
WHERE a.state IN {OPEN_LOAN_STATES}
  AND NOT EXISTS (SELECT 1 FROM post_loan_inspection i WHERE i.loan_id = a.id)
ON CONFLICT (loan_id) WHERE performed_on IS NULL DO NOTHING
"""

# Triggered: an early-warning signal (DPD above the threshold) turns a loan's pending inspection into a triggered
# one due today at the latest (or adds one): a single pending inspection per loan, never two.
_TRIGGERED_PULL = """
UPDATE post_loan_inspection i SET type = 'triggered', due_date = least(i.due_date, :d),
       reason = 'early warning: DPD ' || a.dpd, early_warning_hits = jsonb_build_array('dpd>' || :trigger)
FROM loan_account a
WHERE a.id = i.loan_id AND i.performed_on IS NULL AND a.dpd > :trigger
  AND i.type <> 'triggered'
"""

_TRIGGERED_NEW = f"""
INSERT INTO post_loan_inspection (loan_id, type, due_date, reason, early_warning_hits, business_status,
                                  new_debts, inspector)
SELECT a.id, 'triggered', :d, 'early warning: DPD ' || a.dpd, jsonb_build_array('dpd>' || :trigger), '', '', ''
FROM loan_account a
WHERE a.state IN {OPEN_LOAN_STATES} AND a.dpd > :trigger
  AND NOT EXISTS (SELECT 1 FROM post_loan_inspection i WHERE i.loan_id = a.id AND i.performed_on IS NULL)
  AND NOT EXISTS (SELECT 1 FROM post_loan_inspection i WHERE i.loan_id = a.id AND i.type = 'triggered'
                  AND i.performed_on > :d - 30)
ON CONFLICT (loan_id) WHERE performed_on IS NULL DO NOTHING
"""

# Routine: the next check after the last one performed, at the interval of the loan's class.
_ROUTINE = f"""
INSERT INTO post_loan_inspection (loan_id, type, due_date, reason, early_warning_hits, business_status,
                                  new_debts, inspector)
SELECT a.id, CASE WHEN a.maturity_date <= last.performed_on + iv.days THEN 'pre_maturity' ELSE 'routine' END,
       least(last.performed_on + iv.days, greatest(a.maturity_date - 15, last.performed_on + 1)),
       'routine check (' || a.risk_class || ', every ' || iv.days || ' days)', '[]', '', '', ''
FROM loan_account a
JOIN LATERAL (SELECT max(performed_on) AS performed_on FROM post_loan_inspection i WHERE i.loan_id = a.id) last
  ON last.performed_on IS NOT NULL
JOIN (SELECT * FROM jsonb_each_text(CAST(:intervals AS jsonb))) cls(risk_class, days_text)
  ON cls.risk_class = a.risk_class
CROSS JOIN LATERAL (SELECT CAST(cls.days_text AS integer) AS days) iv
WHERE a.state IN {OPEN_LOAN_STATES}
  AND NOT EXISTS (SELECT 1 FROM post_loan_inspection i WHERE i.loan_id = a.id AND i.performed_on IS NULL)
ON CONFLICT (loan_id) WHERE performed_on IS NULL DO NOTHING
"""


@dataclass(frozen=True)
class ReviewResult:
    business_date: dt.date
    cases_opened: int
    cases_closed: int
    promises_resolved: int
    reminders_queued: int
    inspections_scheduled: int


def review(session: Session, day: dt.date | None = None) -> ReviewResult:
    """The daily collections and post-loan review for ``day`` (default: the day COB last closed)."""
    import json

    authorize(Permission.COLLECTION_MANAGE, allow_system=True)
    if day is None:
        day = current_business_date(session) - dt.timedelta(days=1)
    values = policy.load(session)
    stage = {"d": day, "mid": int(values["collections.stage.mid_dpd"]),
             "late": int(values["collections.stage.late_dpd"])}
    opened = session.execute(text(_OPEN_CASES), stage).rowcount
    session.execute(text(_UPDATE_CASES), stage)
    closed = session.execute(text(_CLOSE_CASES), {"d": day}).rowcount
    resolved = session.execute(text(_RESOLVE_PROMISES), {"d": day}).rowcount
    # Reminders look ahead from the next business date (the one borrowers are in now).
    reminders = session.execute(text(_REMINDERS), {"d": day + dt.timedelta(days=1),
                                                   "days": int(values["collections.reminder_days"])}).rowcount
    trigger = int(values["inspection.trigger_dpd"])
    intervals = {c: int(values[f"inspection.interval_days.{c}"]) for c in CLASSES}
    scheduled = session.execute(text(_FIRST_CHECKS), {"first": int(values["inspection.first_check_days"])}).rowcount
    session.execute(text(_TRIGGERED_PULL), {"d": day, "trigger": trigger})
    scheduled += session.execute(text(_TRIGGERED_NEW), {"d": day, "trigger": trigger}).rowcount
    scheduled += session.execute(text(_ROUTINE), {"intervals": json.dumps(intervals)}).rowcount
    session.expire_all()
    return ReviewResult(day, opened, closed, resolved, reminders, scheduled)


# ------------------------------------------------------------------------------------------------ work list
_ARREARS = """
SELECT coalesce(sum(i.principal_due - i.principal_paid), 0) AS principal,
       coalesce(sum(i.interest_accrued - i.interest_paid), 0) AS interest,
       count(*) AS missed
FROM loan_installment i JOIN loan_account a ON a.id = i.loan_id AND a.schedule_version = i.version
WHERE i.loan_id = :loan AND i.status = 'overdue'
"""


def arrears(session: Session, loan_id: int) -> dict[str, Any]:
    row = session.execute(text(_ARREARS), {"loan": loan_id}).mappings().one()
    loan = session.get(LoanAccount, loan_id)
    return {"principal": Decimal(row["principal"]), "interest": Decimal(row["interest"]),
            "penalty": loan.penalty_receivable, "missed_periods": int(row["missed"])}


def work_list(session: Session, *, status: str = "open", stage: str | None = None,
              collector_id: int | None = None, unassigned: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Open cases, worst first: loan, borrower, stage, DPD, arrears, next actions, open promise."""
    authorize(Permission.COLLECTION_MANAGE)
    values = policy.load(session)
    rows = session.execute(text("""
        SELECT c.id, c.loan_id, c.status, c.stage, c.dpd, c.collector_id, c.opened_on, c.closed_on,
               a.reference, a.state, a.principal_outstanding, a.penalty_receivable, a.risk_class, cu.name AS borrower,
               ar.principal AS arrear_principal, ar.interest AS arrear_interest,
               (SELECT max(x.action_date) FROM collection_action x WHERE x.case_id = c.id) AS last_action_on,
               (SELECT p.promised_date FROM promise_to_pay p WHERE p.case_id = c.id AND p.status = 'open'
                ORDER BY p.promised_date LIMIT 1) AS promised_date
        FROM collection_case c JOIN loan_account a ON a.id = c.loan_id JOIN customer cu ON cu.id = a.customer_id
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(i.principal_due - i.principal_paid), 0) AS principal,
                   coalesce(sum(i.interest_accrued - i.interest_paid), 0) AS interest
            FROM loan_installment i WHERE i.loan_id = a.id AND i.version = a.schedule_version
              AND i.status = 'overdue') ar ON true
        WHERE c.status = :status AND (CAST(:stage AS text) IS NULL OR c.stage = :stage)
          AND (CAST(:collector AS integer) IS NULL OR c.collector_id = :collector)
          AND (NOT :unassigned OR c.collector_id IS NULL)
        ORDER BY c.dpd DESC, c.id LIMIT :limit"""),
        {"status": status, "stage": stage, "collector": collector_id, "unassigned": unassigned,
         "limit": limit}).mappings().all()
    return [{**dict(r), "next_actions": list(values[f"collections.actions.{r['stage']}"])} for r in rows]


def get_case(session: Session, case_id: int, *, lock: bool = False) -> CollectionCase:
    case = session.get(CollectionCase, case_id, with_for_update=lock or None)
    if case is None:
        raise NotFound(f"no collection case {case_id}")
    return case


def case_detail(session: Session, case_id: int) -> dict[str, Any]:
    authorize(Permission.COLLECTION_MANAGE)
    case = get_case(session, case_id)
    loan = session.get(LoanAccount, case.loan_id)
    values = policy.load(session)
    return {
        "case": case, "loan": loan, "arrears": arrears(session, loan.id),
        "next_actions": list(values[f"collections.actions.{case.stage}"]),
        "actions": session.scalars(select(CollectionAction).where(CollectionAction.case_id == case.id)
                                   .order_by(CollectionAction.id.desc())).all(),
        "promises": session.scalars(select(PromiseToPay).where(PromiseToPay.case_id == case.id)
                                    .order_by(PromiseToPay.id.desc())).all(),
        "notices": session.scalars(select(CollectionNotice).where(CollectionNotice.case_id == case.id)
                                   .order_by(CollectionNotice.id.desc())).all(),
    }


def _open_case(session: Session, case_id: int) -> CollectionCase:
    case = get_case(session, case_id, lock=True)
    if case.status != "open":
        raise Conflict(f"collection case {case_id} is closed")
    return case


def assign(session: Session, case_id: int, collector_id: int | None) -> CollectionCase:
    """Assign a case to a collector (a user of this bank), or back to the pool with ``None``."""
    authorize(Permission.COLLECTION_MANAGE)
    case = _open_case(session, case_id)
    if collector_id is not None:
        found = session.execute(text("""
            SELECT 1 FROM cf_shared.membership m JOIN cf_shared.tenant t ON t.id = m.tenant_id
            WHERE m.user_id = :u AND m.context = 'tenant' AND t.slug = :slug LIMIT 1"""),
            {"u": collector_id, "slug": session.tenant.slug}).first()
        if not found:
            raise CollectionError(f"user {collector_id} does not work for this bank")
    before = case.collector_id
    case.collector_id = collector_id
    session.flush()
    audit.record(session, "collection.assign", object_type="collection_case", object_id=case.id,
                 before={"collector_id": before}, after={"collector_id": collector_id})
    return case


def log_action(session: Session, case_id: int, *, kind: str, arrear_reason: str = "", result_note: str = "",
               action_date: dt.date | None = None) -> CollectionAction:
    """Record a collection action with the arrears at that moment (DOMAIN §2.8 CollectionAction)."""
    authorize(Permission.COLLECTION_MANAGE)
    if kind not in ACTION_KINDS:
        raise CollectionError(f"unknown action {kind!r}; one of {', '.join(ACTION_KINDS)}")
    if not (arrear_reason.strip() or result_note.strip()):
        raise CollectionError("say what happened: a reason for the arrears or a result")
    case = _open_case(session, case_id)
    today = current_business_date(session)
    action_date = action_date or today
    if action_date > today:
        raise CollectionError("an action cannot be logged in the future")
    owed = arrears(session, case.loan_id)
    action = CollectionAction(case_id=case.id, loan_id=case.loan_id, kind=kind, action_date=action_date,
                              dpd=case.dpd, arrear_principal=owed["principal"],
                              arrear_interest=owed["interest"] + owed["penalty"],
                              arrear_reason=arrear_reason.strip(), result_note=result_note.strip(), collector=_who())
    session.add(action)
    session.flush()
    audit.record(session, "collection.action", object_type="collection_case", object_id=case.id,
                 after={"action": action.id, "kind": kind})
    return action


def promise(session: Session, case_id: int, *, amount: Any, promised_date: dt.date) -> PromiseToPay:
    """Record a promise to pay; the daily review marks it kept (paid in time) or broken (date passed)."""
    authorize(Permission.COLLECTION_MANAGE)
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise CollectionError(f"not an amount: {amount!r}") from None
    if value <= 0:
        raise CollectionError("a promise is for a positive amount")
    case = _open_case(session, case_id)
    today = current_business_date(session)
    if promised_date < today:
        raise CollectionError("the promised date is in the past")
    if session.scalars(select(PromiseToPay.id).where(PromiseToPay.case_id == case.id,
                                                     PromiseToPay.status == "open")).first():
        raise Conflict("this case already has an open promise to pay")
    row = PromiseToPay(case_id=case.id, loan_id=case.loan_id, amount=value, promised_date=promised_date,
                       made_on=today, status="open", paid=ZERO, created_by=_who())
    session.add(row)
    session.flush()
    audit.record(session, "collection.promise", object_type="collection_case", object_id=case.id,
                 after={"promise": row.id, "amount": str(value), "promised_date": promised_date.isoformat()})
    return row


# ---------------------------------------------------------------------------------------------------- notices
NOTICE_TEMPLATES = {
    "zh": """催收通知书

编号：{{ number }}
致：{{ borrower }}

您于 {{ disbursed_on }} 在本行借款（借据号 {{ reference }}），截至 {{ today }} 已逾期 {{ dpd }} 天。
逾期本金：{{ principal }} 元
逾期利息：{{ interest }} 元
罚息：{{ penalty }} 元
合计：{{ total }} 元

请于收到本通知之日起尽快归还上述欠款。本通知送达即构成对诉讼时效的中断（《民法典》第一百九十五条）。

{{ bank }}
{{ today }}

----------------------------------------------------------------
回执：本人已收到上述催收通知书。
借款人签字：________________    日期：________________
""",
    "en": """COLLECTION NOTICE

Number: {{ number }}
To: {{ borrower }}

Your loan {{ reference }} disbursed on {{ disbursed_on }} is {{ dpd }} days past due as of {{ today }}.
Overdue principal: {{ principal }} yuan
Overdue interest: {{ interest }} yuan
Penalty interest: {{ penalty }} yuan
Total: {{ total }} yuan

Please repay the amount above without delay. Delivery of this notice interrupts the limitation period
(Civil Code art. 195).

{{ bank }}
{{ today }}

----------------------------------------------------------------
Receipt: I have received this collection notice.
Borrower's signature: ________________    Date: ________________
""",
}
_NOTICE_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_SIGNING_INFO = b"creditfactory collection notice signature v1"


def _signing_key(key: keys.TenantKey) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SIGNING_INFO).derive(key.data_key)


def _sign(key: keys.TenantKey, digest: str) -> str:
    return hmac.new(_signing_key(key), digest.encode(), hashlib.sha256).hexdigest()


def issue_notice(session: Session, case_id: int, *, language: str = "zh") -> CollectionNotice:
    """Render, hash and sign a written collection notice (a text notice; the signature is the platform's HMAC
    under the tenant's data key, verifiable with :func:`verify_notice`)."""
    authorize(Permission.COLLECTION_MANAGE)
    if language not in NOTICE_TEMPLATES:
        raise CollectionError(f"no notice template for {language!r}")
    case = _open_case(session, case_id)
    loan = session.get(LoanAccount, case.loan_id)
    owed = arrears(session, loan.id)
    borrower = session.execute(text("SELECT name FROM customer WHERE id = :c"), {"c": loan.customer_id}).scalar()
    today = current_business_date(session)
    count = session.execute(text("SELECT count(*) FROM collection_notice WHERE case_id = :c"),
                            {"c": case.id}).scalar()
    total = owed["principal"] + owed["interest"] + owed["penalty"]
    bank = session.execute(text("SELECT name_zh, name_en FROM cf_shared.tenant WHERE slug = :s"),
                           {"s": session.tenant.slug}).first()
    bank_name = (bank[0] if language == "zh" else bank[1]) if bank is not None else session.tenant.slug
    body = _NOTICE_ENV.from_string(NOTICE_TEMPLATES[language]).render(
        number=f"{loan.reference}-{case.id}-{count + 1}", borrower=borrower, reference=loan.reference,
        disbursed_on=loan.disbursed_on.isoformat(), today=today.isoformat(), dpd=case.dpd,
        principal=owed["principal"], interest=owed["interest"], penalty=owed["penalty"], total=total,
        bank=bank_name)
    digest = hashlib.sha256(body.encode()).hexdigest()
    key = keys.active_key(session)
    notice = CollectionNotice(case_id=case.id, loan_id=loan.id, issued_on=today, language=language, body=body,
                              sha256=digest, signature=_sign(key, digest), key_id=key.key_id, created_by=_who())
    session.add(notice)
    session.flush()
    session.add(CollectionAction(case_id=case.id, loan_id=loan.id, kind="notice", action_date=today, dpd=case.dpd,
                                 arrear_principal=owed["principal"], arrear_interest=owed["interest"] + owed["penalty"],
                                 arrear_reason="", result_note=f"notice {notice.id} issued ({digest[:12]})",
                                 collector=_who()))
    session.flush()
    audit.record(session, "collection.notice", object_type="collection_case", object_id=case.id,
                 after={"notice": notice.id, "sha256": digest})
    return notice


def verify_notice(session: Session, notice: CollectionNotice) -> bool:
    """True when the stored text still hashes to ``sha256`` and the signature is the platform's."""
    digest = hashlib.sha256(notice.body.encode()).hexdigest()
    if not hmac.compare_digest(digest, notice.sha256):
        return False
    return hmac.compare_digest(_sign(keys.key_by_id(session, notice.key_id), digest), notice.signature)


def record_receipt(session: Session, notice_id: int, *, signed_on: dt.date, note: str = "") -> CollectionNotice:
    """The borrower's signed receipt (回执) came back: the date it was signed."""
    authorize(Permission.COLLECTION_MANAGE)
    notice = session.get(CollectionNotice, notice_id, with_for_update=True)
    if notice is None:
        raise NotFound(f"no collection notice {notice_id}")
    if notice.receipt_signed_on is not None:
        raise Conflict(f"the receipt of notice {notice_id} was recorded already")
    if signed_on < notice.issued_on or signed_on > current_business_date(session):
        raise CollectionError("the receipt date must be between the notice's date and today")
    notice.receipt_signed_on = signed_on
    notice.receipt_note = note.strip()
    session.flush()
    audit.record(session, "collection.notice_receipt", object_type="collection_notice", object_id=notice.id,
                 after={"signed_on": signed_on.isoformat()})
    return notice


# ------------------------------------------------------------------------------------------------ inspections
def inspection_list(session: Session, *, due_by: dt.date | None = None, pending: bool = True,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Pending inspections due by ``due_by`` (default: all pending), earliest first."""
    authorize(Permission.LOAN_READ)
    rows = session.execute(text("""
        SELECT i.id, i.loan_id, i.type, i.due_date, i.reason, i.performed_on, i.outcome, i.method,
               i.proposed_risk_class, a.reference, a.risk_class, a.dpd, a.state, cu.name AS borrower
        FROM post_loan_inspection i JOIN loan_account a ON a.id = i.loan_id JOIN customer cu ON cu.id = a.customer_id
        WHERE (i.performed_on IS NULL) = :pending AND (CAST(:due AS date) IS NULL OR i.due_date <= :due)
        ORDER BY CASE WHEN :pending THEN i.due_date END, i.performed_on DESC NULLS LAST, i.id LIMIT :limit"""),
        {"pending": pending, "due": due_by, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def record_inspection(session: Session, inspection_id: int, *, method: str, outcome: str,
                      funds_use_verified: bool | None = None, business_status: str = "", new_debts: str = "",
                      early_warning_hits: list[str] | None = None) -> Inspection:
    """Record a performed inspection. ``concern`` / ``risk`` set the loan's floor to special mention /
    substandard (never loosening a worse floor), so the next COB proposes the downgrade to a reviewer."""
    authorize(Permission.LOAN_SERVICE)
    if method not in INSPECTION_METHODS:
        raise CollectionError(f"unknown method {method!r}; one of {', '.join(INSPECTION_METHODS)}")
    if outcome not in OUTCOMES:
        raise CollectionError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    if outcome != "normal" and not (business_status.strip() or early_warning_hits):
        raise CollectionError("a concern or risk outcome needs the business status or early-warning hits")
    row = session.get(Inspection, inspection_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no inspection {inspection_id}")
    if row.performed_on is not None:
        raise Conflict(f"inspection {inspection_id} was recorded already")
    today = current_business_date(session)
    row.performed_on = today
    row.method = method
    row.outcome = outcome
    row.funds_use_verified = funds_use_verified
    row.business_status = business_status.strip()
    row.new_debts = new_debts.strip()
    row.early_warning_hits = list(early_warning_hits or []) + list(row.early_warning_hits or [])
    row.proposed_risk_class = OUTCOME_CLASS[outcome]
    row.inspector = _who()
    session.flush()
    proposed = OUTCOME_CLASS[outcome]
    if proposed is not None:
        from ..classification import services as classification

        loan = session.get(LoanAccount, row.loan_id)
        current = max(CLASSES.index(loan.class_floor) if loan.class_floor else 0, 0)
        if CLASSES.index(proposed) > current:
            classification.set_floor(session, loan.id, proposed,
                                     reason=f"post-loan inspection {row.id}: {outcome}")
    audit.record(session, "inspection.record", object_type="post_loan_inspection", object_id=row.id,
                 after={"outcome": outcome, "method": method, "proposed_class": proposed})
    return row
