"""Rows for the authorization matrix to act on in the customers API and pages (tests/test_authorization.py).

Each sample is a function of the tenant, called for each call of the matrix, so an operation that changes its
object (withdrawing a consent, removing a party) always gets a fresh one.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from stdnum.cn import ric

from creditfactory.db import SystemContext, tenant_session
from creditfactory.files.store import file_store
from creditfactory.lending.customers.services import RESIDENT_ID
from creditfactory.privacy.fields import seal
from creditfactory.lending.customers.models import Consent, Customer, CustomerDocument, RelatedParty

#: The smallest valid PNG: the signature and nothing else is enough for content sniffing.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def resident_id(born: dt.date | None = None, sequence: int | None = None) -> str:
    """A valid resident ID number (Beijing Chaoyang), random unless told."""
    born = born or dt.date(1960, 1, 1) + dt.timedelta(days=random.randrange(15000))
    body = f"110105{born:%Y%m%d}{sequence if sequence is not None else random.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def _customer(tenant, **fields) -> int:
    with SystemContext("test: authorization samples"), tenant_session(tenant) as session, session.begin():
        sealed = seal(session, RESIDENT_ID, resident_id())
        customer = Customer(kind=fields.pop("kind", "individual"), name=fields.pop("name", "张三"),
                            resident_id_sealed=sealed.value, resident_id_index=sealed.blind_index, **fields)
        session.add(customer)
        session.flush()
        return customer.id


def _document(tenant, customer_id: int) -> int:
    stored = file_store().put(tenant.slug, PNG)
    with SystemContext("test: authorization samples"), tenant_session(tenant) as session, session.begin():
        document = CustomerDocument(customer_id=customer_id, doc_type="site_photo", filename="site.png",
                                    content_type="image/png", size_bytes=stored.size, sha256=stored.sha256,
                                    storage_key=stored.key, uploaded_by="test")
        session.add(document)
        session.flush()
        return document.id


def _consent(tenant, customer_id: int) -> int:
    with SystemContext("test: authorization samples"), tenant_session(tenant) as session, session.begin():
        consent = Consent(customer_id=customer_id, purpose="credit_assessment", scope="贷款审批", consent_type="general",
                          channel="app", evidence_signature=f"esign-{uuid.uuid4().hex[:8]}",
                          granted_at=dt.datetime.now(dt.timezone.utc), captured_by="test")
        session.add(consent)
        session.flush()
        return consent.id


def _party(tenant, customer_id: int) -> int:
    with SystemContext("test: authorization samples"), tenant_session(tenant) as session, session.begin():
        party = RelatedParty(customer_id=customer_id, role="guarantor", name="李四")
        session.add(party)
        session.flush()
        return party.id


def _with_customer(tenant) -> dict:
    return {"path": {"customer_id": _customer(tenant)}}


def _document_content(tenant) -> dict:
    customer_id = _customer(tenant)
    return {"path": {"customer_id": customer_id, "document_id": _document(tenant, customer_id)}}


def _party_removal(tenant) -> dict:
    customer_id = _customer(tenant)
    return {"path": {"customer_id": customer_id, "party_id": _party(tenant, customer_id)}}


def _consent_withdrawal(tenant) -> dict:
    customer_id = _customer(tenant)
    return {"path": {"customer_id": customer_id, "consent_id": _consent(tenant, customer_id)},
            "json": {"reason": "客户电话撤回"}}


def _upload(tenant) -> dict:
    import io
    return {"path": {"customer_id": _customer(tenant)},
            "data": {"doc_type": "site_photo", "file": (io.BytesIO(PNG), "site.png")}}


def _grant(tenant) -> dict:
    return {"path": {"customer_id": _customer(tenant)},
            "json": {"purpose": "credit_assessment", "scope": "贷款审批", "consent_type": "general", "channel": "app",
                     "evidence_signature": "esign-1"}}


PREFIX = "/api/v1/customers"
SAMPLES = {
    ("post", PREFIX): lambda tenant: {"json": {"kind": "individual", "name": "王五", "resident_id": resident_id()}},
    ("post", f"{PREFIX}/search"): {"json": {"name": "王"}},
    ("get", f"{PREFIX}/{{customer_id}}"): _with_customer,
    ("patch", f"{PREFIX}/{{customer_id}}"): lambda tenant: {**_with_customer(tenant), "json": {"years_in_business": 3}},
    ("get", f"{PREFIX}/{{customer_id}}/parties"): _with_customer,
    ("post", f"{PREFIX}/{{customer_id}}/parties"): lambda tenant: {
        **_with_customer(tenant), "json": {"role": "guarantor", "name": "李四"}},
    ("delete", f"{PREFIX}/{{customer_id}}/parties/{{party_id}}"): _party_removal,
    ("get", f"{PREFIX}/{{customer_id}}/documents"): _with_customer,
    ("post", f"{PREFIX}/{{customer_id}}/documents"): _upload,
    ("get", f"{PREFIX}/{{customer_id}}/documents/{{document_id}}/content"): _document_content,
    ("get", f"{PREFIX}/{{customer_id}}/consents"): _with_customer,
    ("post", f"{PREFIX}/{{customer_id}}/consents"): _grant,
    ("post", f"{PREFIX}/{{customer_id}}/consents/{{consent_id}}/withdraw"): _consent_withdrawal,
}

PAGE_SAMPLES = {
    "customer_pages.customer_page": lambda tenant: {"customer_id": _customer(tenant)},
    "customer_pages.download_document": lambda tenant: _document_content(tenant)["path"],
}
