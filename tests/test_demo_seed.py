"""``creditfactory demo seed`` and ``up --demo`` fill a bank in one order (runner.demo_banks): the synthetic book's
loan officers are employees with user accounts, so their scorecards and 360 signals come from the synthetic loans.

The test drives ``demo_banks`` on a fresh bank, as the CLI does with ``strict=True`` and no demo applications; the
CLI itself picks the first active tenants in slug order, which on the shared test database are other tests' banks.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text

from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.cob.dates import business_date
from creditfactory.identity.models import Membership, User
from creditfactory.runner import demo_banks
from creditfactory.talent import demo as talent_demo
from creditfactory.talent.models import Employee, OfficerScorecard
from creditfactory.talent.risk360 import services as risk360, signals
from creditfactory.talent.risk360.models import EmployeeRiskScore

OFFICERS = 5


@pytest.fixture
def seeded(tenant_factory):
    bank = tenant_factory(name_en="Demo Seed Bank")
    demo_banks([bank.slug], loans=300, officers=lambda i: OFFICERS, seed=lambda i: 0.2, applications=False,
               strict=True)
    yield bank
    with shared_session() as shared, shared.begin():
        users = select(User.id).where(User.username.like(f"{bank.slug}.%"))
        shared.execute(delete(Membership).where(Membership.user_id.in_(users)))
        shared.execute(delete(User).where(User.username.like(f"{bank.slug}.%")))


def test_every_officer_with_loans_is_an_employee_with_a_scorecard_from_the_book(seeded):
    with shared_session() as shared:
        officer_users = dict(shared.execute(select(User.id, User.username).where(
            (User.username == f"{seeded.slug}.loan_officer")
            | User.username.like(f"{seeded.slug}.{talent_demo.OFFICER_PREFIX}%"))).all())
    with tenant_session(seeded) as session:
        with_loans = dict(session.execute(text(
            "SELECT a.officer_id, count(*) FROM loan_application a JOIN loan_account l ON l.application_id = a.id "
            "GROUP BY a.officer_id")).all())
        assert sum(with_loans.values()) == 300 and len(with_loans) > 1
        assert set(with_loans) <= set(officer_users) and len(officer_users) == OFFICERS
        employees = dict(session.execute(select(Employee.user_id, Employee.id)
                                         .where(Employee.user_id.in_(list(with_loans)))).all())
        assert set(employees) == set(with_loans)  # every officer with loans is an employee with a user account
        cards = {c.employee_id: c for c in session.scalars(select(OfficerScorecard))}
        for user_id, loans in with_loans.items():
            card = cards[employees[user_id]]
            assert card.managed_balance > 0 and card.customers > 0 and card.kpi_score > 0, (user_id, loans)
        # The demo loan officer (D003) carries part of the synthetic book.
        d003 = session.scalar(select(Employee.user_id).where(Employee.employee_no == "D003"))
        assert d003 in with_loans


def test_360_levels_vary_and_portfolio_signals_come_from_the_book(seeded):
    with tenant_session(seeded) as session:
        stored = {s.employee_id: s.level for s in session.scalars(select(EmployeeRiskScore))}
        period = session.scalar(select(EmployeeRiskScore.period).limit(1))
        officers = {e.id: e.user_id for e in session.scalars(select(Employee).where(Employee.user_id.in_(
            select(LoanApplication.officer_id))))}
        npl_loans = session.scalar(text(
            "SELECT count(*) FROM loan_account WHERE risk_class IN ('substandard', 'doubtful', 'loss') "
            "AND state NOT IN ('settled', 'written_off')"))
    assert len(set(stored.values())) > 1 and set(officers) <= set(stored)
    # Computing again gives the same varied levels; the officers' portfolio signals read the synthetic loans.
    with SystemContext("test: 360 compute"), tenant_session(seeded) as session, session.begin():
        scores = risk360.compute(session, period, tenant=seeded)
        assert {s.employee_id: s.level for s in scores} == stored
        measured = signals.portfolio(session, [signals.Person(e, u, None) for e, u in officers.items()],
                                     business_date(session))
    assert set(measured) == set(officers)
    assert sum(len(m["risk.npl_ratio"].items) for m in measured.values()) == npl_loans > 0
    assert any(m["risk.npl_ratio"].value > 0 for m in measured.values())


def test_rerun_adds_nothing(seeded):
    with tenant_session(seeded) as session:
        before = (session.scalar(select(func.count()).select_from(Employee)),
                  session.scalar(text("SELECT count(*) FROM loan_account")))
    demo_banks([seeded.slug], loans=300, officers=lambda i: OFFICERS, seed=lambda i: 0.2, applications=False,
               strict=True)
    with tenant_session(seeded) as session:
        assert (session.scalar(select(func.count()).select_from(Employee)),
                session.scalar(text("SELECT count(*) FROM loan_account"))) == before


def test_cli_refuses_bad_sizes():
    from creditfactory.cli import cli

    result = CliRunner().invoke(cli, ["demo", "seed", "--tenants", "0", "--loans-per-tenant", "10"])
    assert result.exit_code == 2 and "--tenants" in result.output
