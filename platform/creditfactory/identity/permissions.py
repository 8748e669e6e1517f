"""The one registry of fine-grained permissions (权限), each belonging to exactly one acting context."""

from __future__ import annotations

import enum
import re

#: Permission codes are dotted lower-case words, so they read the same in code, the database and the docs.
CODE_RE = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


class Context(str, enum.Enum):
    """Whom a principal acts for: one village bank, the head office (总行) or a regulator (监管机构)."""

    TENANT = "tenant"
    HEAD_OFFICE = "head_office"
    REGULATOR = "regulator"

    @property
    def label_zh(self) -> str:
        return {"tenant": "村镇银行", "head_office": "总行", "regulator": "监管机构"}[self.value]

    @property
    def label_en(self) -> str:
        return {"tenant": "village bank", "head_office": "head office", "regulator": "regulator"}[self.value]


class Permission(str, enum.Enum):
    """A permission: ``code`` (the value), its ``context``, ``label_zh`` / ``label_en`` and whether it ``reads_only``."""

    context: Context
    label_zh: str
    label_en: str
    reads_only: bool

    def __new__(cls, code: str, context: Context, label_zh: str, label_en: str, reads_only: bool = False):
        member = str.__new__(cls, code)
        member._value_ = code
        member.context = context
        member.label_zh = label_zh
        member.label_en = label_en
        member.reads_only = reads_only
        return member

    @property
    def code(self) -> str:
        return self.value

    # --- village bank: the credit factory process ---------------------------------------------
    CUSTOMER_READ = ("customer.read", Context.TENANT, "查看客户", "Read customers", True)
    CUSTOMER_MANAGE = ("customer.manage", Context.TENANT, "维护客户信息", "Maintain customers")
    #: Identity numbers, phone numbers and addresses in clear; everyone else sees them masked.
    PII_READ = ("pii.read", Context.TENANT, "查看客户敏感信息", "Read customers' personal data in clear", True)
    APPLICATION_READ = ("application.read", Context.TENANT, "查看贷款申请", "Read loan applications", True)
    APPLICATION_CREATE = ("application.create", Context.TENANT, "受理贷款申请", "Register loan applications")
    APPLICATION_INVESTIGATE = ("application.investigate", Context.TENANT, "贷前调查", "Investigate applications")
    APPLICATION_REVIEW = ("application.review", Context.TENANT, "审查", "Review applications")
    APPLICATION_APPROVE = ("application.approve", Context.TENANT, "审批", "Approve or decline applications")
    COMMITTEE_VOTE = ("committee.vote", Context.TENANT, "审贷会表决", "Vote in the credit committee")
    LOAN_READ = ("loan.read", Context.TENANT, "查看贷款", "Read loans", True)
    LOAN_DISBURSE = ("loan.disburse", Context.TENANT, "放款", "Disburse loans")
    LOAN_SERVICE = ("loan.service", Context.TENANT, "贷后运营", "Service loans (repayments, adjustments)")
    COLLECTION_MANAGE = ("collection.manage", Context.TENANT, "催收", "Work overdue loans")
    PORTFOLIO_READ = ("portfolio.read", Context.TENANT, "查看本行经营报表", "Read the bank's portfolio reports", True)
    RISK_MONITOR = ("risk.monitor", Context.TENANT, "风险监测", "Monitor portfolio risk and early warnings")
    PRODUCT_READ = ("product.read", Context.TENANT, "查看贷款产品", "Read loan products", True)
    RULESET_READ = ("ruleset.read", Context.TENANT, "查看风控规则与决策", "Read rule sets and decisions", True)
    # --- village bank: configuration that affects lending (changed through maker-checker) ------
    PRODUCT_CONFIGURE = ("product.configure", Context.TENANT, "配置贷款产品", "Propose loan product changes")
    RULESET_CONFIGURE = ("ruleset.configure", Context.TENANT, "配置风控规则", "Propose rule set changes")
    APPROVAL_AUTHORITY_CONFIGURE = ("approval_authority.configure", Context.TENANT, "配置审批权限",
                                    "Propose approval authority changes")
    ROLE_MANAGE = ("role.manage", Context.TENANT, "管理自定义角色", "Propose custom role changes")
    CONFIG_APPROVE = ("config.approve", Context.TENANT, "复核配置变更", "Approve or reject configuration changes")
    USER_MANAGE = ("user.manage", Context.TENANT, "管理本行用户授权", "Manage the bank's users and their roles")
    AUDIT_READ = ("audit.read", Context.TENANT, "查看审计日志", "Read the audit log", True)
    TALENT_READ = ("talent.read", Context.TENANT, "查看组织与职级", "Read the organisation, ladders and evaluations",
                   True)
    TALENT_MANAGE = ("talent.manage", Context.TENANT, "管理组织、职级与评定",
                     "Manage the organisation, ladders and evaluations")
    #: The employee 360 risk view (员工360视图): staff surveillance, so every view of it is audited.
    EMPLOYEE_RISK_READ = ("employee_risk.read", Context.TENANT, "查看员工360风险视图",
                          "Read the employee 360 risk view and its evidence", True)
    EMPLOYEE_RISK_MANAGE = ("employee_risk.manage", Context.TENANT, "管理员工360风险模型与数据",
                            "Manage the employee 360 risk model, authorisations, findings and imports")
    # --- head office --------------------------------------------------------------------------
    TENANT_READ = ("tenant.read", Context.HEAD_OFFICE, "查看法人机构", "Read the village bank registry", True)
    TENANT_PROVISION = ("tenant.provision", Context.HEAD_OFFICE, "开设法人机构", "Provision village banks")
    TENANT_SUSPEND = ("tenant.suspend", Context.HEAD_OFFICE, "暂停与恢复法人机构", "Suspend and resume village banks")
    PLATFORM_USER_MANAGE = ("platform.user.manage", Context.HEAD_OFFICE, "管理平台用户",
                            "Manage users and their memberships")
    PRODUCT_TEMPLATE_MANAGE = ("product.template.manage", Context.HEAD_OFFICE, "管理标准产品模板",
                               "Manage standard product templates")
    RULESET_TEMPLATE_MANAGE = ("ruleset.template.manage", Context.HEAD_OFFICE, "管理标准规则模板",
                               "Manage standard rule templates")
    BENCHMARK_READ = ("benchmark.read", Context.HEAD_OFFICE, "查看对标分析", "Read cross-bank benchmarks", True)
    # --- regulator ----------------------------------------------------------------------------
    REPORT_REGULATORY_READ = ("report.regulatory.read", Context.REGULATOR, "查阅监管报表",
                              "Read cross-bank regulatory reports", True)

    @classmethod
    def of_context(cls, context: Context) -> frozenset["Permission"]:
        return frozenset(p for p in cls if p.context is context)

    @classmethod
    def parse(cls, code: str) -> "Permission":
        """The permission with ``code``; ``ValueError`` naming the code when there is none."""
        try:
            return cls(code)
        except ValueError:
            raise ValueError(f"unknown permission {code!r}") from None
