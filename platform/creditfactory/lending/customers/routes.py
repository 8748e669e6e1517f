"""Customers API: KYC, related parties, documents and consents. Thin: the services check permissions."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from flask import Response
from flask.views import MethodView

from ...db import tenant_session
from ...identity import clock
from ...identity.scopes import Scope
from ...web.errors import abort_problem
from ...web.smorest import Blueprint
from . import schemas, services

blp = Blueprint("customers", __name__, url_prefix="/customers",
                description="Customers (客户): individual business owners, households and micro enterprises.")


@contextmanager
def _unit_of_work() -> Iterator[Any]:
    """A tenant session in one transaction; field errors answered as problem+json with ``errors``."""
    with tenant_session() as session, session.begin():
        try:
            yield session
        except services.CustomerInvalid as error:
            abort_problem(422, str(error), errors={field: [message] for field, message in error.errors.items()})


def _consent_view(consent) -> dict[str, Any]:
    return {**consent.as_dict(), "status": services.consent_status(consent, clock.now())}


@blp.route("")
class CustomersViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.arguments(schemas.CustomerListArgsSchema, location="query")
    @blp.response(200, schemas.CustomerSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """List customers, newest first (``mine``: registered by or assigned to the calling person)"""
        with _unit_of_work() as session:
            return [services.customer_view(session, c) for c in services.list_customers(session, **args)]

    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.CustomerCreateSchema)
    @blp.response(201, schemas.CustomerSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register a customer; 409 when the ID number or USCC is already a customer of this bank"""
        with _unit_of_work() as session:
            return services.customer_view(session, services.create_customer(session, **body))


@blp.route("/search")
class CustomerSearchViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.arguments(schemas.CustomerSearchSchema)
    @blp.response(200, schemas.CustomerSchema(many=True))
    def post(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Search by name, or by ID number / USCC / mobile through the blind index (sent in the body)"""
        with _unit_of_work() as session:
            return [services.customer_view(session, c) for c in services.search_customers(session, **body)]


@blp.route("/<int:customer_id>")
class CustomerViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.response(200, schemas.CustomerSchema)
    def get(self, customer_id: int) -> dict[str, Any]:
        """One customer; identifiers masked unless the caller holds pii:read (each clear read audited)"""
        with _unit_of_work() as session:
            return services.customer_view(session, services.get_customer(session, customer_id))

    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.CustomerUpdateSchema)
    @blp.response(200, schemas.CustomerSchema)
    def patch(self, body: dict[str, Any], customer_id: int) -> dict[str, Any]:
        """Change a customer's fields (the kind never changes)"""
        with _unit_of_work() as session:
            return services.customer_view(session, services.update_customer(session, customer_id, **body))


@blp.route("/<int:customer_id>/parties")
class RelatedPartiesViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.response(200, schemas.RelatedPartySchema(many=True))
    def get(self, customer_id: int) -> list[dict[str, Any]]:
        """The customer's related parties"""
        with _unit_of_work() as session:
            return [services.party_view(session, p) for p in services.list_related_parties(session, customer_id)]

    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.RelatedPartyCreateSchema)
    @blp.response(201, schemas.RelatedPartySchema)
    def post(self, body: dict[str, Any], customer_id: int) -> dict[str, Any]:
        """Add a related party: another customer or a person record, in a role consistent with the customer"""
        with _unit_of_work() as session:
            return services.party_view(session, services.add_related_party(session, customer_id, **body))


@blp.route("/<int:customer_id>/parties/<int:party_id>")
class RelatedPartyViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.response(204)
    def delete(self, customer_id: int, party_id: int) -> None:
        """Remove a related party"""
        with _unit_of_work() as session:
            services.remove_related_party(session, customer_id, party_id)


@blp.route("/<int:customer_id>/documents")
class DocumentsViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.response(200, schemas.DocumentSchema(many=True))
    def get(self, customer_id: int) -> list[Any]:
        """The customer's documents (metadata)"""
        with _unit_of_work() as session:
            return services.list_documents(session, customer_id)

    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.DocumentFormSchema, location="form")
    @blp.arguments(schemas.DocumentFileSchema, location="files")
    @blp.response(201, schemas.DocumentSchema)
    def post(self, form: dict[str, Any], files: dict[str, Any], customer_id: int) -> Any:
        """Upload a document (multipart: doc_type, file); the file type is sniffed from its content"""
        upload = files["file"]
        with _unit_of_work() as session:
            return services.upload_document(session, customer_id, doc_type=form["doc_type"],
                                            filename=upload.filename, data=upload.read())


@blp.route("/<int:customer_id>/documents/<int:document_id>/content")
class DocumentContentViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.response(200, content_type="application/octet-stream")
    def get(self, customer_id: int, document_id: int) -> Response:
        """Download a document (ID card copies and bank statements need pii:read); every download is audited"""
        with _unit_of_work() as session:
            document, data = services.read_document(session, customer_id, document_id)
        return document_response(document, data)


def document_response(document, data: bytes) -> Response:
    # Served as an attachment with its sniffed type: never rendered inline as something else.
    response = Response(data, mimetype=document.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename=document-{document.id}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blp.route("/<int:customer_id>/consents")
class ConsentsViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_READ)
    @blp.response(200, schemas.ConsentSchema(many=True))
    def get(self, customer_id: int) -> list[dict[str, Any]]:
        """The customer's consents, with their status now"""
        with _unit_of_work() as session:
            return [_consent_view(c) for c in services.list_consents(session, customer_id)]

    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.ConsentGrantSchema)
    @blp.response(201, schemas.ConsentSchema)
    def post(self, body: dict[str, Any], customer_id: int) -> dict[str, Any]:
        """Record a consent (purpose, scope, type, channel, evidence, expiry) captured by the caller"""
        with _unit_of_work() as session:
            return _consent_view(services.grant_consent(session, customer_id, **body))


@blp.route("/<int:customer_id>/consents/<int:consent_id>/withdraw")
class ConsentWithdrawViews(MethodView):
    @blp.auth(Scope.CUSTOMERS_WRITE)
    @blp.arguments(schemas.ConsentWithdrawSchema)
    @blp.response(200, schemas.ConsentSchema)
    def post(self, body: dict[str, Any], customer_id: int, consent_id: int) -> dict[str, Any]:
        """Withdraw a consent now; from this moment it covers nothing"""
        with _unit_of_work() as session:
            return _consent_view(services.withdraw_consent(session, customer_id, consent_id, **body))
