"""The one registry of OAuth2 scopes (授权范围): what a machine client may ask for, mapped onto permissions."""

from __future__ import annotations

import enum

from .permissions import Context, Permission


class Scope(str, enum.Enum):
    """A scope: ``code`` (the value), its ``context``, ``label_zh`` / ``label_en`` and the ``permissions`` it grants.

    Scopes are deliberately coarser than permissions. A machine never approves, votes, approves a configuration
    change or reads personal data in clear: the scopes that grant those are ``user_only``, granted only to apps
    staff log in to (authorization code), where a token's permissions are also cut to its user's.
    """

    context: Context
    label_zh: str
    label_en: str
    permissions: frozenset[Permission]
    #: Only for apps acting for a logged-in person, never for a client-credentials (machine) client.
    user_only: bool

    def __new__(cls, code: str, context: Context, label_zh: str, label_en: str, permissions: tuple[Permission, ...],
                user_only: bool = False):
        member = str.__new__(cls, code)
        member._value_ = code
        member.context = context
        member.label_zh = label_zh
        member.label_en = label_en
        member.permissions = frozenset(permissions)
        member.user_only = user_only
        return member

    @property
    def code(self) -> str:
        return self.value

    APPLICATIONS_READ = ("applications:read", Context.TENANT, "查看贷款申请", "Read loan applications",
                         (Permission.APPLICATION_READ,))
    APPLICATIONS_WRITE = ("applications:write", Context.TENANT, "受理贷款申请", "Register loan applications",
                          (Permission.APPLICATION_READ, Permission.APPLICATION_CREATE))
    CUSTOMERS_READ = ("customers:read", Context.TENANT, "查看客户", "Read customers", (Permission.CUSTOMER_READ,))
    CUSTOMERS_WRITE = ("customers:write", Context.TENANT, "维护客户信息", "Maintain customers",
                       (Permission.CUSTOMER_READ, Permission.CUSTOMER_MANAGE))
    APPLICATIONS_INVESTIGATE = ("applications:investigate", Context.TENANT, "贷前调查", "Investigate applications",
                                (Permission.APPLICATION_READ, Permission.APPLICATION_INVESTIGATE))
    APPLICATIONS_DECIDE = ("applications:decide", Context.TENANT, "审查、审批与审贷会表决",
                           "Review, approve and vote on applications",
                           (Permission.APPLICATION_READ, Permission.APPLICATION_REVIEW, Permission.APPLICATION_APPROVE,
                            Permission.COMMITTEE_VOTE), True)
    PRODUCTS_READ = ("products:read", Context.TENANT, "查看贷款产品", "Read loan products", (Permission.PRODUCT_READ,))
    CONFIG_WRITE = ("config:write", Context.TENANT, "提出配置变更", "Propose lending configuration changes",
                    (Permission.PRODUCT_READ, Permission.PRODUCT_CONFIGURE, Permission.RULESET_READ,
                     Permission.RULESET_CONFIGURE, Permission.APPROVAL_AUTHORITY_CONFIGURE, Permission.ROLE_MANAGE))
    CONFIG_APPROVE = ("config:approve", Context.TENANT, "复核配置变更", "Approve or reject configuration changes",
                      (Permission.CONFIG_APPROVE,), True)
    RULESETS_READ = ("rulesets:read", Context.TENANT, "查看风控规则与决策", "Read rule sets and decisions",
                     (Permission.RULESET_READ,))
    PII_READ = ("pii:read", Context.TENANT, "查看客户敏感信息", "Read customers' personal data in clear",
                (Permission.PII_READ,), True)
    LOANS_READ = ("loans:read", Context.TENANT, "查看贷款", "Read loans", (Permission.LOAN_READ,))
    LOANS_WRITE = ("loans:write", Context.TENANT, "放款与贷后运营", "Disburse and service loans",
                   (Permission.LOAN_READ, Permission.LOAN_DISBURSE, Permission.LOAN_SERVICE))
    COLLECTIONS_WRITE = ("collections:write", Context.TENANT, "催收", "Work overdue loans",
                         (Permission.LOAN_READ, Permission.COLLECTION_MANAGE))
    PORTFOLIO_READ = ("portfolio:read", Context.TENANT, "查看本行经营报表", "Read the bank's portfolio reports",
                      (Permission.PORTFOLIO_READ,))
    TALENT_READ = ("talent:read", Context.TENANT, "查看组织与职级", "Read the organisation, ladders and evaluations",
                   (Permission.TALENT_READ,))
    TALENT_WRITE = ("talent:write", Context.TENANT, "管理组织、职级与评定",
                    "Manage the organisation, ladders and evaluations", (Permission.TALENT_READ, Permission.TALENT_MANAGE))
    EMPLOYEE_RISK_READ = ("employee-risk:read", Context.TENANT, "查看员工360风险视图",
                          "Read the employee 360 risk view and its evidence", (Permission.EMPLOYEE_RISK_READ,))
    EMPLOYEE_RISK_WRITE = ("employee-risk:write", Context.TENANT, "管理员工360风险模型与数据",
                           "Manage the employee 360 risk model, authorisations, findings and imports",
                           (Permission.EMPLOYEE_RISK_READ, Permission.EMPLOYEE_RISK_MANAGE))
    TENANTS_READ = ("tenants:read", Context.HEAD_OFFICE, "查看法人机构", "Read the village bank registry",
                    (Permission.TENANT_READ,))
    PRODUCT_TEMPLATES_WRITE = ("product-templates:write", Context.HEAD_OFFICE, "管理标准产品模板",
                               "Manage standard product templates", (Permission.PRODUCT_TEMPLATE_MANAGE,))
    RULESET_TEMPLATES_WRITE = ("ruleset-templates:write", Context.HEAD_OFFICE, "管理标准规则模板",
                               "Manage standard rule templates", (Permission.RULESET_TEMPLATE_MANAGE,))
    BENCHMARKS_READ = ("benchmarks:read", Context.HEAD_OFFICE, "查看对标分析", "Read cross-bank benchmarks",
                       (Permission.BENCHMARK_READ,))
    REPORTS_REGULATORY = ("reports:regulatory", Context.REGULATOR, "查阅监管报表", "Read cross-bank regulatory reports",
                          (Permission.REPORT_REGULATORY_READ,))

    @classmethod
    def parse_list(cls, text: str, context: Context) -> tuple["Scope", ...]:
        """Space-separated scope codes (RFC 6749 section 3.3), each known and of ``context``; else ``ValueError``."""
        codes = text.split()
        if not codes:
            raise ValueError("at least one scope is required")
        scopes = []
        for code in codes:
            try:
                scope = cls(code)
            except ValueError:
                raise ValueError(f"unknown scope {code!r}; known: {', '.join(s.code for s in cls)}") from None
            if scope.context is not context:
                raise ValueError(f"scope {code!r} belongs to the {scope.context.label_en} context, "
                                 f"not the {context.label_en}")
            scopes.append(scope)
        return tuple(sorted(set(scopes), key=lambda s: s.code))


def permissions_of(codes: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    """The permissions the scope codes grant together; unknown codes (a scope since withdrawn) grant nothing."""
    known = {s.code: s for s in Scope}
    return frozenset(p for code in codes if code in known for p in known[code].permissions)
