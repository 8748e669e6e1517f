"""Demo 360 profiles for the demo banks (``up --demo``, after the organisation; idempotent).

Done as the demo compliance officer (``<slug>.compliance_officer``), through the same services a person uses, so the
authorisations, findings and imports are audited as theirs. The profiles differ on purpose: the loan officer's
portfolio signals come from the bank's real demo loans; one account manager has fund flows with customers and
bureau trouble, among them the cash-out pattern (orange); others have a finding or an authorisation and nothing else. Technology signals are never
invented: they appear as demo users really log in, export and reveal personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ...audit import Actor, ActorKind, CurrentActor
from ...db import CurrentTenant, TenantRef, shared_session, tenant_session
from ...identity.models import User
from ...identity.principal import CurrentPrincipal, Principal
from ...identity.roles import STANDARD_ROLES
from ...lending.cob.dates import business_date
from ..models import Employee
from . import services
from .models import EmployeeRiskConsent

ROLE = "compliance_officer"
#: (employee no, authorisation scopes, findings (kind, days before today, points, reference, description),
#:  imported values {indicator: (value, evidence)})
PROFILES = (
    ("D003", ("bureau",), (("violation", 40, 4, "WG-2026-031", "代客户填写贷款用途"),
                           ("audit_finding", 0, 0, "JH-2026-118", "贷前调查照片与往期重复")),
     {"risk.debt_to_assets": ("0.74", "个人征信报告摘要 · 家庭负债 74 万 / 资产 100 万"),
      "risk.card_utilisation": ("0.82", "近 6 个月信用卡平均使用率 82%，总额度 12 万")}),
    ("D004", ("bureau", "fund_flows"), (("unauthorised_operation", 20, 6, "WG-2026-044", "越权为客户办理还款日变更"),),
     {"compliance.customer_fund_flows": ("3", "与客户 3 笔转账，合计 4.6 万元"),
      "compliance.fixed_amount_cash_out": ("4", "每月 5,000 元固定金额套现 4 次"),
      "compliance.outside_interests": ("1", "配偶在客户经营的茶叶合作社持股 20%"),
      "compliance.litigation": ("1", "民间借贷纠纷被诉 1 起"),
      "risk.lender_count": ("5", "5 家机构有授信"), "risk.bureau_inquiries": ("9", "近 3 个月征信查询 9 次"),
      "risk.debt_to_assets": ("0.88", "家庭负债 132 万 / 资产 150 万"),
      "risk.credit_used": ("1600000", "授信 180 万，已用 160 万"),
      "risk.card_utilisation": ("0.91", "近 6 个月信用卡平均使用率 91%，总额度 15 万")}),
    ("D007", ("bureau",), (), {"risk.card_utilisation": ("0.35", "近 6 个月信用卡平均使用率 35%")}),
    ("D010", (), (("audit_finding", 0, 0, "JH-2026-121", "生产库查询未走审批单"),), {}),
)


def _principal(tenant: TenantRef) -> Principal | None:
    username = f"{tenant.slug}.{ROLE}"
    with shared_session() as shared:
        user_id = shared.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        return None
    role = STANDARD_ROLES[ROLE]
    return Principal(user_id, username, role.context, tenant.slug, role.permissions, frozenset({ROLE}))


def seed_demo(tenant: TenantRef) -> dict[str, Any]:
    """Record the demo profiles of ``tenant`` and compute the current month, unless it has any authorisation."""
    principal = _principal(tenant)
    if principal is None:
        return {"created": False, "reason": f"no demo user {tenant.slug}.{ROLE}"}
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal), \
            CurrentActor.bind(Actor(str(principal.user_id), ActorKind.USER, principal.username)), \
            tenant_session(tenant) as session, session.begin():
        if session.scalars(select(EmployeeRiskConsent.id)).first() is not None:
            return {"created": False}
        known = set(session.scalars(select(Employee.employee_no)))
        today = business_date(session)
        period = today.strftime("%Y-%m")
        rows = []
        for number, scopes, findings, imported in PROFILES:
            if number not in known:
                continue
            for scope in scopes:
                services.record_consent(session, employee_no=number, scope=scope,
                                        granted_on=today - dt.timedelta(days=30),
                                        expires_on=today + dt.timedelta(days=335),
                                        document_ref=f"HR-AUTH-{number}-{scope}")
            for kind, days, points, reference, description in findings:
                services.record_finding(session, employee_no=number, kind=kind,
                                        found_on=today - dt.timedelta(days=days), points=points,
                                        reference=reference, description=description)
            rows += [f"{number},{period},{code},{value},{evidence}" for code, (value, evidence) in imported.items()]
        if rows:
            content = ("employee_no,period,indicator,value,evidence\n" + "\n".join(rows) + "\n").encode()
            services.import_signals(session, "demo-bureau-and-fund-flows.csv", content)
        scores = services.recompute(session, period)
    return {"created": True, "period": period, "levels": {lv: sum(s.level == lv for s in scores)
                                                          for lv in ("green", "yellow", "orange", "red")}}
