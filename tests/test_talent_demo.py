"""The talent demo seeding: a full organisation on a fresh bank, idempotent."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity import services as identity_services
from creditfactory.identity.models import User
from creditfactory.talent import demo
from creditfactory.talent.models import Employee, JobGrade, Team


def test_seed_demo_is_idempotent(tenant_factory):
    bank = tenant_factory(name_en="Demo Talent Bank")
    assert demo.seed_demo(bank)["created"] is True
    assert demo.seed_demo(bank) == {"created": False}
    with tenant_session(bank) as session:
        assert session.scalar(select(func.count()).select_from(Employee)) == len(demo.PEOPLE)
        assert session.scalar(select(func.count()).select_from(Team)) == 1
        assert session.scalar(select(JobGrade.code).join(Employee, Employee.grade_id == JobGrade.id)
                              .where(Employee.employee_no == "D003")) == "AM-3"


@pytest.fixture
def demo_officer():
    """The demo staff user ``<slug>.loan_officer`` the seed links D003 to (``up --demo`` makes it first)."""
    made = []

    def make(bank):
        with SystemContext("test: demo staff"), shared_session() as shared, shared.begin():
            identity_services.create_user(shared, f"{bank.slug}.loan_officer", "王客户经理",
                                          password="a long enough passphrase")
        made.append(f"{bank.slug}.loan_officer")
    yield make
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_(made)))


def test_seed_demo_covers_competencies_and_pay(tenant_factory, demo_officer):
    from creditfactory.talent.models import CompetencyDimension, OfficerPay, PayBand

    bank = tenant_factory(name_en="Demo Pay Bank")
    demo_officer(bank)
    result = demo.seed_demo(bank)
    with tenant_session(bank) as session:
        assert session.scalar(select(func.count()).select_from(CompetencyDimension)) == 5
        assert session.scalar(select(func.count()).select_from(PayBand)) == 5  # AM-1..AM-5
        officers = session.scalar(select(func.count()).select_from(OfficerPay))
        # Officers are employees with a platform user: D003, linked to the demo loan officer.
        assert officers == result["pay"] == result["scorecards"] == 1
        d003 = session.scalars(select(OfficerPay).join(Employee, Employee.id == OfficerPay.employee_id)
                               .where(Employee.employee_no == "D003")).one()
        assert d003.base_pay == 5800 and d003.explanation["variable_pay"]["formula"].startswith("3000 × ")
