"""Disbursement API: create (Idempotency-Key), the queue, send, settled / failed / reversed. Thin: the services
authorize and do the work."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from sqlalchemy import select

from ...db import tenant_session
from ...errors import DomainError
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from ..applications.models import LoanApplication
from ..contracts.services import get_contract
from ..customers import services as customers
from . import schemas, services
from .models import Disbursement

blp = Blueprint("disbursements", __name__, url_prefix="/disbursements",
                description="Disbursement: entrusted / self payment, payment adapters, settlement.")


def evidence_of(session, contract_id: int, document_ids: list[int]) -> list[tuple[str, bytes]]:
    """The borrower's documents named as evidence, as (filename, bytes)."""
    if not document_ids:
        return []
    contract = get_contract(session, contract_id)
    customer_id = session.scalar(select(LoanApplication.customer_id)
                                 .where(LoanApplication.id == contract.application_id))
    out = []
    for document_id in document_ids:
        document, data = customers.read_document(session, customer_id, document_id)
        out.append((document.filename, data))
    return out


@blp.route("")
class DisbursementsViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.arguments(schemas.QueueQuerySchema, location="query")
    @blp.response(200, schemas.DisbursementSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[Disbursement]:
        """The disbursement queue (default: PENDING and SENT)"""
        with tenant_session() as session, session.begin():
            authorize(Permission.LOAN_READ)
            return services.queue(session, statuses=tuple(args["status"]))

    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.CreateSchema)
    @blp.response(201, schemas.DisbursementSchema)
    def post(self, args: dict[str, Any]):
        """Create the disbursement of a signed contract; idempotent per Idempotency-Key (header or body)"""
        key = request.headers.get("Idempotency-Key") or args.pop("idempotency_key", None)
        args.pop("idempotency_key", None)
        if not key:
            raise DomainError("an Idempotency-Key (header or idempotency_key) is required")
        document_ids = args.pop("evidence_document_ids")
        contract_id = args.pop("contract_id")
        with tenant_session() as session, session.begin():
            evidence = evidence_of(session, contract_id, document_ids)
            disbursement, replayed = services.create_disbursement(session, contract_id, idempotency_key=key,
                                                                  evidence=evidence, **args)
        return disbursement, 200 if replayed else 201, {"Idempotent-Replayed": "true" if replayed else "false"}


@blp.route("/<int:disbursement_id>")
class DisbursementViews(MethodView):
    @blp.auth(Scope.LOANS_READ)
    @blp.response(200, schemas.DisbursementSchema)
    def get(self, disbursement_id: int) -> Disbursement:
        """One disbursement"""
        with tenant_session() as session, session.begin():
            authorize(Permission.LOAN_READ)
            return services.get_disbursement(session, disbursement_id)


@blp.route("/<int:disbursement_id>/send")
class SendViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.response(200, schemas.DisbursementSchema)
    def post(self, disbursement_id: int) -> Disbursement:
        """Hand the payment order to the payment adapter (default: a bank-transfer file): PENDING → SENT"""
        with tenant_session() as session, session.begin():
            return services.send(session, disbursement_id)


@blp.route("/<int:disbursement_id>/settled")
class SettledViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.SettleSchema)
    @blp.response(200, schemas.DisbursementSchema)
    def post(self, args: dict[str, Any], disbursement_id: int) -> Disbursement:
        """The core banking paid out (its 出账流水号): open the loan, post it, application → DISBURSED; repeatable"""
        with tenant_session() as session, session.begin():
            return services.mark_settled(session, disbursement_id, core_banking_ref=args["core_banking_ref"])


@blp.route("/<int:disbursement_id>/failed")
class FailedViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.DisbursementReasonSchema)
    @blp.response(200, schemas.DisbursementSchema)
    def post(self, args: dict[str, Any], disbursement_id: int) -> Disbursement:
        """The payment was refused: PENDING / SENT → FAILED (a new disbursement may follow)"""
        with tenant_session() as session, session.begin():
            return services.mark_failed(session, disbursement_id, reason=args["reason"])


@blp.route("/<int:disbursement_id>/reversed")
class ReversedViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.DisbursementReasonSchema)
    @blp.response(200, schemas.DisbursementSchema)
    def post(self, args: dict[str, Any], disbursement_id: int) -> Disbursement:
        """The payment came back (退汇) before settlement: SENT → REVERSED"""
        with tenant_session() as session, session.begin():
            return services.mark_reversed(session, disbursement_id, reason=args["reason"])
