"""Contracts API: prepare, read (with the disbursement gate's answer), the PDF, signatures, recording and QC.
Thin: the services authorize and do the work."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from ...db import tenant_session
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.scopes import Scope
from ...web.smorest import Blueprint
from . import schemas, services
from .models import RecordingSession

blp = Blueprint("contracts", __name__, url_prefix="/contracts", description="E-contracts: prepare, sign, face-signing QC.")


def contract_view(session, contract) -> dict[str, Any]:
    recording = session.get(RecordingSession, contract.recording_session_id) if contract.recording_session_id else None
    signatures = []
    for signature in services.signatures_of(session, contract.id):
        view = {c: getattr(signature, c) for c in schemas.SignatureSchema().fields if c != "verified"}
        view["verified"] = services.verify_signature(session, signature)
        signatures.append(view)
    return {**{c: getattr(contract, c) for c in schemas.ContractSchema().fields
               if c not in ("parties", "signatures", "recording", "disbursement_problems")},
            "parties": services.parties_of(session, contract.id), "signatures": signatures, "recording": recording,
            "disbursement_problems": services.disbursement_problems(session, contract)}


@blp.route("/applications/<int:application_id>")
class ApplicationContractViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, schemas.ContractSchema)
    def get(self, application_id: int) -> dict[str, Any]:
        """The application's live contract"""
        with tenant_session() as session, session.begin():
            authorize(Permission.APPLICATION_READ)
            contract = services.contract_for_application(session, application_id)
            if contract is None:
                from ...errors import NotFound
                raise NotFound(f"application {application_id} has no contract")
            return contract_view(session, contract)

    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.PrepareSchema)
    @blp.response(201, schemas.ContractSchema)
    def post(self, args: dict[str, Any], application_id: int) -> dict[str, Any]:
        """Prepare the contract of an approved application: render the product's template, store the PDF, hash it"""
        with tenant_session() as session, session.begin():
            contract = services.prepare_contract(session, application_id, **args)
            return contract_view(session, contract)


@blp.route("/<int:contract_id>")
class ContractViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, schemas.ContractSchema)
    def get(self, contract_id: int) -> dict[str, Any]:
        """A contract with its parties, signatures (verified now), recording and what blocks disbursement"""
        with tenant_session() as session, session.begin():
            authorize(Permission.APPLICATION_READ)
            return contract_view(session, services.get_contract(session, contract_id))


@blp.route("/<int:contract_id>/pdf")
class ContractPdfViews(MethodView):
    @blp.auth(Scope.APPLICATIONS_READ)
    @blp.response(200, content_type="application/pdf")
    def get(self, contract_id: int) -> Response:
        """The rendered contract (checked against its SHA-256 on the way out)"""
        with tenant_session() as session, session.begin():
            contract, data = services.contract_pdf(session, contract_id)
        return Response(data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{contract.reference}.pdf"'})


@blp.route("/<int:contract_id>/signatures")
class SignatureViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.SignSchema)
    @blp.response(201, schemas.ContractSchema)
    def post(self, args: dict[str, Any], contract_id: int) -> dict[str, Any]:
        """Record a party's signature over the contract's SHA-256 (platform key or a registered CA provider)"""
        with tenant_session() as session, session.begin():
            services.sign(session, contract_id, args["party_id"], method=args["method"], provider=args["provider"])
            return contract_view(session, services.get_contract(session, contract_id))


@blp.route("/<int:contract_id>/recording")
class RecordingViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.RecordingFormSchema, location="form")
    @blp.arguments(schemas.MediaFileSchema, location="files")
    @blp.response(201, schemas.RecordingSchema)
    def post(self, form: dict[str, Any], files: dict[str, Any], contract_id: int) -> RecordingSession:
        """Upload the face-signing / dual-recording media (multipart) with its checklist; QC starts PENDING"""
        with tenant_session() as session, session.begin():
            return services.record_recording(
                session, contract_id, media=files["media"].read(), started_at=form["started_at"],
                ended_at=form["ended_at"], script_version=form["script_version"],
                risk_disclosures_read=[x.strip() for x in form["risk_disclosures_read"].split(",") if x.strip()],
                customer_confirmations=[x.strip() for x in form["customer_confirmations"].splitlines() if x.strip()],
                location=form["location"], device_id=form["device_id"])


@blp.route("/recordings/<int:recording_id>/qc")
class QcViews(MethodView):
    @blp.auth(Scope.LOANS_WRITE)
    @blp.arguments(schemas.RecordingQcSchema)
    @blp.response(200, schemas.RecordingSchema)
    def post(self, args: dict[str, Any], recording_id: int) -> RecordingSession:
        """Quality check of a recording by someone other than who recorded it: passed or failed (with a note)"""
        with tenant_session() as session, session.begin():
            return services.review_recording(session, recording_id, passed=args["passed"], note=args["note"])
