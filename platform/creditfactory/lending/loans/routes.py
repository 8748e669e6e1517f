"""Loan servicing API: read a loan (schedule, transactions, postings, classification), post repayments and
reversals, payoff quotes, COB status. Thin: the services authorize and do the work."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from sqlalchemy import select, text

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
from .models import LoanAccount, LoanTransaction

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


def _json_of(schema: ma.Schema) -> str:
    """``json_build_object(...)`` of ``schema``'s fields as the schema dumps them (decimals as strings, dates ISO),
    so PostgreSQL writes the listing's JSON: no ORM objects and no marshmallow dump of every row in Python.
    tests/test_servicing_api.py compares the two for every listing built this way."""
    pairs = []
    for name, field in schema.fields.items():
        value = f"r.{name}::text" if isinstance(field, ma.fields.Decimal) else f"r.{name}"
        pairs.append(f"'{name}', {value}")
    return f"json_build_object({', '.join(pairs)})"


def _listing(session, reference: str, schema: ma.Schema, rows_sql: str, order: str,
             params: dict[str, Any]) -> Response:
    """One statement: whether the loan exists, and its rows (``rows_sql`` selects them, ``:loan`` standing for the
    loan found by reference) aggregated to a JSON array, so an empty page and an unknown loan (404) cost no
    second round trip."""
    found, body = session.execute(text(f"""
        WITH loan AS (SELECT id FROM loan_account WHERE reference = :reference),
             r AS ({rows_sql.replace(":loan", "(SELECT id FROM loan)")})
        SELECT EXISTS (SELECT 1 FROM loan), coalesce(json_agg({_json_of(schema)} ORDER BY {order})::text, '[]')
        FROM r"""), {**params, "reference": reference}).one()
    if not found:
        raise NotFound(f"no loan {reference}")
    return Response(body, mimetype="application/json")


@blp.route("/<string:reference>/schedule")
class ScheduleViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.ScheduleQuerySchema, location="query")
    @blp.response(200, schemas.InstallmentSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> Response:
        """Every schedule version's instalments (restructuring keeps the old versions), or ``version``'s"""
        version = "AND version = :version" if args["version"] is not None else ""
        return _read(lambda s: _listing(
            s, reference, schemas.InstallmentSchema(),
            f"SELECT * FROM loan_installment WHERE loan_id = :loan {version}", "r.version, r.seq",
            {"version": args["version"]} if version else {}))


@blp.route("/<string:reference>/transactions")
class TransactionViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.TransactionQuerySchema, location="query")
    @blp.response(200, schemas.TransactionSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> Response:
        """Disbursements, repayments, waivers and reversals, newest first, ``limit`` at a time (keyset ``before_id``)"""
        before = "AND id < :before" if args["before_id"] is not None else ""
        return _read(lambda s: _listing(
            s, reference, schemas.TransactionSchema(),
            f"SELECT * FROM loan_transaction WHERE loan_id = :loan {before} ORDER BY id DESC LIMIT :limit",
            "r.id DESC", {"limit": args["limit"], **({"before": args["before_id"]} if before else {})}))


@blp.route("/<string:reference>/postings")
class PostingViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.PostingQuerySchema, location="query")
    @blp.response(200, schemas.PostingSchema(many=True))
    def get(self, args: dict[str, Any], reference: str) -> Response:
        """The loan's ledger lines (daily accrual included), newest first, ``limit`` at a time"""
        # Two spellings rather than "(:before IS NULL OR entry_id < :before)", which the planner cannot turn
        # into an index range: each walks ix_journal_line_loan_entry backwards and stops after ``limit`` lines.
        before = "AND l.entry_id < :before" if args["before_entry"] is not None else ""
        return _read(lambda s: _listing(
            s, reference, schemas.PostingSchema(),
            f"""SELECT l.entry_id, l.id, e.business_date, e.kind, l.account_code, l.debit, l.credit
                FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id
                WHERE l.loan_id = :loan {before} ORDER BY l.entry_id DESC, l.id DESC LIMIT :limit""",
            "r.entry_id DESC, r.id DESC",
            {"limit": args["limit"], **({"before": args["before_entry"]} if before else {})}))


@blp.route("/<string:reference>/classification")
class ClassificationViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.ClassificationEventSchema(many=True))
    def get(self, reference: str) -> list[ClassificationEvent]:
        """Classification history: proposals, confirmations, rejections, upgrade requests"""
        def query(s):
            # The loan outer-joined to its events: no row is an unknown loan, one empty row a loan with no history.
            rows = s.execute(select(LoanAccount.id, ClassificationEvent).outerjoin(
                ClassificationEvent, ClassificationEvent.loan_id == LoanAccount.id).where(
                LoanAccount.reference == reference).order_by(ClassificationEvent.id.desc())).all()
            if not rows:
                raise NotFound(f"no loan {reference}")
            return [event for _, event in rows if event is not None]
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


@blp.route("/<string:reference>/restructuring")
class RestructureViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.RestructureSchema)
    @blp.response(200, schemas.LoanSchema)
    def post(self, args: dict[str, Any], reference: str) -> LoanAccount:
        """Restructure: a new schedule version for the outstanding principal (the old versions are kept)"""
        with tenant_session() as session, session.begin():
            loan = _loan(session, reference)
            rows = args["installments"]
            if rows is None:
                authorize(Permission.LOAN_SERVICE)
                rows = services.schedule_from_terms(session, loan, months=args["months"], method=args["method"])
            return services.restructure(session, loan.id, installments=rows, reason=args["reason"],
                                        financial_difficulty=args["financial_difficulty"])


@blp.route("/<string:reference>/litigation")
class LitigationViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.LoanReasonSchema)
    @blp.response(200, schemas.LoanSchema)
    def post(self, args: dict[str, Any], reference: str) -> LoanAccount:
        """Move an overdue loan to litigation (诉讼)"""
        with tenant_session() as session, session.begin():
            return services.file_litigation(session, _loan(session, reference).id, reason=args["reason"])


def _change(request) -> dict[str, Any]:
    return {"id": request.id, "kind": request.kind, "target": request.target, "status": request.status,
            "payload": request.payload, "made_at": request.made_at}


@blp.route("/<string:reference>/write-off")
class WriteOffViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.LoanReasonSchema)
    @blp.response(202, schemas.LoanChangeSchema)
    def post(self, args: dict[str, Any], reference: str) -> dict[str, Any]:
        """Ask to write the loan off; it is written off when a second person approves the change request"""
        with tenant_session() as session, session.begin():
            return _change(services.propose_write_off(session, _loan(session, reference).id, reason=args["reason"]))


@blp.route("/<string:reference>/waivers")
class WaiverViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.WaiverRequestSchema)
    @blp.response(202, schemas.LoanChangeSchema)
    def post(self, args: dict[str, Any], reference: str) -> dict[str, Any]:
        """Ask to waive interest and/or penalty; it is applied when a second person approves the change request"""
        with tenant_session() as session, session.begin():
            return _change(services.propose_waiver(session, _loan(session, reference).id, interest=args["interest"],
                                                   penalty=args["penalty"], reason=args["reason"]))


@blp.route("/<string:reference>/changes")
class LoanChangeViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.LoanChangeSchema(many=True))
    def get(self, reference: str) -> list[dict[str, Any]]:
        """The loan's waivers and write-offs waiting for a second person"""
        return _read(lambda s: [_change(c) for c in services.pending_changes(s, _loan(s, reference).id)])


@blp.route("/<string:reference>/upgrade-requests")
class UpgradeRequestViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.UpgradeRequestSchema)
    @blp.response(201, schemas.ClassificationEventSchema)
    def post(self, args: dict[str, Any], reference: str) -> ClassificationEvent:
        """Ask for a better class with evidence; a second person (config:approve) confirms it"""
        with tenant_session() as session, session.begin():
            return classification.request_upgrade(session, _loan(session, reference).id, to_class=args["to_class"],
                                                   reason=args["reason"], evidence=args["evidence"])


def _review_item(event: ClassificationEvent, loan: LoanAccount) -> dict[str, Any]:
    return {**{name: getattr(event, name) for name in schemas.ClassificationEventSchema().fields},
            "loan_reference": loan.reference, "loan_state": loan.state}


@blp.route("/classification-reviews")
class ReviewQueueViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.ReviewQuerySchema, location="query")
    @blp.response(200, schemas.ReviewItemSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Open classification proposals: COB's downgrades and upgrade requests, oldest first"""
        return _read(lambda s: [_review_item(e, loan) for e, loan in
                                classification.pending(s, limit=args["limit"], after_id=args["after_id"])])


def _decide(event_id: int, direction: str, decide) -> ClassificationEvent:
    with tenant_session() as session, session.begin():
        # The scope was checked; the service checks the permission and that the decider is not the proposer.
        event = session.get(ClassificationEvent, event_id)
        if event is None or event.direction != direction:
            raise NotFound(f"no {direction} proposal {event_id}")
        return decide(session)


@blp.route("/classification-reviews/<int:event_id>/confirmation")
class ReviewConfirmViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.response(200, schemas.ClassificationEventSchema)
    def post(self, event_id: int) -> ClassificationEvent:
        """Confirm a downgrade COB proposed (not one's own proposal)"""
        return _decide(event_id, "downgrade", lambda s: classification.confirm(s, event_id))


@blp.route("/classification-reviews/<int:event_id>/approval")
class ReviewApprovalViews(MethodView):
    @blp.auth(Scope.CONFIG_APPROVE)
    @blp.response(200, schemas.ClassificationEventSchema)
    def post(self, event_id: int) -> ClassificationEvent:
        """Approve an upgrade request (a second person: never one's own; not during an observation period)"""
        return _decide(event_id, "upgrade", lambda s: classification.confirm(s, event_id))


@blp.route("/classification-reviews/<int:event_id>/rejection")
class ReviewRejectViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.LoanReasonSchema)
    @blp.response(200, schemas.ClassificationEventSchema)
    def post(self, args: dict[str, Any], event_id: int) -> ClassificationEvent:
        """Reject a proposed downgrade, or withdraw one's own upgrade request, with a reason"""
        with tenant_session() as session, session.begin():
            return classification.reject(session, event_id, reason=args["reason"])


@blp.route("/classification-reviews/<int:event_id>/refusal")
class ReviewRefusalViews(MethodView):
    @blp.auth(Scope.CONFIG_APPROVE)
    @blp.arguments(schemas.LoanReasonSchema)
    @blp.response(200, schemas.ClassificationEventSchema)
    def post(self, args: dict[str, Any], event_id: int) -> ClassificationEvent:
        """Refuse someone else's upgrade request, with the reason its maker will read"""
        return _decide(event_id, "upgrade", lambda s: classification.reject(s, event_id, reason=args["reason"]))
