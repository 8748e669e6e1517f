"""The facts catalogue: every value a rule may read, typed and labelled in Chinese and English.

A rule names facts by their dotted name (``applicant.age``, ``ipc.repayment_ratio``). The compiler looks
each name up here, so a rule that names an unknown fact, or compares a fact with a value of another type,
is refused when it is saved, with the position of the error. Plugins add facts with :func:`register_fact`
(a village bank's local data source, a new bureau field); the built-in catalogue is registered the same way.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable


class FactType(str, enum.Enum):
    """The types the expression language knows; ``number`` covers integers, decimals and money."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"


@dataclass(frozen=True)
class Fact:
    """One documented fact (事实) rules may read."""

    #: Dotted name, ``group.item``; what rules write.
    name: str
    type: FactType
    label_zh: str
    label_en: str
    #: What it means and where it comes from, for the rule author.
    doc: str = ""
    #: For string facts with a closed set of values (channel, business type); empty means open.
    values: tuple[str, ...] = ()
    #: Unit shown to authors: "yuan", "years", "ratio", "count", "months"...
    unit: str = ""
    #: Who contributed it: "core" or a plugin's name.
    source: str = "core"

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.value, "label_zh": self.label_zh, "label_en": self.label_en,
                "doc": self.doc, "values": list(self.values), "unit": self.unit, "source": self.source}


class FactError(ValueError):
    """A fact registration clashes with the catalogue."""


@dataclass
class FactCatalogue:
    """Facts by name; the compiler's source of truth about names and types."""

    facts: dict[str, Fact] = field(default_factory=dict)

    def register(self, fact: Fact) -> Fact:
        existing = self.facts.get(fact.name)
        if existing is not None and existing != fact:
            raise FactError(f"fact {fact.name!r} is already registered by {existing.source} with another definition")
        parts = fact.name.split(".")
        if not all(p.isidentifier() for p in parts):
            raise FactError(f"fact name {fact.name!r} must be dotted identifiers")
        self.facts[fact.name] = fact
        return fact

    def get(self, name: str) -> Fact | None:
        return self.facts.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.facts

    def __iter__(self):
        return iter(self.facts.values())

    def __len__(self) -> int:
        return len(self.facts)


#: The process-wide catalogue; plugins call :func:`register_fact` at import time.
CATALOGUE = FactCatalogue()


def register_fact(name: str, type: FactType | str, label_zh: str, label_en: str, doc: str = "", *,
                  values: Iterable[str] = (), unit: str = "", source: str = "core") -> Fact:
    """Add a fact to the catalogue (idempotent for an identical definition)."""
    return CATALOGUE.register(Fact(name, FactType(type), label_zh, label_en, doc, tuple(values), unit, source))


def coerce(fact: Fact, value: Any) -> Any:
    """A JSON or Python value as the engine holds it for ``fact``; None stays None (a missing fact).

    Numbers become float (rules compare and multiply; money is exact in storage, and thresholds are
    compared, not accumulated), dates become ``datetime.date``. A value of the wrong type is refused.
    """
    if value is None:
        return None
    t = fact.type
    if t is FactType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            raise FactError(f"fact {fact.name} expects a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise FactError(f"fact {fact.name} expects a number, got {value!r}") from None
    if t is FactType.STRING:
        if not isinstance(value, str):
            raise FactError(f"fact {fact.name} expects a string, got {value!r}")
        return value
    if t is FactType.BOOLEAN:
        if not isinstance(value, bool):
            raise FactError(f"fact {fact.name} expects true or false, got {value!r}")
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise FactError(f"fact {fact.name} expects a date (YYYY-MM-DD), got {value!r}")


N, S, B, D = FactType.NUMBER, FactType.STRING, FactType.BOOLEAN, FactType.DATE

_CORE: tuple[tuple, ...] = (
    # applicant (申请人)
    ("applicant.age", N, "年龄", "Age", "Age in whole years on the application date.", (), "years"),
    ("applicant.birth_date", D, "出生日期", "Date of birth", "From the verified ID card.", (), ""),
    ("applicant.gender", S, "性别", "Gender", "", ("male", "female"), ""),
    ("applicant.marital_status", S, "婚姻状况", "Marital status", "",
     ("single", "married", "divorced", "widowed"), ""),
    ("applicant.dependants", N, "供养人数", "Dependants", "People the household supports.", (), "count"),
    ("applicant.local_hukou", B, "本地户籍", "Local household registration", "", (), ""),
    ("applicant.years_at_address", N, "现址居住年限", "Years at address", "", (), "years"),
    ("applicant.education", S, "学历", "Education", "",
     ("primary", "secondary", "high_school", "college", "university"), ""),
    ("applicant.on_blacklist", B, "黑名单命中", "On a blacklist", "Internal or shared blacklist hit.", (), ""),
    ("applicant.id_verified", B, "身份核验通过", "Identity verified", "ID card and face check passed.", (), ""),
    # business (经营) from the IPC investigation (贷前调查)
    ("business.type", S, "行业类型", "Business type", "Sector group used for pricing.",
     ("trade", "production", "service", "agriculture"), ""),
    ("business.years_in_business", N, "经营年限", "Years in business", "", (), "years"),
    ("business.premises_owned", B, "经营场所自有", "Premises owned", "", (), ""),
    ("business.employees", N, "雇员人数", "Employees", "", (), "count"),
    ("business.monthly_sales", N, "月销售额", "Monthly sales", "Reconstructed typical month.", (), "yuan"),
    ("business.gross_margin", N, "毛利率", "Gross margin", "Weighted over product lines.", (), "ratio"),
    ("business.net_profit", N, "月经营净利润", "Monthly net business profit", "", (), "yuan"),
    ("business.total_assets", N, "总资产", "Total assets", "Reconstructed balance sheet.", (), "yuan"),
    ("business.total_liabilities", N, "总负债", "Total liabilities", "Reconstructed balance sheet.", (), "yuan"),
    ("business.equity", N, "所有者权益", "Equity", "Assets minus liabilities.", (), "yuan"),
    ("business.cross_checks_failed", N, "交叉检验未通过数", "Cross-checks failed", "Count of failed checks.",
     (), "count"),
    # household (家庭)
    ("household.other_income", N, "家庭其他月收入", "Other household income", "Monthly.", (), "yuan"),
    ("household.expenses", N, "家庭月支出", "Household expenses", "Monthly.", (), "yuan"),
    ("household.existing_instalments", N, "现有月还款额", "Existing instalments",
     "All current debts, bank and informal, monthly.", (), "yuan"),
    ("household.disposable_income", N, "月可支配收入", "Monthly disposable income",
     "net_business_profit + other_household_income − household_expenses.", (), "yuan"),
    # IPC ratios (比率), derived once per application
    ("ipc.repayment_ratio", N, "还款能力比率", "Repayment-capacity ratio",
     "(new + existing instalments) / disposable income; default ceiling 70%.", (), "ratio"),
    ("ipc.debt_to_equity", N, "负债权益比", "Debt-to-equity", "After the loan.", (), "ratio"),
    ("ipc.debt_to_assets", N, "资产负债率", "Debt-to-assets", "", (), "ratio"),
    ("ipc.quick_ratio", N, "速动比率", "Quick ratio", "", (), "ratio"),
    ("ipc.loan_to_equity", N, "贷款权益比", "Loan-to-equity", "", (), "ratio"),
    ("ipc.max_loan", N, "最高可贷额", "Maximum loan from capacity", "Annuity inversion of capacity.", (), "yuan"),
    # the application (申请)
    ("application.amount", N, "申请金额", "Amount applied for", "", (), "yuan"),
    ("application.term_months", N, "申请期限", "Term applied for", "", (), "months"),
    ("application.date", D, "申请日期", "Application date", "The tenant's business date at intake.", (), ""),
    ("application.purpose", S, "贷款用途", "Purpose", "",
     ("working_capital", "equipment", "agriculture_inputs", "consumption", "other"), ""),
    ("application.new_instalment", N, "新增月还款额", "New instalment", "Of the proposed schedule.", (), "yuan"),
    ("application.is_renewal", B, "续贷", "Renewal", "", (), ""),
    # product and channel
    ("product.code", S, "产品代码", "Product code", "", (), ""),
    ("product.max_amount", N, "产品最高额度", "Product maximum amount", "", (), "yuan"),
    ("channel.code", S, "渠道", "Channel", "", ("branch", "app", "agent", "wechat", "partner"), ""),
    # credit bureau (征信) summary
    ("bureau.score", N, "征信评分", "Bureau score", "", (), "points"),
    ("bureau.overdue_count_24m", N, "近24个月逾期次数", "Overdues in 24 months", "", (), "count"),
    ("bureau.max_overdue_days", N, "最长逾期天数", "Longest overdue", "", (), "days"),
    ("bureau.queries_6m", N, "近6个月查询次数", "Bureau queries in 6 months", "", (), "count"),
    ("bureau.open_loans", N, "未结清贷款笔数", "Open loans", "", (), "count"),
    ("bureau.total_debt", N, "征信负债总额", "Debt on the bureau report", "", (), "yuan"),
    ("bureau.guarantees_given", N, "对外担保金额", "Guarantees given", "", (), "yuan"),
    ("bureau.has_bad_debt", B, "存在不良记录", "Bad debt on record", "Written off, loss or doubtful.", (), ""),
    ("bureau.report_date", D, "征信报告日期", "Bureau report date", "", (), ""),
    # internal history (行内历史)
    ("history.loans_repaid", N, "本行结清贷款笔数", "Loans repaid here", "", (), "count"),
    ("history.max_days_past_due", N, "本行最长逾期天数", "Longest past due here", "", (), "days"),
    ("history.is_existing_customer", B, "存量客户", "Existing customer", "", (), ""),
    ("history.last_loan_end", D, "上笔贷款结清日", "Last loan repaid on", "", (), ""),
    ("history.is_employee", B, "本行员工", "Bank employee", "Related-party lending rules apply.", (), ""),
)

for _name, _type, _zh, _en, _doc, _values, _unit in _CORE:
    register_fact(_name, _type, _zh, _en, _doc, values=_values, unit=_unit)

__all__ = ["CATALOGUE", "Fact", "FactCatalogue", "FactError", "FactType", "coerce", "register_fact"]
