"""Tenant capital and limits: DOMAIN §3.2 defaults, audited changes, bad input changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from creditfactory.audit.models import SharedAuditEntry
from creditfactory.db import SystemContext
from creditfactory.errors import DomainError, NotFound
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.reporting import services


def test_defaults_then_recorded_and_audited(shared_db, tenant_a):
    assert services.capital_of(shared_db, tenant_a.slug) == {
        "tenant": tenant_a.slug, "net_capital": None, "recorded": False, **services.DEFAULT_LIMITS}
    with SystemContext("test: capital"):
        services.set_capital(shared_db, tenant_a.slug, net_capital=Decimal("300000000"))
        services.set_capital(shared_db, tenant_a.slug, net_capital=Decimal("310000000.005"),
                             single_borrower_limit=Decimal("0.04"))
    now = services.capital_of(shared_db, tenant_a.slug)
    assert now["net_capital"] == Decimal("310000000.01") and now["single_borrower_limit"] == Decimal("0.04")
    assert now["single_group_limit"] == Decimal("0.10")
    entry = shared_db.scalars(select(SharedAuditEntry).where(SharedAuditEntry.action == "tenant.capital")
                              .order_by(SharedAuditEntry.seq.desc())).first()
    assert entry.object_id == tenant_a.slug
    assert entry.before["net_capital"] == "300000000.00" and entry.after["single_borrower_limit"] == "0.04"


@pytest.mark.parametrize("kwargs", [{"net_capital": Decimal("-1")},
                                    {"net_capital": Decimal("1"), "single_borrower_limit": Decimal("0")},
                                    {"net_capital": Decimal("1"), "liquidity": Decimal("0.25")}])
def test_bad_input_changes_nothing(shared_db, tenant_a, kwargs):
    with SystemContext("test: capital"), pytest.raises(DomainError):
        services.set_capital(shared_db, tenant_a.slug, **kwargs)
    assert services.capital_of(shared_db, tenant_a.slug)["recorded"] is False


def test_unknown_tenant_and_permission(shared_db):
    with SystemContext("test: capital"), pytest.raises(NotFound):
        services.set_capital(shared_db, "nosuchbank", net_capital=Decimal(1))
    analyst = Principal(1, "analyst", Context.HEAD_OFFICE, None, frozenset(), frozenset({"benchmarking_analyst"}))
    with CurrentPrincipal.bind(analyst), pytest.raises(AccessDenied):
        services.set_capital(shared_db, "nosuchbank", net_capital=Decimal(1))
