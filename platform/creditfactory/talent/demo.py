"""Demo organisation for the demo banks (``up --demo`` calls ``seed_demo`` once per bank; idempotent).

The ladder, the competency model and the standard pay bands are adopted as code (like products declared in
``tenants/``), without maker-checker: this runs only for
demo banks, by the operator. Employees are linked to the demo staff users (``<slug>.<role>``) where they exist, so
their career pages work when those users log in; the further loan officers who carry the synthetic loan book
(``<slug>.officerNN``, ``ensure_demo_officers``) are hired as account managers D101, D102, …. Scorecards and officer pay of the current month are computed from
whatever loans the bank has; evaluations are left to people (they need a maker and a checker).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ..db import SystemContext, TenantRef, shared_session, tenant_session
from ..identity.models import User
from ..lending.cob.dates import business_date
from . import competencies, pay, scorecards, services
from .models import Employee, OrgUnit

#: (employee no, name, unit, position, manager, grade, hired, demo role whose user it is)
PEOPLE = (
    ("D001", "陈行长", "HO", "行长", None, "MG-4", dt.date(2010, 3, 1), "tenant_admin"),
    ("D002", "刘支行长", "BR1", "支行行长", "D001", "MG-3", dt.date(2012, 7, 1), "branch_manager"),
    ("D003", "王客户经理", "BR1", "客户经理", "D002", "AM-3", dt.date(2018, 5, 1), "loan_officer"),
    ("D004", "赵客户经理", "SB1", "客户经理", "D002", "AM-1", dt.date(2026, 2, 1), None),
    ("D005", "孙审查", "RISK", "审查岗", "D001", "RV-1", dt.date(2019, 9, 1), "reviewer"),
    ("D006", "周审批", "RISK", "审批人", "D001", "RV-3", dt.date(2011, 1, 1), "approver"),
    ("D007", "吴风险经理", "RISK", "风险经理", "D001", "RK-2", dt.date(2016, 4, 1), "risk_manager"),
    ("D008", "郑运营", "OPS", "运营专员", "D001", "OP-1", dt.date(2021, 3, 1), "operations"),
    ("D009", "冯稽核", "AUD", "稽核员", "D001", "AU-1", dt.date(2020, 8, 1), "auditor"),
    ("D010", "钱工程师", "IT", "工程师", "D001", "IT-2", dt.date(2017, 6, 1), None),
)
#: Pay steps within the grade's band (the others stay on step 1).
PAY_STEPS = {"D003": 3, "D004": 1}
UNITS = (
    ("HO", "head_office", "本行", "Head office", None),
    ("BR1", "branch", "城关支行", "Chengguan branch", "HO"),
    ("SB1", "sub_branch", "东街分理处", "East Street office", "BR1"),
    ("RISK", "department", "风险管理部", "Risk department", "HO"),
    ("OPS", "department", "运营管理部", "Operations department", "HO"),
    ("AUD", "department", "稽核部", "Audit department", "HO"),
    ("IT", "department", "科技部", "IT department", "HO"),
)


#: The demo bank's further loan officers (``<slug>.officerNN``), who carry the synthetic loan book with the demo loan
#: officer (``reporting/synthetic.py``); each is an account manager of the organisation with a career of their own.
OFFICER_PREFIX = "officer"
SURNAMES = "李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"


def officer_username(slug: str, number: int) -> str:
    return f"{slug}.{OFFICER_PREFIX}{number:02d}"


def ensure_demo_officers(slug: str, count: int) -> list[int]:
    """The user ids of ``count`` loan officers of demo bank ``slug``: the demo loan officer (``<slug>.loan_officer``,
    from ``identity/demo.py``) first when there is one, then ``<slug>.officer01`` … made where missing, with the
    loan officer's role and the demo password. Idempotent; ``seed_demo`` hires each as an account manager."""
    from ..identity.demo import DEMO_PASSWORD
    from ..identity.passwords import hash_password
    from ..identity.services import grant

    if count < 1:
        raise ValueError("a demo bank needs at least one loan officer")
    with SystemContext(f"demo: loan officers of {slug}"), shared_session() as shared, shared.begin():
        ids = [i for i in (shared.scalar(select(User.id).where(User.username == f"{slug}.loan_officer")),)
               if i is not None]
        password_hash = None
        number = 0
        while len(ids) < count:
            number += 1
            username = officer_username(slug, number)
            user_id = shared.scalar(select(User.id).where(User.username == username))
            if user_id is None:
                password_hash = password_hash or hash_password(DEMO_PASSWORD)  # one argon2 hash for them all
                user = User(username=username, display_name=f"客户经理{number:02d}（演示）", password_hash=password_hash,
                            active=True, must_change_password=False, failed_login_count=0)
                shared.add(user)
                shared.flush()
                user_id = user.id
            grant(shared, username, "loan_officer", slug)
            ids.append(user_id)
    return ids


def _officer_people(slug: str, users: dict[str, int]) -> list[tuple]:
    """``PEOPLE`` rows for the bank's ``<slug>.officerNN`` users: account managers of varied grade and tenure
    in the branch and the sub-branch, reporting to the branch manager."""
    rows = []
    prefix = f"{slug}.{OFFICER_PREFIX}"
    for username in sorted(u for u in users if u.startswith(prefix) and u[len(prefix):].isdigit()):
        number = int(username[len(prefix):])
        grade = ("AM-1", "AM-2", "AM-3", "AM-2", "AM-1")[number % 5]
        hired = dt.date(2026 - (1, 3, 6, 4, 0)[number % 5], 1 + number % 12, 1)
        rows.append((f"D{100 + number:03d}", f"{SURNAMES[number % len(SURNAMES)]}客户经理{number:02d}",
                     ("BR1", "SB1")[number % 2], "客户经理", "D002", grade, hired, username))
    return rows


def seed_demo(tenant: TenantRef) -> dict[str, Any]:
    """Create the demo organisation, ladder and employees of ``tenant`` unless it already has an organisation, and
    hire the bank's ``<slug>.officerNN`` loan officers not yet employed; then compute the month's scorecards and
    officer pay (from whatever loans the bank has)."""
    with shared_session() as shared:
        users = dict(shared.execute(select(User.username, User.id).where(
            User.username.like(f"{tenant.slug}.%"))).all())
    with SystemContext(f"up --demo: talent {tenant.slug}"), tenant_session(tenant) as session, session.begin():
        existed = session.scalars(select(OrgUnit.id)).first() is not None
        if not existed:
            _organisation(session, tenant, users)
        employed = set(session.scalars(select(Employee.user_id).where(Employee.user_id.is_not(None))))
        numbers = set(session.scalars(select(Employee.employee_no)))
        officers = [row for row in _officer_people(tenant.slug, users)
                    if users[row[-1]] not in employed and row[0] not in numbers]
        for number, name, unit, position, manager, grade, hired, username in officers:
            services.hire(session, employee_no=number, name=name, org_unit_code=unit, position=position,
                          manager_no=manager, grade_code=grade, hired_on=hired, user_id=users[username])
        if existed and not officers:
            return {"created": False}
        period = business_date(session).strftime("%Y-%m")
        cards = scorecards.compute(session, period)
        paid = pay.compute(session, period)
    return {"created": not existed, "employees": (0 if existed else len(PEOPLE)) + len(officers),
            "scorecards": len(cards), "pay": len(paid)}


def _organisation(session, tenant: TenantRef, users: dict[str, int]) -> None:
    services._apply_adoption(session, "standard", services.validate_adoption("standard", {"overrides": {}}))
    competencies._apply_adoption(session, "standard", competencies.validate_adoption("standard", {"overrides": {}}))
    pay.adopt_standard_bands(session, allow_system=True)
    for code, kind, name_zh, name_en, parent in UNITS:
        services.create_org_unit(session, code=code, kind=kind, name_zh=name_zh, name_en=name_en, parent_code=parent)
    for number, name, unit, position, manager, grade, hired, role in PEOPLE:
        services.hire(session, employee_no=number, name=name, org_unit_code=unit, position=position,
                      manager_no=manager, grade_code=grade, hired_on=hired,
                      user_id=users.get(f"{tenant.slug}.{role}") if role else None)
    for number, step in PAY_STEPS.items():
        session.scalars(select(Employee).where(Employee.employee_no == number)).one().pay_step = step
    services.create_team(session, code="AGILE-SME", name="小微敏捷小组", kind="agile", domain="小微经营贷",
                         org_unit_code="BR1", lead_no="D003",
                         members=[{"employee_no": "D003", "side": "business"},
                                  {"employee_no": "D004", "side": "business"},
                                  {"employee_no": "D010", "side": "technology"}])
