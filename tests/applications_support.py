"""Helpers of the applications tests: real users, principals acting as them, a customer and a product."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager

from sqlalchemy import select

from creditfactory.db import CurrentTenant, shared_session
from creditfactory.identity.models import User
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.lending.customers.models import Consent, Customer
from creditfactory.lending.products.models import Product


def user_id_of(username: str) -> int:
    with shared_session() as shared:
        return shared.scalar(select(User.id).where(User.username == username))


def principal(username: str, tenant, *roles: str) -> Principal:
    permissions = frozenset(p for r in roles for p in STANDARD_ROLES[r].permissions)
    return Principal(user_id_of(username), username, Context.TENANT, tenant.slug, permissions, frozenset(roles))


@contextmanager
def acting(person: Principal, tenant):
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(person):
        yield person


def customer_and_product(session, code: str | None = None) -> tuple[int, int]:
    customer = Customer(kind="individual", name="王芳")
    product = Product(code=code or f"biz_{uuid.uuid4().hex[:8]}", version=1, name_zh="经营贷", name_en="Business loan")
    session.add_all([customer, product])
    session.flush()
    return customer.id, product.id


def bureau_consent(session, customer_id: int, **overrides) -> Consent:
    """The customer's written credit-bureau consent the pre-screen needs (DOMAIN §4.2), as captured on paper."""
    values = {"purpose": "bureau_query", "scope": "征信报告查询，用于本次贷款审批", "consent_type": "written",
              "channel": "paper_scan", "evidence_signature": "纸质授权书 PS-TEST", "captured_by": "test",
              "granted_at": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)}
    consent = Consent(customer_id=customer_id, **{**values, **overrides})
    session.add(consent)
    session.flush()
    return consent
