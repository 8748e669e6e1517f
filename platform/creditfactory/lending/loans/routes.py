"""Loan servicing API: read a loan (schedule, transactions, postings, classification), post repayments and
reversals, payoff quotes, COB status. Thin: the services authorize and do the work."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from sqlalchemy import bindparam, select, text

from ...db import tenant_session
from ...errors import NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from ..classification import services as classification
from ..classification.models import ClassificationEvent
from ..cob import services as cob
from . import schemas, services
from .models import Installment, LoanAccount, LoanTransaction

blp = Blueprint("loans", __name__, url_prefix="/loans", description="Loan accounts: servicing, ledger, COB.")


def _loan(session, reference: str) -> LoanAccount:
    loan = session.scalars(select(LoanAccount).where(LoanAccount.reference == reference)).first()
    if loan is None:
        raise NotFound(f"no loan {reference}")
    return loan


def _read(fn):
    with tenant_session() as session, session.begin():
        authorize(Permission.LOAN_READ)
        return fn(session)


@blp.route("/cob")
class CobStatusViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.CobStatusSchema)
    def get(self) -> dict[str, Any]:
        """The bank's business date, its last close of business, and its prudential ratios"""
        return _read(lambda s: {**cob.status(s), "ratios": {k: (str(v) if v is not None and not isinstance(v, dict)
                                                                 else v) for k, v in classification.ratios(s).items()}})


@blp.route("/<string:reference>")
class LoanViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.LoanSchema)
    def get(self, reference: str) -> LoanAccount:
        """One loan account with its balances, state, DPD and class"""
        return _read(lambda s: _loan(s, reference))


def _rows_of_loan(session, reference: str, query) -> list[dict[str, Any]]:
    """Rows of a listing that finds the loan by its reference in a subquery: one round trip. Only when nothing
    comes back is the loan looked up, to tell an unknown loan (404) from an empty page."""
    rows = [dict(r) for r in session.execute(query).mappings()]
    if not rows:
        _loan(session, reference)
    return rows


_OF_LOAN = select(LoanAccount.id).where(LoanAccount.reference == bindparam("reference")).scalar_subquery()


@blp.route("/<string:reference>/schedule")
class ScheduleViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.ScheduleQuerySchema, location="query")
    @blp.response(200, schemas.InstallmentSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> list[dict[str, Any]]:
        """Every schedule version's instalments (restructuring keeps the old versions), or ``version``'s"""
        columns = [getattr(Installment, name) for name in schemas.InstallmentSchema().fields]
        query = select(*columns).where(Installment.loan_id == _OF_LOAN)
        if args["version"] is not None:
            query = query.where(Installment.version == args["version"])
        query = query.order_by(Installment.version, Installment.seq).params(reference=reference)
        return _read(lambda s: _rows_of_loan(s, reference, query))


@blp.route("/<string:reference>/transactions")
class TransactionViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.TransactionQuerySchema, location="query")
    @blp.response(200, schemas.TransactionSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> list[dict[str, Any]]:
        """Disbursements, repayments, waivers and reversals, newest first, ``limit`` at a time (keyset ``before_id``)"""
        columns = [getattr(LoanTransaction, name) for name in schemas.TransactionSchema().fields]
        query = select(*columns).where(LoanTransaction.loan_id == _OF_LOAN)
        if args["before_id"] is not None:
            query = query.where(LoanTransaction.id < args["before_id"])
        query = query.order_by(LoanTransaction.id.desc()).limit(args["limit"]).params(reference=reference)
        return _read(lambda s: _rows_of_loan(s, reference, query))


@blp.route("/<string:reference>/postings")
class PostingViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.PostingQuerySchema, location="query")
    @blp.response(200, schemas.PostingSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> list[dict[str, Any]]:
        """The loan's ledger lines (daily accrual included), newest first, ``limit`` at a time"""
        # Two spellings rather than "(:before IS NULL OR entry_id < :before)", which the planner cannot turn
        # into an index range: each walks ix_journal_line_loan_entry backwards and stops after ``limit`` lines.
        keyset = "AND l.entry_id < :before" if args["before_entry"] is not None else ""
        query = text(f"""
            SELECT l.entry_id, e.business_date, e.kind, l.account_code, l.debit, l.credit
            FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id
            WHERE l.loan_id = (SELECT id FROM loan_account WHERE reference = :reference) {keyset}
            ORDER BY l.entry_id DESC, l.id DESC LIMIT :limit""").bindparams(
            reference=reference, limit=args["limit"], **({"before": args["before_entry"]} if keyset else {}))
        return _read(lambda s: _rows_of_loan(s, reference, query))


@blp.route("/<string:reference>/classification")
class ClassificationViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.ClassificationEventSchema(many=True))
    def get(self, reference: str) -> list[ClassificationEvent]:
        """Classification history: proposals, confirmations, rejections, upgrade requests"""
        def query(s):
            events = s.scalars(select(ClassificationEvent).where(ClassificationEvent.loan_id == _OF_LOAN)
                               .order_by(ClassificationEvent.id.desc()).params(reference=reference)).all()
            if not events:
                _loan(s, reference)
            return events
        return _read(query)


@blp.route("/<string:reference>/payoff-quote")
class PayoffViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.PayoffQuoteSchema)
    def get(self, reference: str) -> dict[str, Any]:
        """What settles the loan today"""
        def quote(s):
            q = services.payoff_quote(s, _loan(s, reference).id)
            return {"business_date": q.business_date, "principal": q.principal, "interest": q.interest,
                    "penalty": q.penalty, "total": q.total}
        return _read(quote)


@blp.route("/<string:reference>/repayments")
class RepaymentViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.RepaymentSchema)
    @blp.response(200, schemas.TransactionSchema)
    def post(self, args: dict[str, Any], reference: str):
        """Post a repayment (allocation order of the product); an Idempotency-Key posts it at most once"""
        key = request.headers.get("Idempotency-Key") or args["idempotency_key"]
        with tenant_session() as session, session.begin():
            txn, replayed = services.post_repayment(session, _loan(session, reference).id, args["amount"],
                                                    idempotency_key=key, note=args["note"], payoff=args["payoff"])
        return txn, 200, {"Idempotent-Replayed": "true" if replayed else "false"}


@blp.route("/<string:reference>/prepayments")
class PrepaymentViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.PrepaymentSchema)
    @blp.response(200, schemas.TransactionSchema)
    def post(self, args: dict[str, Any], reference: str):
        """Partial prepayment, then a new schedule version from the calculator (re-amortised or shorter term)"""
        from .prepayment import prepay

        key = request.headers.get("Idempotency-Key") or args["idempotency_key"]
        with tenant_session() as session, session.begin():
            txn, replayed = prepay(session, _loan(session, reference).id, args["amount"], mode=args["mode"],
                                   method=args["method"], idempotency_key=key, note=args["note"])
        return txn, 200, {"Idempotent-Replayed": "true" if replayed else "false"}


@blp.route("/<string:reference>/reversals")
class ReversalViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.ReversalSchema)
    @blp.response(200, schemas.TransactionSchema)
    def post(self, args: dict[str, Any], reference: str):
        """Reverse a repayment or waiver with a reason; repeating it returns the same reversal"""
        with tenant_session() as session, session.begin():
            loan = _loan(session, reference)
            query = select(LoanTransaction).where(LoanTransaction.loan_id == loan.id)
            if args["transaction_id"] is not None:
                query = query.where(LoanTransaction.id == args["transaction_id"])
            elif args["idempotency_key"]:
                query = query.where(LoanTransaction.idempotency_key == args["idempotency_key"])
            else:
                raise services.LoanError("name the posting to reverse: transaction_id or idempotency_key")
            txn = session.scalars(query).first()
            if txn is None:
                raise NotFound("no such posting on this loan")
            return services.reverse_transaction(session, txn.id, reason=args["reason"], idempotent=True)
