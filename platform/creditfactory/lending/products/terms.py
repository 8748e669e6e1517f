"""Product terms (产品要素): a typed, immutable model of what a loan product allows, with the tightening rules.

Pure functions on plain values, no database. A terms *document* is the JSON-able mapping stored in YAML, in
``cf_shared.product_template.terms`` and ``product.terms``; :func:`parse_terms` turns it into
:class:`ProductTerms` and names the field of every error (``amount.max``, ``regulatory.entrusted_payment...``).

Defaults follow DOMAIN.md: cross-check tolerances (§1.3, [R] 10 %), ratio caps (§1.4), repayment methods and the
allocation order of partial payments (§2.5), entrusted-payment thresholds (§2.4) and the village-bank limits and
risk-classification day counts (§3). Every [P]/[R] number is a parameter whose default is the stated value.

Overrides (a village bank's changes to a head-office template) are partial documents merged over the template's;
:func:`check_tightening` refuses every loosening, naming the field, and :func:`diff_terms` lists what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from ...errors import DomainError


class TermsError(DomainError):
    """Product terms that are malformed, inconsistent or looser than allowed; ``field`` names the first culprit."""

    def __init__(self, field_name: str, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.field = field_name
        self.problems = problems or [(field_name, message)]
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.problems))


REPAYMENT_METHODS = ("equal_installment", "equal_principal", "interest_only", "bullet", "balloon", "revolving")
DAY_COUNTS = ("act360", "act365")
ROUNDINGS = ("ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_DOWN")
#: DOMAIN §1.3 cross-check types.
CROSS_CHECKS = ("SALES_VS_SAMPLE", "SALES_VS_PURCHASES", "SALES_VS_BANK_FLOWS", "GROSS_MARGIN", "INVENTORY_TURNOVER",
                "EQUITY_CHECK", "HOUSEHOLD_EXPENSES", "DEBT_VS_BUREAU")
#: DOMAIN §2.5: penalty → overdue interest → overdue principal → current interest → current principal [R].
ALLOCATION_ORDER = ("penalty", "overdue_interest", "overdue_principal", "current_interest", "current_principal")

#: A limit is tightened by lowering it (``max``: a cap) or by raising it (``min``: a floor).
LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class AmountRange:
    """Loan amount in yuan, inclusive bounds."""

    min: Decimal
    max: Decimal

    def contains(self, value: Decimal) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class TermRange:
    """Loan term in months, inclusive bounds."""

    min: int
    max: int

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class RateRange:
    """Annual nominal rate as a fraction (0.0612 = 6.12 %), inclusive bounds."""

    min: Decimal
    max: Decimal

    def contains(self, value: Decimal) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class SectorPricing:
    """Pricing by sector (按行业定价, DOMAIN §0.2 S2): the rate range for one eligible sector."""

    sector: str
    annual_rate: RateRange


@dataclass(frozen=True)
class Limit:
    """A threshold with the direction that tightens it; ``source`` is the DOMAIN tag ([V]/[P]/[R]/[B])."""

    code: str
    value: Decimal
    tightening: str
    source: str = ""

    def looser_than(self, other: "Limit") -> bool:
        return self.value > other.value if self.tightening == LOWER else self.value < other.value


@dataclass(frozen=True)
class CrossCheckRule:
    """One cross-check (交叉检验) of the investigation and its tolerance (deviation ≤ tolerance passes)."""

    type: str
    tolerance_pct: Decimal
    required: bool = True


@dataclass(frozen=True)
class InvestigationTemplate:
    """Which cross-checks the investigation runs (DOMAIN §1.3) and the ratio caps of loan sizing (§1.4)."""

    cross_checks: tuple[CrossCheckRule, ...]
    ratios: tuple[Limit, ...]
    #: §1.4: the conservative variant puts existing instalments in the numerator of the capacity ratio.
    capacity_includes_existing_instalments: bool = True
    #: §1.3: a failed check sends the case to the credit committee.
    escalate_failed_check_to_committee: bool = True

    def cross_check(self, type_: str) -> CrossCheckRule | None:
        return next((c for c in self.cross_checks if c.type == type_), None)

    def ratio(self, code: str) -> Limit | None:
        return next((r for r in self.ratios if r.code == code), None)


@dataclass(frozen=True)
class ApprovalDefaults:
    """Default approval authority (审批权限) for the product; the bank's matrix may only narrow it."""

    single_approver_max_amount: Decimal
    single_approver_max_term_months: int
    committee_quorum: int = 3


@dataclass(frozen=True)
class ProductTerms:
    """Everything a product allows; applications, the calculator and servicing read it (see ``services.terms_of``)."""

    amount: AmountRange
    term_months: TermRange
    annual_rate: RateRange
    sector_pricing: tuple[SectorPricing, ...]
    repayment_methods: tuple[str, ...]
    eligible_sectors: tuple[str, ...]
    collateral_types: tuple[str, ...]
    required_documents: tuple[str, ...]
    investigation: InvestigationTemplate
    approval: ApprovalDefaults
    regulatory: tuple[Limit, ...]
    day_count: str = "act360"
    rounding: str = "ROUND_HALF_UP"
    #: Longest interest-only grace period at the start of the loan, in months.
    grace_period_max_months: int = 0
    #: Days after a due date before a payment counts as late for penalties (宽限天数, DOMAIN §2.5 [R] 0–3).
    grace_days: int = 0
    allocation_order: tuple[str, ...] = ALLOCATION_ORDER
    #: Overdue (penalty) rate = contract rate × (1 + markup); DOMAIN §2.5 [R] 30–50 %.
    penalty_rate_markup: Decimal = Decimal("0.5")

    def rate_range_for(self, sector: str) -> RateRange:
        pricing = next((p for p in self.sector_pricing if p.sector == sector), None)
        return pricing.annual_rate if pricing else self.annual_rate

    def regulatory_value(self, code: str) -> Decimal:
        return next(r.value for r in self.regulatory if r.code == code)

    def penalty_rate(self, contract_rate: Decimal) -> Decimal:
        return (contract_rate * (1 + self.penalty_rate_markup)).quantize(Decimal("0.00000001"), ROUND_HALF_UP)


# --- defaults from DOMAIN.md ------------------------------------------------------------------------------------

#: §1.3 default tolerance 10 % per check [R].
DEFAULT_TOLERANCE = Decimal("0.10")

#: §1.4 ratio caps (``lower`` tightens a cap, ``higher`` tightens a floor).
DEFAULT_RATIOS = (
    Limit("repayment_capacity_ratio_max", Decimal("0.70"), LOWER, "B/P"),
    Limit("debt_to_equity_max", Decimal("1.0"), LOWER, "R"),
    Limit("debt_to_assets_max", Decimal("0.7"), LOWER, "P"),
    Limit("quick_ratio_min", Decimal("1.0"), HIGHER, "R"),
    Limit("loan_to_equity_first_loan_max", Decimal("1.0"), LOWER, "R"),
)

#: §2.4 and §3 regulatory parameters a village bank may tighten, never loosen.
DEFAULT_REGULATORY = (
    # Borrower-controlled payment (自主支付) only up to these amounts; above them entrusted payment (受托支付).
    Limit("entrusted_payment.personal_business_threshold", Decimal("500000"), LOWER, "V/R"),
    Limit("entrusted_payment.undetermined_counterparty_threshold", Decimal("300000"), LOWER, "V/R"),
    # 村镇银行 single-borrower credit ≤ 5 % of net capital [R]; one group client ≤ 10 % [R].
    Limit("concentration.single_borrower_pct_net_capital", Decimal("0.05"), LOWER, "R"),
    Limit("concentration.single_group_pct_net_capital", Decimal("0.10"), LOWER, "R"),
    # Five-tier classification minimum class by DPD (§3.1): a lower day count classifies sooner.
    Limit("classification.dpd_substandard", Decimal("90"), LOWER, "P"),
    Limit("classification.dpd_doubtful", Decimal("270"), LOWER, "R"),
    Limit("classification.dpd_loss", Decimal("360"), LOWER, "R"),
    # Grace days (§2.5 [R] 0–3): longer grace hides arrears.
    Limit("servicing.grace_days_max", Decimal("3"), LOWER, "R"),
)


# --- parsing ----------------------------------------------------------------------------------------------------


class _Reader:
    """Collects every problem with its field path, so one error names them all."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, why: str) -> None:
        self.problems.append((path, why))

    def decimal(self, data: Mapping[str, Any], key: str, path: str, default: Any = None) -> Decimal:
        raw = data.get(key, default)
        if raw is None:
            self.fail(path, "required")
            return Decimal(0)
        if isinstance(raw, float):
            raw = repr(raw)  # YAML gives floats; their shortest repr is what the author wrote
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            self.fail(path, f"not a number: {raw!r}")
            return Decimal(0)
        if not value.is_finite() or value < 0:
            self.fail(path, "must be a non-negative number")
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, default: Any = None) -> int:
        raw = data.get(key, default)
        if raw is None:
            self.fail(path, "required")
            return 0
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().lstrip("-").isdigit():
            self.fail(path, f"not a whole number: {raw!r}")
            return 0
        value = int(raw)
        if value < 0:
            self.fail(path, "must not be negative")
        return value

    def mapping(self, data: Mapping[str, Any], key: str, path: str, default: Any = None) -> Mapping[str, Any]:
        raw = data.get(key, default)
        if not isinstance(raw, Mapping):
            self.fail(path, "required (a mapping)" if raw is None else "must be a mapping")
            return {}
        return raw

    def codes(self, data: Mapping[str, Any], key: str, path: str, allowed: Iterable[str] | None = None,
              default: Any = None, non_empty: bool = True) -> tuple[str, ...]:
        raw = data.get(key, default)
        if raw is None:
            raw = []
        if not isinstance(raw, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in raw):
            self.fail(path, "must be a list of codes")
            return ()
        values = tuple(dict.fromkeys(item.strip() for item in raw))
        if non_empty and not values:
            self.fail(path, "must name at least one")
        if allowed is not None:
            unknown = [v for v in values if v not in allowed]
            if unknown:
                self.fail(path, f"unknown {', '.join(unknown)}; known: {', '.join(allowed)}")
        return values

    def boolean(self, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        raw = data.get(key, default)
        if not isinstance(raw, bool):
            self.fail(path, "must be true or false")
            return default
        return raw


def _range(reader: _Reader, data: Mapping[str, Any], key: str, cls, integer: bool = False):
    raw = reader.mapping(data, key, key)
    read = reader.integer if integer else reader.decimal
    low, high = read(raw, "min", f"{key}.min"), read(raw, "max", f"{key}.max")
    if raw and low > high:
        reader.fail(f"{key}.min", f"{low} is above {key}.max {high}")
    return cls(low, high)


def _limits(reader: _Reader, raw: Any, path: str, defaults: tuple[Limit, ...]) -> tuple[Limit, ...]:
    """``{code: value}`` over the defaults; the direction is fixed by the code, never by the document."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        reader.fail(path, "must be a mapping of parameter codes to values")
        return defaults
    known = {limit.code: limit for limit in defaults}
    for code in raw:
        if code not in known:
            reader.fail(f"{path}.{code}", f"unknown parameter; known: {', '.join(known)}")
    return tuple(Limit(d.code, reader.decimal(raw, d.code, f"{path}.{d.code}", d.value), d.tightening, d.source)
                 for d in defaults)


def parse_terms(document: Mapping[str, Any]) -> ProductTerms:
    """Typed terms from a terms document; ``TermsError`` naming every bad field."""
    reader = _Reader()
    if not isinstance(document, Mapping):
        raise TermsError("terms", "must be a mapping")
    known = {"amount", "term_months", "annual_rate", "sector_pricing", "repayment_methods", "eligible_sectors",
             "collateral_types", "required_documents", "investigation", "approval", "regulatory", "day_count",
             "rounding", "grace_period_max_months", "grace_days", "allocation_order", "penalty_rate_markup"}
    for key in sorted(set(document) - known):
        reader.fail(key, "unknown field")
    amount = _range(reader, document, "amount", AmountRange)
    term = _range(reader, document, "term_months", TermRange, integer=True)
    rate = _range(reader, document, "annual_rate", RateRange)
    if rate.max >= 1:
        reader.fail("annual_rate.max", "a fraction per year (0.0612 for 6.12 %), below 1")
    if amount.min <= 0 and "amount" in document:
        reader.fail("amount.min", "must be above zero")
    if term.min < 1 and "term_months" in document:
        reader.fail("term_months.min", "at least one month")
    methods = reader.codes(document, "repayment_methods", "repayment_methods", REPAYMENT_METHODS)
    sectors = reader.codes(document, "eligible_sectors", "eligible_sectors")
    pricing_raw = document.get("sector_pricing") or {}
    pricing = []
    if not isinstance(pricing_raw, Mapping):
        reader.fail("sector_pricing", "must map sectors to rate ranges")
        pricing_raw = {}
    for sector, bounds in pricing_raw.items():
        path = f"sector_pricing.{sector}"
        if sector not in sectors:
            reader.fail(path, "is not an eligible sector")
        if not isinstance(bounds, Mapping):
            reader.fail(path, "must be {min, max}")
            continue
        low = reader.decimal(bounds, "min", f"{path}.min")
        high = reader.decimal(bounds, "max", f"{path}.max")
        if low > high:
            reader.fail(f"{path}.min", f"{low} is above {path}.max {high}")
        if low < rate.min or high > rate.max:
            reader.fail(path, f"must lie inside annual_rate {rate.min}–{rate.max}")
        pricing.append(SectorPricing(str(sector), RateRange(low, high)))
    investigation = _investigation(reader, document.get("investigation"))
    approval_raw = reader.mapping(document, "approval", "approval", {})
    approval = ApprovalDefaults(
        reader.decimal(approval_raw, "single_approver_max_amount", "approval.single_approver_max_amount",
                       amount.max),
        reader.integer(approval_raw, "single_approver_max_term_months", "approval.single_approver_max_term_months",
                       term.max),
        reader.integer(approval_raw, "committee_quorum", "approval.committee_quorum", 3))
    if approval.committee_quorum < 2:
        reader.fail("approval.committee_quorum", "a committee needs at least two members present")
    regulatory = _limits(reader, document.get("regulatory"), "regulatory", DEFAULT_REGULATORY)
    day_count = str(document.get("day_count", "act360"))
    if day_count not in DAY_COUNTS:
        reader.fail("day_count", f"one of {', '.join(DAY_COUNTS)}")
    rounding = str(document.get("rounding", "ROUND_HALF_UP"))
    if rounding not in ROUNDINGS:
        reader.fail("rounding", f"one of {', '.join(ROUNDINGS)}")
    grace_months = reader.integer(document, "grace_period_max_months", "grace_period_max_months", 0)
    if grace_months >= term.max and term.max:
        reader.fail("grace_period_max_months", f"must be shorter than term_months.max {term.max}")
    grace_days = reader.integer(document, "grace_days", "grace_days", 0)
    grace_cap = next(r.value for r in regulatory if r.code == "servicing.grace_days_max")
    if grace_days > grace_cap:
        reader.fail("grace_days", f"at most regulatory.servicing.grace_days_max {grace_cap}")
    order = reader.codes(document, "allocation_order", "allocation_order", ALLOCATION_ORDER, ALLOCATION_ORDER)
    if order and set(order) != set(ALLOCATION_ORDER):
        reader.fail("allocation_order", f"must list each of {', '.join(ALLOCATION_ORDER)} once")
    markup = reader.decimal(document, "penalty_rate_markup", "penalty_rate_markup", "0.5")
    if markup > 1:
        reader.fail("penalty_rate_markup", "a fraction of the contract rate, at most 1 (100 %)")
    if reader.problems:
        raise TermsError(reader.problems[0][0], reader.problems[0][1], reader.problems)
    return ProductTerms(
        amount=amount, term_months=term, annual_rate=rate, sector_pricing=tuple(pricing), repayment_methods=methods,
        eligible_sectors=sectors,
        collateral_types=reader.codes(document, "collateral_types", "collateral_types", default=["credit"]),
        required_documents=reader.codes(document, "required_documents", "required_documents", non_empty=False),
        investigation=investigation, approval=approval, regulatory=regulatory, day_count=day_count,
        rounding=rounding, grace_period_max_months=grace_months, grace_days=grace_days, allocation_order=order,
        penalty_rate_markup=markup)


def _investigation(reader: _Reader, raw: Any) -> InvestigationTemplate:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        reader.fail("investigation", "must be a mapping")
        raw = {}
    checks_raw = raw.get("cross_checks")
    if checks_raw is None:
        checks_raw = {code: {"tolerance_pct": str(DEFAULT_TOLERANCE)} for code in CROSS_CHECKS}
    if not isinstance(checks_raw, Mapping):
        reader.fail("investigation.cross_checks", "must map cross-check types to {tolerance_pct, required}")
        checks_raw = {}
    checks = []
    for code, spec in checks_raw.items():
        path = f"investigation.cross_checks.{code}"
        if code not in CROSS_CHECKS:
            reader.fail(path, f"unknown cross-check; known: {', '.join(CROSS_CHECKS)}")
            continue
        spec = spec if isinstance(spec, Mapping) else {}
        tolerance = reader.decimal(spec, "tolerance_pct", f"{path}.tolerance_pct", str(DEFAULT_TOLERANCE))
        if tolerance > 1:
            reader.fail(f"{path}.tolerance_pct", "a fraction (0.10 for 10 %), at most 1")
        checks.append(CrossCheckRule(code, tolerance, reader.boolean(spec, "required", f"{path}.required", True)))
    return InvestigationTemplate(
        cross_checks=tuple(checks),
        ratios=_limits(reader, raw.get("ratios"), "investigation.ratios", DEFAULT_RATIOS),
        capacity_includes_existing_instalments=reader.boolean(
            raw, "capacity_includes_existing_instalments", "investigation.capacity_includes_existing_instalments",
            True),
        escalate_failed_check_to_committee=reader.boolean(
            raw, "escalate_failed_check_to_committee", "investigation.escalate_failed_check_to_committee", True))


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def terms_document(terms: ProductTerms) -> dict[str, Any]:
    """The canonical JSON-able document of ``terms`` (numbers as strings, every field present)."""
    return {
        "amount": {"min": _text(terms.amount.min), "max": _text(terms.amount.max)},
        "term_months": {"min": terms.term_months.min, "max": terms.term_months.max},
        "annual_rate": {"min": _text(terms.annual_rate.min), "max": _text(terms.annual_rate.max)},
        "sector_pricing": {p.sector: {"min": _text(p.annual_rate.min), "max": _text(p.annual_rate.max)}
                           for p in terms.sector_pricing},
        "repayment_methods": list(terms.repayment_methods),
        "eligible_sectors": list(terms.eligible_sectors),
        "collateral_types": list(terms.collateral_types),
        "required_documents": list(terms.required_documents),
        "investigation": {
            "cross_checks": {c.type: {"tolerance_pct": _text(c.tolerance_pct), "required": c.required}
                             for c in terms.investigation.cross_checks},
            "ratios": {r.code: _text(r.value) for r in terms.investigation.ratios},
            "capacity_includes_existing_instalments": terms.investigation.capacity_includes_existing_instalments,
            "escalate_failed_check_to_committee": terms.investigation.escalate_failed_check_to_committee,
        },
        "approval": {"single_approver_max_amount": _text(terms.approval.single_approver_max_amount),
                     "single_approver_max_term_months": terms.approval.single_approver_max_term_months,
                     "committee_quorum": terms.approval.committee_quorum},
        "regulatory": {r.code: _text(r.value) for r in terms.regulatory},
        "day_count": terms.day_count,
        "rounding": terms.rounding,
        "grace_period_max_months": terms.grace_period_max_months,
        "grace_days": terms.grace_days,
        "allocation_order": list(terms.allocation_order),
        "penalty_rate_markup": _text(terms.penalty_rate_markup),
    }


def normalise(document: Mapping[str, Any]) -> dict[str, Any]:
    """Parse and re-serialise: the canonical form two equal documents share."""
    return terms_document(parse_terms(document))


# --- overrides: merge, tightening, diff -------------------------------------------------------------------------

#: Lists whose override replaces the template's list (rather than merging as mappings do).
_LIST_FIELDS = {"repayment_methods", "eligible_sectors", "collateral_types", "required_documents", "allocation_order"}


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` merged into ``base``: mappings recursively, anything else replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _narrower(problems: list, path: str, inner, outer) -> None:
    if inner.min < outer.min:
        problems.append((f"{path}.min", f"{inner.min} is below the template's {outer.min}; ranges may only narrow"))
    if inner.max > outer.max:
        problems.append((f"{path}.max", f"{inner.max} is above the template's {outer.max}; ranges may only narrow"))


def _subset(problems: list, path: str, tenant: tuple[str, ...], template: tuple[str, ...]) -> None:
    extra = [v for v in tenant if v not in template]
    if extra:
        problems.append((path, f"{', '.join(extra)} not allowed by the template; a bank may only remove entries"))


def _limits_tightened(problems: list, path: str, tenant: tuple[Limit, ...], template: tuple[Limit, ...]) -> None:
    for mine, theirs in zip(tenant, template):
        if mine.looser_than(theirs):
            way = "raised" if mine.tightening == LOWER else "lowered"
            problems.append((f"{path}.{mine.code}", f"{_text(mine.value)} would loosen the template's "
                             f"{_text(theirs.value)}; it may only be tightened (never {way})"))


def check_tightening(tenant: ProductTerms, template: ProductTerms) -> None:
    """Refuse (``TermsError`` naming each field) any way ``tenant`` is looser than ``template``."""
    problems: list[tuple[str, str]] = []
    _narrower(problems, "amount", tenant.amount, template.amount)
    _narrower(problems, "term_months", tenant.term_months, template.term_months)
    _narrower(problems, "annual_rate", tenant.annual_rate, template.annual_rate)
    for pricing in tenant.sector_pricing:
        _narrower(problems, f"sector_pricing.{pricing.sector}", pricing.annual_rate,
                  template.rate_range_for(pricing.sector))
    _subset(problems, "repayment_methods", tenant.repayment_methods, template.repayment_methods)
    _subset(problems, "eligible_sectors", tenant.eligible_sectors, template.eligible_sectors)
    _subset(problems, "collateral_types", tenant.collateral_types, template.collateral_types)
    missing = [d for d in template.required_documents if d not in tenant.required_documents]
    if missing:
        problems.append(("required_documents", f"{', '.join(missing)} required by the template; a bank may only "
                                               f"add documents"))
    for key in ("day_count", "rounding"):
        if getattr(tenant, key) != getattr(template, key):
            problems.append((key, f"fixed by the template ({getattr(template, key)})"))
    if tenant.allocation_order != template.allocation_order:
        problems.append(("allocation_order", "fixed by the template (DOMAIN §2.5)"))
    if tenant.grace_period_max_months > template.grace_period_max_months:
        problems.append(("grace_period_max_months", f"{tenant.grace_period_max_months} is above the template's "
                                                    f"{template.grace_period_max_months}"))
    if tenant.grace_days > template.grace_days:
        problems.append(("grace_days", f"{tenant.grace_days} is above the template's {template.grace_days}"))
    if tenant.penalty_rate_markup > template.penalty_rate_markup:
        problems.append(("penalty_rate_markup", f"{_text(tenant.penalty_rate_markup)} is above the template's "
                                                f"{_text(template.penalty_rate_markup)}"))
    inv, tinv = tenant.investigation, template.investigation
    for check in tinv.cross_checks:
        mine = inv.cross_check(check.type)
        path = f"investigation.cross_checks.{check.type}"
        if mine is None:
            problems.append((path, "required by the template; it may not be dropped"))
            continue
        if mine.tolerance_pct > check.tolerance_pct:
            problems.append((f"{path}.tolerance_pct", f"{_text(mine.tolerance_pct)} would loosen the template's "
                                                      f"{_text(check.tolerance_pct)}"))
        if check.required and not mine.required:
            problems.append((f"{path}.required", "required by the template"))
    _limits_tightened(problems, "investigation.ratios", inv.ratios, tinv.ratios)
    if tinv.capacity_includes_existing_instalments and not inv.capacity_includes_existing_instalments:
        problems.append(("investigation.capacity_includes_existing_instalments", "the template's conservative "
                                                                                 "variant may not be switched off"))
    if tinv.escalate_failed_check_to_committee and not inv.escalate_failed_check_to_committee:
        problems.append(("investigation.escalate_failed_check_to_committee", "may not be switched off"))
    if tenant.approval.single_approver_max_amount > template.approval.single_approver_max_amount:
        problems.append(("approval.single_approver_max_amount", "may only be lowered"))
    if tenant.approval.single_approver_max_term_months > template.approval.single_approver_max_term_months:
        problems.append(("approval.single_approver_max_term_months", "may only be lowered"))
    if tenant.approval.committee_quorum < template.approval.committee_quorum:
        problems.append(("approval.committee_quorum", "may only be raised"))
    _limits_tightened(problems, "regulatory", tenant.regulatory, template.regulatory)
    if problems:
        raise TermsError(problems[0][0], problems[0][1], problems)


def check_regulatory_floor(terms: ProductTerms) -> None:
    """A tenant-only product (no template) may not be looser than the head office's regulatory defaults."""
    problems: list[tuple[str, str]] = []
    _limits_tightened(problems, "regulatory", terms.regulatory, DEFAULT_REGULATORY)
    _limits_tightened(problems, "investigation.ratios", terms.investigation.ratios, DEFAULT_RATIOS)
    if problems:
        raise TermsError(problems[0][0], problems[0][1], problems)


def apply_overrides(template_document: Mapping[str, Any], overrides: Mapping[str, Any]) -> ProductTerms:
    """The bank's terms: ``overrides`` over the template's, parsed and checked to be no looser."""
    template = parse_terms(template_document)
    if not isinstance(overrides, Mapping):
        raise TermsError("overrides", "must be a mapping (a partial terms document)")
    merged = merge(terms_document(template), overrides)
    if "eligible_sectors" in overrides and isinstance(merged.get("sector_pricing"), Mapping) \
            and isinstance(merged.get("eligible_sectors"), list):
        # Narrowing the sectors drops the template's pricing of the sectors the bank no longer serves.
        merged["sector_pricing"] = {sector: rates for sector, rates in merged["sector_pricing"].items()
                                    if sector in merged["eligible_sectors"]}
    tenant = parse_terms(merged)
    check_tightening(tenant, template)
    return tenant


@dataclass(frozen=True)
class Difference:
    """One field where the bank's terms differ from the template's (dotted path, e.g. ``amount.max``)."""

    field: str
    template: Any
    tenant: Any


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(document, Mapping):
        flat: dict[str, Any] = {}
        for key, value in document.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: document}


def diff_terms(template: ProductTerms, tenant: ProductTerms) -> list[Difference]:
    """Every field of ``tenant`` that differs from ``template``, in a stable order (absent = None)."""
    left, right = flatten(terms_document(template)), flatten(terms_document(tenant))
    return [Difference(key, left.get(key), right.get(key)) for key in sorted(set(left) | set(right))
            if left.get(key) != right.get(key)]


# --- what other steps call --------------------------------------------------------------------------------------


class ApplicationOutOfTerms(TermsError):
    """An application's amount, term, method or sector lies outside its product's terms."""


def check_application_terms(terms: ProductTerms, amount: Decimal, term_months: int, repayment_method: str,
                            sector: str) -> None:
    """Refuse (``ApplicationOutOfTerms``, a DomainError naming each field) an application outside ``terms``."""
    problems = []
    amount = Decimal(amount)
    if not terms.amount.contains(amount):
        problems.append(("amount", f"{amount} is outside {_text(terms.amount.min)}–{_text(terms.amount.max)}"))
    if not terms.term_months.contains(int(term_months)):
        problems.append(("term_months", f"{term_months} is outside {terms.term_months.min}–"
                                        f"{terms.term_months.max} months"))
    if repayment_method not in terms.repayment_methods:
        problems.append(("repayment_method", f"{repayment_method!r} is not offered; allowed: "
                                             f"{', '.join(terms.repayment_methods)}"))
    if sector not in terms.eligible_sectors:
        problems.append(("sector", f"{sector!r} is not eligible; eligible: {', '.join(terms.eligible_sectors)}"))
    if problems:
        raise ApplicationOutOfTerms(problems[0][0], problems[0][1], problems)


__all__ = ["ProductTerms", "TermsError", "ApplicationOutOfTerms", "parse_terms", "terms_document", "apply_overrides",
           "check_tightening", "check_regulatory_floor", "diff_terms", "Difference", "check_application_terms",
           "REPAYMENT_METHODS", "DEFAULT_REGULATORY", "DEFAULT_RATIOS"]
