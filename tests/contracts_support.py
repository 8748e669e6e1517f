"""Helpers of the contracts / disbursement tests: an APPROVED application with a product that has terms."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.cob.dates import set_business_date
from creditfactory.lending.customers.models import Customer, RelatedParty
from creditfactory.lending.products.models import Product

START = dt.date(2026, 3, 1)
#: A tiny MP4 header: ``ftyp`` box with brand isom, enough for the media sniffing.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
PDF_EVIDENCE = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def product_terms(personal_threshold: str = "500000") -> dict:
    return {"amount": {"min": "1000", "max": "1000000"}, "term_months": {"min": 1, "max": 36},
            "annual_rate": {"min": "0.05", "max": "0.18"},
            "repayment_methods": ["equal_installment", "equal_principal", "bullet"],
            "eligible_sectors": ["retail"],
            "regulatory": {"entrusted_payment.personal_business_threshold": personal_threshold,
                           "entrusted_payment.undetermined_counterparty_threshold": "300000"}}


def approved_application(session, *, amount="12000.00", term=3, guarantor=True, personal_threshold="500000",
                         start=START) -> LoanApplication:
    """An APPROVED application (state set directly: approval is the applications capability's, tested there),
    its borrower, and a guarantor who is a customer too."""
    set_business_date(session, start)
    borrower = Customer(kind="individual", name="王芳")
    product = Product(code=f"biz_{uuid.uuid4().hex[:8]}", version=1, name_zh="经营贷", name_en="Business loan",
                      terms=product_terms(personal_threshold))
    session.add_all([borrower, product])
    session.flush()
    if guarantor:
        person = Customer(kind="individual", name="李强")
        session.add(person)
        session.flush()
        session.add(RelatedParty(customer_id=borrower.id, role="guarantor", related_customer_id=person.id))
    application = LoanApplication(reference=f"A{uuid.uuid4().hex[:10].upper()}", customer_id=borrower.id,
                                  product_id=product.id, amount=amount, term_months=term, channel="branch",
                                  state="APPLIED")
    session.add(application)
    session.flush()
    session.execute(update(LoanApplication).where(LoanApplication.id == application.id).values(state="APPROVED"))
    session.refresh(application)
    return application
