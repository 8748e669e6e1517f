"""The one registry of OAuth2 scopes (授权范围): what a machine client may ask for, mapped onto permissions."""

from __future__ import annotations

import enum

from .permissions import Context, Permission


class Scope(str, enum.Enum):
    """A scope: ``code`` (the value), its ``context``, ``label_zh`` / ``label_en`` and the ``permissions`` it grants.

    Scopes are deliberately coarser than permissions and read-mostly: a machine never approves, votes or reads
    personal data in clear, so no scope grants ``application.approve``, ``committee.vote`` or ``pii.read``.
    """

    context: Context
    label_zh: str
    label_en: str
    permissions: frozenset[Permission]

    def __new__(cls, code: str, context: Context, label_zh: str, label_en: str, permissions: tuple[Permission, ...]):
        member = str.__new__(cls, code)
        member._value_ = code
        member.context = context
        member.label_zh = label_zh
        member.label_en = label_en
        member.permissions = frozenset(permissions)
        return member

    @property
    def code(self) -> str:
        return self.value

    APPLICATIONS_READ = ("applications:read", Context.TENANT, "查看贷款申请", "Read loan applications",
                         (Permission.APPLICATION_READ,))
    APPLICATIONS_WRITE = ("applications:write", Context.TENANT, "受理贷款申请", "Register loan applications",
                          (Permission.APPLICATION_READ, Permission.APPLICATION_CREATE))
    LOANS_READ = ("loans:read", Context.TENANT, "查看贷款", "Read loans", (Permission.LOAN_READ,))
    PORTFOLIO_READ = ("portfolio:read", Context.TENANT, "查看本行经营报表", "Read the bank's portfolio reports",
                      (Permission.PORTFOLIO_READ,))
    TENANTS_READ = ("tenants:read", Context.HEAD_OFFICE, "查看法人机构", "Read the village bank registry",
                    (Permission.TENANT_READ,))
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
