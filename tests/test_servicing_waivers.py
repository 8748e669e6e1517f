"""Waivers need a second person; litigation and write-off follow the state machine and keep the books right."""

from __future__ import annotations

import contextlib
import uuid
from decimal import Decimal

import pytest

from creditfactory.db import CurrentTenant, SystemContext
from creditfactory.errors import Conflict
from creditfactory.identity import changes
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.loans import services as loans

from servicing_helpers import close_days, open_standard

D = Decimal


@contextlib.contextmanager
def acting(user_id, tenant, *perms):
    principal = Principal(user_id=user_id, username=f"user{user_id}", context=Context.TENANT,
                          tenant_slug=tenant.slug, permissions=frozenset(perms), roles=frozenset())
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal):
        yield


@pytest.fixture
def session(tenant_db, tenant_a):
    with SystemContext("test: servicing"):
        yield tenant_db(tenant_a)


def test_waiver_applies_only_after_a_second_person_approves(session, tenant_a):
    loan = open_standard(session)
    close_days(session, 33)  # closes to 02-02: instalment 1 overdue since 01-31, penalty for 02-01 and 02-02
    session.refresh(loan)
    penalty = loan.penalty_receivable
    assert penalty == D("4.00")  # 4,000.00 x 18% / 360 = 2.00 a day
    with acting(9_100_001, tenant_a, Permission.LOAN_SERVICE, Permission.LOAN_READ):
        request = loans.propose_waiver(session, loan.id, penalty="4.00", interest="20.00", reason="hail damage")
    session.refresh(loan)
    assert loan.penalty_receivable == penalty  # nothing until approved
    with acting(9_100_001, tenant_a, Permission.LOAN_SERVICE, Permission.CONFIG_APPROVE), pytest.raises(Exception):
        changes.approve(session, request.id)  # the maker cannot approve
    with acting(9_100_002, tenant_a, Permission.LOAN_SERVICE, Permission.CONFIG_APPROVE):
        changes.approve(session, request.id)
    session.refresh(loan)
    assert loan.penalty_receivable == D("0.00")
    # accrued: 120.00 (instalment 1) + round(80.00 x 2 / 30, 2) = 5.33 (instalment 2), less 20.00 waived
    assert loans.payoff_quote(session, loan.id).interest == D("105.33")
    assert ledger.problems(session) == []


def test_litigation_and_write_off(session):
    loan = open_standard(session)
    with pytest.raises(Conflict):
        loans.file_litigation(session, loan.id, reason="too early")  # active loans are not litigated
    close_days(session, 40)
    loans.file_litigation(session, loan.id, reason="court filing 2026-02-09")
    loans.write_off(session, loan.id, reason="approved by the board")
    session.refresh(loan)
    assert loan.state == "written_off"
    with pytest.raises(Conflict):
        loans.post_repayment(session, loan.id, "1.00", idempotency_key=f"k-{uuid.uuid4()}")
    close_days(session, 2)
    assert ledger.problems(session) == []
    rows = {r.code: r for r in ledger.trial_balance(session)}
    assert rows["9201"].debit > 0
