"""Helpers of the applications tests: real users, principals acting as them, a customer and a product."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import select

from creditfactory.db import CurrentTenant, shared_session
from creditfactory.identity.models import User
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.lending.customers.models import Customer
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
