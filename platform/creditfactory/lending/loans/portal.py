"""Back-office loan pages (phone-first): the loan list and a loan account's view (balances, DPD, class, schedule
versions, transactions, ledger postings, classification history), the repayment form and the payoff quote.

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
from ...identity.authorization import authorize
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


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("loan_pages.loan_list", N_("Loans"), Permission.LOAN_READ, order=42))
