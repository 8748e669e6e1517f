"""The talent demo seeding: a full organisation on a fresh bank, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from creditfactory.db import tenant_session
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
