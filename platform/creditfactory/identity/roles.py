"""The standard roles (标准角色) as data: each a code, names in Chinese and English, a context and permissions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .permissions import Context, Permission as P

#: Role codes (standard and tenants' custom ones) are short lower-case words joined by underscores.
ROLE_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class Role:
    """A named set of permissions that one context grants; memberships refer to it by ``code``."""

    code: str
    name_zh: str
    name_en: str
    context: Context
    permissions: frozenset[P]


# Derived sets, so a permission added to a process step reaches every role that should see it.
_TENANT_READS = frozenset(p for p in P.of_context(Context.TENANT) if p.reads_only)
#: What every credit-process role reads; clear-text personal data is granted only where the work needs it.
_CREDIT_FILE = frozenset({P.CUSTOMER_READ, P.APPLICATION_READ, P.LOAN_READ, P.PRODUCT_READ})

_STANDARD = (
    Role("loan_officer", "客户经理", "Loan officer", Context.TENANT,
         _CREDIT_FILE | {P.CUSTOMER_MANAGE, P.PII_READ, P.APPLICATION_CREATE, P.APPLICATION_INVESTIGATE}),
    Role("reviewer", "审查", "Reviewer", Context.TENANT,
         _CREDIT_FILE | {P.PII_READ, P.APPLICATION_REVIEW, P.RULESET_READ}),
    Role("approver", "审批", "Approver", Context.TENANT, _CREDIT_FILE | {P.APPLICATION_APPROVE, P.RULESET_READ}),
    Role("credit_committee_member", "审贷会委员", "Credit-committee member", Context.TENANT,
         _CREDIT_FILE | {P.COMMITTEE_VOTE}),
    Role("operations", "放款/运营", "Operations", Context.TENANT,
         _CREDIT_FILE | {P.PII_READ, P.LOAN_DISBURSE, P.LOAN_SERVICE}),
    Role("collections", "催收", "Collections", Context.TENANT, _CREDIT_FILE | {P.PII_READ, P.COLLECTION_MANAGE}),
    Role("branch_manager", "支行行长", "Branch manager", Context.TENANT,
         _CREDIT_FILE | {P.PORTFOLIO_READ, P.TALENT_READ}),
    Role("risk_manager", "风险经理", "Risk manager", Context.TENANT,
         _CREDIT_FILE | {P.PORTFOLIO_READ, P.RISK_MONITOR, P.RULESET_READ, P.RULESET_CONFIGURE,
                         P.APPROVAL_AUTHORITY_CONFIGURE,
                         P.CONFIG_APPROVE}),
    # Read-only over the whole bank plus the audit log; personal data stays masked unless a case needs it.
    Role("auditor", "稽核", "Auditor", Context.TENANT, _TENANT_READS - {P.PII_READ}),
    # Employee conduct (员工行为管理): runs the 360 risk view; reads the audit log its technology signals come from.
    Role("compliance_officer", "合规专员", "Compliance officer", Context.TENANT,
         frozenset({P.EMPLOYEE_RISK_READ, P.EMPLOYEE_RISK_MANAGE, P.TALENT_READ, P.AUDIT_READ})),
    Role("tenant_admin", "法人机构管理员", "Tenant administrator", Context.TENANT,
         frozenset({P.USER_MANAGE, P.ROLE_MANAGE, P.PRODUCT_READ, P.PRODUCT_CONFIGURE,
                    P.APPROVAL_AUTHORITY_CONFIGURE, P.CONFIG_APPROVE, P.PORTFOLIO_READ, P.TALENT_READ,
                    P.TALENT_MANAGE})),
    Role("platform_admin", "平台管理员", "Platform administrator", Context.HEAD_OFFICE,
         frozenset({P.TENANT_READ, P.TENANT_PROVISION, P.TENANT_SUSPEND, P.PLATFORM_USER_MANAGE})),
    Role("head_office_product_owner", "总行产品负责人", "Head-office product owner", Context.HEAD_OFFICE,
         frozenset({P.TENANT_READ, P.PRODUCT_TEMPLATE_MANAGE, P.BENCHMARK_READ})),
    Role("head_office_risk_owner", "总行风险负责人", "Head-office risk owner", Context.HEAD_OFFICE,
         frozenset({P.TENANT_READ, P.RULESET_TEMPLATE_MANAGE, P.BENCHMARK_READ})),
    Role("benchmarking_analyst", "对标分析师", "Benchmarking analyst", Context.HEAD_OFFICE,
         frozenset({P.TENANT_READ, P.BENCHMARK_READ})),
    Role("regulator", "监管人员", "Regulator", Context.REGULATOR, frozenset({P.REPORT_REGULATORY_READ})),
)

#: Standard roles by code, in the order the docs list them.
STANDARD_ROLES: dict[str, Role] = {role.code: role for role in _STANDARD}


class UnknownRole(LookupError):
    """No standard role (and, where asked, no custom role of the tenant) has that code."""


def standard_role(code: str) -> Role:
    try:
        return STANDARD_ROLES[code]
    except KeyError:
        raise UnknownRole(f"unknown role {code!r}; standard roles: {', '.join(STANDARD_ROLES)}") from None
