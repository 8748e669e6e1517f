"""Back-office loan pages (phone-first): the loan list and a loan account's view (balances, DPD, class, schedule
versions, transactions, ledger postings, classification history), the repayment form and the payoff quote; the
rest of the life cycle on the same page (prepayment, reversal, restructuring, litigation, waiver and write-off
requests with their approval by a second person, upgrade requests) and the classification review queue.

Reads and postings go through the same services and permissions as the API (`loan.read`, `loan.service`), so
audit and idempotency are the same whichever way a person works. Long histories are paged: the list and the
transactions by page, the ledger postings by keyset (ten years of daily accrual is thousands of lines)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from ...db import tenant_session
from ...errors import DomainError, NotFound
from ...identity import administration
from ...identity.authorization import authorize
from ...identity.errors import AccessDenied
from ...identity.permissions import Permission
from ...identity.portal import permission_required
from ...identity.principal import CurrentPrincipal
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from ..classification import services as classification
from ..classification.models import ClassificationEvent
from ..cob.dates import business_date
from ..customers.models import Customer
from . import services
from .models import Installment, LoanAccount, LoanTransaction, ScheduleVersion

blueprint = Blueprint("loan_pages", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/loans", url_prefix="/back-office")

PAGE_SIZE = 25
POSTINGS_PAGE = 20

STATE_LABELS = {"active": N_("Active"), "overdue": N_("Overdue"), "restructured": N_("Restructured"),
                "settled": N_("Settled"), "in_litigation": N_("In litigation"), "written_off": N_("Written off")}
CLASS_LABELS = {"normal": N_("Normal"), "special_mention": N_("Special mention"), "substandard": N_("Substandard"),
                "doubtful": N_("Doubtful"), "loss": N_("Loss")}
INSTALLMENT_LABELS = {"due": N_("Due"), "overdue": N_("Overdue"), "paid": N_("Paid"), "superseded": N_("Superseded")}
KIND_LABELS = {"disbursement": N_("Disbursement"), "repayment": N_("Repayment"), "payoff": N_("Payoff"),
               "reversal": N_("Reversal"), "waiver": N_("Waiver"), "draw": N_("Draw"), "write_off": N_("Write-off")}
SUB_GRADE_LABELS = {"normal_1": N_("Normal 1"), "normal_2": N_("Normal 2"), "normal_3": N_("Normal 3"),
                    "special_mention_1": N_("Special mention 1"), "special_mention_2": N_("Special mention 2"),
                    "special_mention_3": N_("Special mention 3"), "substandard_1": N_("Substandard 1"),
                    "substandard_2": N_("Substandard 2"), "doubtful": N_("Doubtful"), "loss": N_("Loss")}
EVENT_LABELS = {"proposed": N_("Proposed"), "confirmed": N_("Confirmed"), "rejected": N_("Rejected"),
                "closed": N_("Closed")}
TRIGGER_LABELS = {"dpd": N_("Days past due"), "restructuring": N_("Restructuring"), "contagion": N_("Debtor contagion"),
                  "manual_floor": N_("Manual floor"), "upgrade_request": N_("Upgrade request")}
CHANGE_LABELS = {"loan.waiver": N_("Waiver"), "loan.write_off": N_("Write-off")}
MODE_LABELS = {"reamortise": N_("Same term, smaller instalments"), "shorten_term": N_("Same instalment, shorter term")}
METHOD_LABELS = {"equal_installment": N_("Equal instalments"), "equal_principal": N_("Equal principal")}
#: What the page says after a successful action (``done=`` of the redirect).
NOTICES = {"prepaid": N_("Prepayment posted; the rest of the loan has a new schedule version."),
           "reversed": N_("Posting reversed."),
           "restructured": N_("Loan restructured: a new schedule version is current; the old one is kept."),
           "litigation": N_("Loan moved to litigation."),
           "waiver_requested": N_("Waiver requested: it applies when a second person approves it."),
           "write_off_requested": N_("Write-off requested: it takes effect when a second person approves it."),
           "approved": N_("Approved and applied."), "rejected": N_("Rejected."),
           "upgrade_requested": N_("Upgrade requested: a second person decides it in the review queue.")}


def _page_number(name: str) -> int:
    try:
        return max(int(request.args.get(name, "1")), 1)
    except ValueError:
        return 1


def _loan(session, reference: str) -> LoanAccount:
    loan = session.scalars(select(LoanAccount).where(LoanAccount.reference == reference)).first()
    if loan is None:
        raise NotFound(f"no loan {reference}")
    return loan


@blueprint.get("/loans")
@permission_required(Permission.LOAN_READ)
def loan_list() -> str:
    """Loans by reference or borrower, worst DPD first, a page at a time."""
    search, state, page = request.args.get("q", "").strip(), request.args.get("state", ""), _page_number("page")
    with tenant_session() as session, session.begin():
        query = select(LoanAccount, Customer.name).join(Customer, Customer.id == LoanAccount.customer_id)
        if search:
            query = query.where(or_(LoanAccount.reference.ilike(f"%{search}%"), Customer.name.ilike(f"%{search}%")))
        if state in STATE_LABELS:
            query = query.where(LoanAccount.state == state)
        # One row more than a page tells whether a next page exists without counting the whole portfolio.
        rows = session.execute(query.order_by(LoanAccount.dpd.desc(), LoanAccount.id.desc())
                               .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return render_template("loans/list.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page,
                           search=search, state=state, states=STATE_LABELS, classes=CLASS_LABELS)


def _postings(session, loan_id: int, before: int | None) -> list[dict[str, Any]]:
    from ..ledger.models import JournalEntry, JournalLine

    query = (select(JournalLine.entry_id, JournalEntry.business_date, JournalEntry.kind, JournalLine.account_code,
                    JournalLine.debit, JournalLine.credit)
             .join(JournalEntry, JournalEntry.id == JournalLine.entry_id).where(JournalLine.loan_id == loan_id))
    if before is not None:
        query = query.where(JournalLine.entry_id < before)
    return [dict(r) for r in session.execute(query.order_by(JournalLine.entry_id.desc(), JournalLine.id.desc())
                                             .limit(POSTINGS_PAGE + 1)).mappings()]


def _view(reference: str, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    tx_page = _page_number("tx_page")
    try:
        before = int(request.args["before_entry"]) if request.args.get("before_entry") else None
    except ValueError:
        before = None
    with tenant_session() as session, session.begin():
        authorize(Permission.LOAN_READ)
        loan = _loan(session, reference)
        customer = session.get(Customer, loan.customer_id)
        quote = services.payoff_quote(session, loan.id)
        installments = session.scalars(select(Installment).where(Installment.loan_id == loan.id)
                                       .order_by(Installment.version.desc(), Installment.seq)).all()
        versions = {v.version: v for v in session.scalars(select(ScheduleVersion)
                                                          .where(ScheduleVersion.loan_id == loan.id))}
        transactions = session.scalars(select(LoanTransaction).where(LoanTransaction.loan_id == loan.id)
                                       .order_by(LoanTransaction.id.desc())
                                       .offset((tx_page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        postings = _postings(session, loan.id, before)
        events = session.scalars(select(ClassificationEvent).where(ClassificationEvent.loan_id == loan.id)
                                 .order_by(ClassificationEvent.id.desc()).limit(PAGE_SIZE)).all()
        sub_grade = classification.sub_grade(session, loan)
        posted = None
        if request.args.get("posted"):
            posted = session.scalars(select(LoanTransaction).where(
                LoanTransaction.loan_id == loan.id, LoanTransaction.id == request.args.get("posted", type=int))).first()
        today = business_date(session)
        transaction_count = session.scalar(select(func.count()).select_from(LoanTransaction)
                                           .where(LoanTransaction.loan_id == loan.id))
        pending = services.pending_changes(session, loan.id)
        reversible = [t for t in transactions[:PAGE_SIZE] if t.kind in ("repayment", "payoff", "waiver")
                      and not t.reversed]
        open_review = session.scalars(select(ClassificationEvent).where(
            ClassificationEvent.loan_id == loan.id, ClassificationEvent.status == "proposed")).first()
    principal = CurrentPrincipal.get()
    schedule: dict[int, list[Installment]] = {}
    for row in installments:
        schedule.setdefault(row.version, []).append(row)
    return render_template(
        "loans/loan.html", loan=loan, customer=customer, quote=quote, schedule=schedule, versions=versions,
        transactions=transactions[:PAGE_SIZE], tx_page=tx_page, tx_more=len(transactions) > PAGE_SIZE,
        transaction_count=transaction_count, postings=postings[:POSTINGS_PAGE],
        postings_next=postings[POSTINGS_PAGE - 1]["entry_id"] if len(postings) > POSTINGS_PAGE else None,
        before=before, events=events, sub_grade=sub_grade, posted=posted,
        replayed=request.args.get("replayed") == "1", today=today, error=error,
        may_post=principal.has(Permission.LOAN_SERVICE), idempotency_key=str(uuid.uuid4()),
        may_approve=principal.has(Permission.CONFIG_APPROVE), pending=pending, reversible=reversible,
        open_review=open_review, notice=NOTICES.get(request.args.get("done", "")), change_labels=CHANGE_LABELS,
        modes=MODE_LABELS, methods=METHOD_LABELS, better_classes=[c for c in CLASS_LABELS if c != "loss"
                                                                  and list(CLASS_LABELS).index(c)
                                                                  < list(CLASS_LABELS).index(loan.risk_class)],
        form=request.form, states=STATE_LABELS, classes=CLASS_LABELS, installment_labels=INSTALLMENT_LABELS,
        kinds=KIND_LABELS, event_labels=EVENT_LABELS, sub_grades=SUB_GRADE_LABELS), status


@blueprint.get("/loans/<string:reference>")
@login_required  # loan.read is checked in _view, so a page naming no loan is a 404 for those who may read loans
def loan_page(reference: str) -> tuple[str, int]:
    return _view(reference)


@blueprint.post("/loans/<string:reference>/repayments")
@permission_required(Permission.LOAN_SERVICE)
def post_repayment(reference: str) -> Response | tuple[str, int]:
    """The form carries an Idempotency-Key made when the page was drawn: submitting it twice posts once."""
    form = request.form
    try:
        with tenant_session() as session, session.begin():
            loan = _loan(session, reference)
            payoff = form.get("payoff") == "1"
            amount = form.get("amount", "").replace(",", "").strip()
            if payoff:
                amount = str(services.payoff_quote(session, loan.id).total)
            txn, replayed = services.post_repayment(session, loan.id, amount,
                                                    idempotency_key=form.get("idempotency_key", "").strip(),
                                                    note=form.get("note", "").strip(), payoff=payoff)
            txn_id = txn.id
    except DomainError as error:
        if error.status == 404:
            raise
        return _view(reference, error=str(error), status=error.status)
    return redirect(url_for("loan_pages.loan_page", reference=reference, posted=txn_id,
                            replayed="1" if replayed else "0") + "#posted")


def _act(reference: str, action, done: str) -> Response | tuple[str, int]:
    """Run ``action(session, loan)`` in one unit of work; refused input is shown on the loan page, changing nothing."""
    try:
        with tenant_session() as session, session.begin():
            action(session, _loan(session, reference))
    except DomainError as error:
        if error.status == 404:
            raise
        return _view(reference, error=str(error), status=error.status)
    except AccessDenied as refused:
        # The maker deciding their own request: said on the page, not on an error page.
        return _view(reference, error=str(refused), status=403)
    return redirect(url_for("loan_pages.loan_page", reference=reference, done=done) + "#notice")


def _field(name: str) -> str:
    return request.form.get(name, "").replace(",", "").strip() if name in ("amount", "interest", "penalty") \
        else request.form.get(name, "").strip()


@blueprint.post("/loans/<string:reference>/prepayments")
@permission_required(Permission.LOAN_SERVICE)
def prepay(reference: str) -> Response | tuple[str, int]:
    """Partial prepayment (re-amortised or shorter term); the form's Idempotency-Key posts it once."""
    from .prepayment import prepay as post_prepayment

    return _act(reference, lambda s, loan: post_prepayment(
        s, loan.id, _field("amount"), mode=_field("mode"), method=_field("method") or "equal_installment",
        idempotency_key=_field("idempotency_key"), note=_field("note")), "prepaid")


@blueprint.post("/loans/<string:reference>/reversals")
@permission_required(Permission.LOAN_SERVICE)
def reverse(reference: str) -> Response | tuple[str, int]:
    """Reverse one of the loan's repayments or waivers with a reason; a repeated form returns the same reversal."""
    def action(s, loan):
        txn = s.scalars(select(LoanTransaction).where(
            LoanTransaction.loan_id == loan.id,
            LoanTransaction.id == request.form.get("transaction_id", type=int))).first()
        if txn is None:
            raise services.LoanError("choose a posting of this loan to reverse")
        services.reverse_transaction(s, txn.id, reason=_field("reason"), idempotent=True)
    return _act(reference, action, "reversed")


@blueprint.post("/loans/<string:reference>/restructuring")
@permission_required(Permission.LOAN_SERVICE)
def restructure(reference: str) -> Response | tuple[str, int]:
    """New terms for the outstanding principal: a new schedule version from today; the old version is kept."""
    def action(s, loan):
        months = request.form.get("months", type=int)
        if months is None:
            raise services.LoanError("give the new term in months")
        rows = services.schedule_from_terms(s, loan, months=months, method=_field("method") or "equal_installment")
        services.restructure(s, loan.id, installments=rows, reason=_field("reason"),
                             financial_difficulty=request.form.get("financial_difficulty", "1") == "1")
    return _act(reference, action, "restructured")


@blueprint.post("/loans/<string:reference>/litigation")
@permission_required(Permission.LOAN_SERVICE)
def litigate(reference: str) -> Response | tuple[str, int]:
    def action(s, loan):
        if not _field("reason"):
            raise services.LoanError("litigation needs a reason")
        services.file_litigation(s, loan.id, reason=_field("reason"))
    return _act(reference, action, "litigation")


@blueprint.post("/loans/<string:reference>/waivers")
@permission_required(Permission.LOAN_SERVICE)
def request_waiver(reference: str) -> Response | tuple[str, int]:
    return _act(reference, lambda s, loan: services.propose_waiver(
        s, loan.id, interest=_field("interest") or "0", penalty=_field("penalty") or "0", reason=_field("reason")),
        "waiver_requested")


@blueprint.post("/loans/<string:reference>/write-off")
@permission_required(Permission.LOAN_SERVICE)
def request_write_off(reference: str) -> Response | tuple[str, int]:
    return _act(reference, lambda s, loan: services.propose_write_off(s, loan.id, reason=_field("reason")),
                "write_off_requested")


@blueprint.post("/loans/<string:reference>/changes/<int:change_id>")
@permission_required(Permission.CONFIG_APPROVE)
def decide_change(reference: str, change_id: int) -> Response | tuple[str, int]:
    """The second person approves or rejects (with a reason) one of this loan's waiver or write-off requests."""
    decision = request.form.get("decision")

    def action(s, loan):
        if change_id not in {c.id for c in services.pending_changes(s, loan.id)}:
            raise services.LoanError("this request is no longer waiting for approval")
        if decision == "approve":
            administration.approve_change(s, change_id)
        elif decision == "reject":
            administration.reject_change(s, change_id, _field("reason")[:2000])
        else:
            raise services.LoanError("approve or reject")
    return _act(reference, action, "approved" if decision == "approve" else "rejected")


@blueprint.post("/loans/<string:reference>/upgrade-requests")
@permission_required(Permission.LOAN_SERVICE)
def request_upgrade(reference: str) -> Response | tuple[str, int]:
    return _act(reference, lambda s, loan: classification.request_upgrade(
        s, loan.id, to_class=_field("to_class"), reason=_field("reason"),
        evidence={"note": _field("evidence")} if _field("evidence") else {}), "upgrade_requested")


REVIEW_PAGE = 50


@blueprint.get("/classification-reviews")
@permission_required(Permission.LOAN_READ)
def review_queue() -> tuple[str, int]:
    """Open proposals, oldest first: COB's downgrades (loan.service confirms) and upgrade requests (a second person
    with config.approve approves), each with its evidence."""
    return _reviews()


def _reviews(error: str | None = None, status: int = 200) -> tuple[str, int]:
    after = request.args.get("after", type=int)
    with tenant_session() as session, session.begin():
        rows = classification.pending(session, limit=REVIEW_PAGE + 1, after_id=after)
    principal = CurrentPrincipal.get()
    return render_template(
        "loans/reviews.html", rows=rows[:REVIEW_PAGE], next_after=rows[REVIEW_PAGE - 1][0].id
        if len(rows) > REVIEW_PAGE else None, after=after, error=error, classes=CLASS_LABELS,
        triggers=TRIGGER_LABELS, states=STATE_LABELS, may_confirm=principal.has(Permission.LOAN_SERVICE),
        may_approve=principal.has(Permission.CONFIG_APPROVE), me=principal.username,
        done=request.args.get("done")), status


@blueprint.post("/classification-reviews/<int:event_id>")
@login_required  # confirming a downgrade needs loan.service, approving an upgrade config.approve: the service decides
def decide_review(event_id: int) -> Response | tuple[str, int]:
    decision = request.form.get("decision")
    try:
        with tenant_session() as session, session.begin():
            if decision == "confirm":
                classification.confirm(session, event_id)
            elif decision == "reject":
                classification.reject(session, event_id, reason=_field("reason"))
            else:
                raise classification.ClassificationError("confirm or reject")
    except DomainError as error:
        if error.status == 404:
            raise
        return _reviews(str(error), error.status)
    except AccessDenied as refused:
        return _reviews(str(refused), 403)
    return redirect(url_for("loan_pages.review_queue", done=decision))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("loan_pages.loan_list", N_("Loans"), Permission.LOAN_READ, order=42))
    register_nav(NavLink("loan_pages.review_queue", N_("Classification review"), Permission.LOAN_READ, order=43))
