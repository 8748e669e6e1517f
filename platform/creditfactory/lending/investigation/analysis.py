"""IPC investigation analysis (贷前调查分析, DOMAIN §1.2–1.4) as pure functions on plain values.

The officer's worksheet (a JSON-shaped mapping, see :func:`worksheet_from_dict` and docs/investigation.md) is
turned into reconstructed statements, a cash-flow projection over the term, the cross-checks (交叉检验), the
ratios and the maximum loan. Every tolerance and threshold comes from :class:`AnalysisParameters`, whose defaults
are DOMAIN's; the products capability supplies per-product values when the lead wires it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any, Mapping, Sequence

from ...errors import DomainError
from ..calc.schedule import (
    DayCount, Method, Schedule, ScheduleError, ScheduleTerms, build_schedule, due_date, round_fen,
)
from .questionnaire import DEFAULT_QUESTIONNAIRE, Questionnaire, SoftScore, score_soft_information

ZERO = Decimal("0.00")
RATIO = Decimal("0.0001")


class WorksheetError(DomainError):
    """A worksheet value the analysis cannot use (the message names the field)."""


class CheckType(str, enum.Enum):
    """Cross-checks of DOMAIN §1.3."""

    SALES_VS_SAMPLE = "SALES_VS_SAMPLE"
    SALES_VS_PURCHASES = "SALES_VS_PURCHASES"
    SALES_VS_BANK_FLOWS = "SALES_VS_BANK_FLOWS"
    GROSS_MARGIN = "GROSS_MARGIN"
    INVENTORY_TURNOVER = "INVENTORY_TURNOVER"
    EQUITY_CHECK = "EQUITY_CHECK"
    HOUSEHOLD_EXPENSES = "HOUSEHOLD_EXPENSES"
    DEBT_VS_BUREAU = "DEBT_VS_BUREAU"


def _default_tolerances() -> dict[CheckType, Decimal]:
    return {t: Decimal("0.10") for t in CheckType}


@dataclasses.dataclass(frozen=True)
class AnalysisParameters:
    """Tolerances and thresholds; defaults are DOMAIN §1.3/§1.4's ([P]/[R]/[B]: configurable per tenant/product)."""

    #: Per cross-check ``|stated − derived| / derived`` allowed (default 10 % each, [R]).
    tolerances: Mapping[CheckType, Decimal] = dataclasses.field(default_factory=_default_tolerances)
    #: Share of disposable income instalments may take (还款能力比, ≤ 70 % [B]).
    repayment_capacity_max: Decimal = Decimal("0.70")
    #: Whether the judged repayment-capacity ratio counts existing instalments (the conservative default).
    capacity_includes_existing: bool = True
    debt_to_equity_max: Decimal = Decimal("1.0")
    debt_to_assets_max: Decimal = Decimal("0.7")
    quick_ratio_min: Decimal = Decimal("1.0")
    loan_to_equity_max: Decimal = Decimal("1.0")

    def tolerance(self, check: CheckType) -> Decimal:
        return Decimal(self.tolerances.get(check, Decimal("0.10")))


# --- inputs ---------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BusinessBalanceSheet:
    """Reconstructed business balance sheet at the visit (inventory at purchase cost, fixed assets at market value)."""

    cash_on_hand: Decimal = ZERO
    bank_balances: Decimal = ZERO
    receivables: Decimal = ZERO
    inventory: Decimal = ZERO
    prepayments: Decimal = ZERO
    fixed_assets: Decimal = ZERO
    supplier_payables: Decimal = ZERO
    advances_from_customers: Decimal = ZERO
    bank_loans: Decimal = ZERO
    informal_loans: Decimal = ZERO
    other_liabilities: Decimal = ZERO
    #: The part of bank and informal loans due after 12 months (not short-term for the quick ratio).
    long_term_debt: Decimal = ZERO
    #: Contingent: shown, never added to liabilities.
    guarantees_given: Decimal = ZERO

    @property
    def total_assets(self) -> Decimal:
        return (self.cash_on_hand + self.bank_balances + self.receivables + self.inventory + self.prepayments
                + self.fixed_assets)

    @property
    def total_liabilities(self) -> Decimal:
        return (self.supplier_payables + self.advances_from_customers + self.bank_loans + self.informal_loans
                + self.other_liabilities)

    @property
    def short_term_liabilities(self) -> Decimal:
        return self.total_liabilities - self.long_term_debt

    @property
    def equity(self) -> Decimal:
        return self.total_assets - self.total_liabilities


@dataclasses.dataclass(frozen=True)
class HouseholdBalanceSheet:
    house: Decimal = ZERO
    vehicles: Decimal = ZERO
    deposits: Decimal = ZERO
    other_assets: Decimal = ZERO
    mortgage: Decimal = ZERO
    consumer_loans: Decimal = ZERO
    other_liabilities: Decimal = ZERO

    @property
    def total_assets(self) -> Decimal:
        return self.house + self.vehicles + self.deposits + self.other_assets

    @property
    def total_liabilities(self) -> Decimal:
        return self.mortgage + self.consumer_loans + self.other_liabilities

    @property
    def equity(self) -> Decimal:
        return self.total_assets - self.total_liabilities


@dataclasses.dataclass(frozen=True)
class ProductLine:
    name: str
    sales: Decimal
    #: Gross margin as a fraction of sales (0.25 for 25 %).
    gross_margin: Decimal


@dataclasses.dataclass(frozen=True)
class MonthlyPnL:
    """A month's business P&L and household budget (typical, good or bad month)."""

    lines: tuple[ProductLine, ...] = ()
    operating_expenses: Mapping[str, Decimal] = dataclasses.field(default_factory=dict)
    other_household_income: Decimal = ZERO
    household_expenses: Mapping[str, Decimal] = dataclasses.field(default_factory=dict)

    @property
    def sales(self) -> Decimal:
        return sum((line.sales for line in self.lines), ZERO)

    @property
    def cogs(self) -> Decimal:
        return round_fen(sum((line.sales * (1 - line.gross_margin) for line in self.lines), ZERO))

    @property
    def gross_profit(self) -> Decimal:
        return self.sales - self.cogs

    @property
    def total_operating_expenses(self) -> Decimal:
        return sum(self.operating_expenses.values(), ZERO)

    @property
    def net_business_profit(self) -> Decimal:
        return self.gross_profit - self.total_operating_expenses

    @property
    def total_household_expenses(self) -> Decimal:
        return sum(self.household_expenses.values(), ZERO)

    @property
    def disposable_income(self) -> Decimal:
        """月可支配收入 = net business profit + other household income − household expenses."""
        return self.net_business_profit + self.other_household_income - self.total_household_expenses

    @property
    def weighted_gross_margin(self) -> Decimal | None:
        return (self.gross_profit / self.sales) if self.sales else None


@dataclasses.dataclass(frozen=True)
class PriceSample:
    product: str
    buy_price: Decimal
    sell_price: Decimal


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What the officer observed or obtained to cross-check the stated figures; ``None``: not collected."""

    sample_daily_sales: Decimal | None = None
    operating_days: int | None = None
    #: Month (1–12) the sales sample was taken in, to adjust it for season.
    sample_month: int | None = None
    purchases_month: Decimal | None = None
    #: Monthly change in stock (positive: stock building up), for sales-vs-purchases.
    stock_change_month: Decimal = ZERO
    bank_inflows_month: Decimal | None = None
    #: Share of sales paid through the bank accounts on the statements (1 = all).
    bank_share_of_sales: Decimal = Decimal(1)
    price_samples: tuple[PriceSample, ...] = ()
    #: Sector norm for stock cover, in months of cost of goods sold.
    sector_inventory_months: Decimal | None = None
    #: Sector norm for the gross margin (an industry profile), used when no buy/sell prices were sampled.
    sector_gross_margin: Decimal | None = None
    initial_equity: Decimal | None = None
    retained_profits: Decimal | None = None
    withdrawals: Decimal | None = None
    household_size: int | None = None
    living_cost_per_person: Decimal | None = None
    bureau_debts: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class CandidateLoan:
    amount: Decimal
    term_months: int
    annual_rate: Decimal
    method: Method = Method.EQUAL_INSTALLMENT
    start: dt.date | None = None
    #: Part of the loan spent at once (stock, equipment): it leaves cash in the projection's first month.
    planned_use: Decimal = ZERO
    day_count: DayCount = DayCount.ACT360
    #: Balloon only: the notional amortisation term.
    amortization_months: int | None = None


@dataclasses.dataclass(frozen=True)
class Worksheet:
    business: BusinessBalanceSheet
    household: HouseholdBalanceSheet
    typical: MonthlyPnL
    good: MonthlyPnL | None
    bad: MonthlyPnL | None
    #: Per calendar month (index 0 = January): "typical" / "good" / "bad", or sales relative to a typical month.
    seasonality: tuple[str | Decimal, ...]
    existing_instalments: Decimal
    loan: CandidateLoan | None
    evidence: Evidence
    soft_answers: Mapping[str, str]


# --- results --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CrossCheck:
    type: CheckType
    stated: Decimal
    derived: Decimal
    #: ``|stated − derived| / derived``; ``None`` when the derived value is zero.
    deviation: Decimal | None
    tolerance: Decimal
    passed: bool
    explanation: str


@dataclasses.dataclass(frozen=True)
class Ratio:
    code: str
    value: Decimal | None
    threshold: Decimal
    #: "max" (value ≤ threshold passes) or "min" (value ≥ threshold passes).
    bound: str
    passed: bool
    #: Whether it is judged (the other repayment-capacity variant is shown for information only).
    judged: bool = True


@dataclasses.dataclass(frozen=True)
class CashFlowMonth:
    month: dt.date
    scenario: str
    net_business_profit: Decimal
    other_household_income: Decimal
    household_expenses: Decimal
    existing_instalments: Decimal
    new_instalment: Decimal
    loan_in: Decimal
    net: Decimal
    cumulative: Decimal


@dataclasses.dataclass(frozen=True)
class Analysis:
    business: BusinessBalanceSheet
    household: HouseholdBalanceSheet
    pnl: Mapping[str, MonthlyPnL]
    seasonality_factors: tuple[Decimal, ...]
    new_instalment: Decimal | None
    cross_checks: tuple[CrossCheck, ...]
    ratios: tuple[Ratio, ...]
    max_loan: Decimal
    working_capital_need: Decimal
    cash_flow: tuple[CashFlowMonth, ...]
    soft: SoftScore

    @property
    def cash_never_negative(self) -> bool:
        return all(m.cumulative >= 0 for m in self.cash_flow)

    @property
    def escalate(self) -> bool:
        """Any failed cross-check sends the case to the committee (DOMAIN §1.3)."""
        return any(not c.passed for c in self.cross_checks)

    def as_dict(self) -> dict:
        return _jsonable({
            "business_balance_sheet": {**dataclasses.asdict(self.business),
                                       "total_assets": self.business.total_assets,
                                       "total_liabilities": self.business.total_liabilities,
                                       "short_term_liabilities": self.business.short_term_liabilities,
                                       "equity": self.business.equity},
            "household_balance_sheet": {**dataclasses.asdict(self.household),
                                        "total_assets": self.household.total_assets,
                                        "total_liabilities": self.household.total_liabilities,
                                        "equity": self.household.equity},
            "pnl": {name: {"sales": p.sales, "cogs": p.cogs, "gross_profit": p.gross_profit,
                           "operating_expenses": p.total_operating_expenses,
                           "net_business_profit": p.net_business_profit,
                           "other_household_income": p.other_household_income,
                           "household_expenses": p.total_household_expenses,
                           "disposable_income": p.disposable_income} for name, p in self.pnl.items()},
            "seasonality_factors": list(self.seasonality_factors),
            "new_instalment": self.new_instalment,
            "cross_checks": [dataclasses.asdict(c) for c in self.cross_checks],
            "ratios": [dataclasses.asdict(r) for r in self.ratios],
            "max_loan": self.max_loan,
            "working_capital_need": self.working_capital_need,
            "cash_flow": [dataclasses.asdict(m) for m in self.cash_flow],
            "cash_never_negative": self.cash_never_negative,
            "soft_information": dataclasses.asdict(self.soft),
            "escalate": self.escalate,
        })


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# --- formulas -------------------------------------------------------------------------------------------------

def deviation(stated: Decimal, derived: Decimal) -> Decimal | None:
    """``|stated − derived| / derived`` to 4 places; ``None`` when ``derived`` is zero."""
    if derived == 0:
        return None
    return (abs(stated - derived) / abs(derived)).quantize(RATIO, rounding=ROUND_HALF_UP)


def cross_check(check: CheckType, stated: Decimal, derived: Decimal, params: AnalysisParameters,
                explanation: str) -> CrossCheck:
    """One check: passes when the deviation is within tolerance (both zero also passes; derived zero alone fails)."""
    dev = deviation(stated, derived)
    tolerance = params.tolerance(check)
    passed = (stated == derived) if dev is None else dev <= tolerance
    return CrossCheck(check, stated, derived, dev, tolerance, passed, explanation)


def seasonality_factors(worksheet: Worksheet) -> tuple[Decimal, ...]:
    """Each calendar month's sales relative to a typical month (a good month's sales / the typical month's)."""
    typical_sales = worksheet.typical.sales
    factors = []
    for entry in worksheet.seasonality:
        if isinstance(entry, Decimal):
            factors.append(entry)
            continue
        scenario = _scenario(worksheet, entry)
        factors.append((scenario.sales / typical_sales).quantize(RATIO, rounding=ROUND_HALF_UP)
                       if typical_sales else Decimal(1))
    return tuple(factors)


def _scenario(worksheet: Worksheet, name: str) -> MonthlyPnL:
    scenario = {"typical": worksheet.typical, "good": worksheet.good, "bad": worksheet.bad}[name]
    return scenario or worksheet.typical


def month_pnl(worksheet: Worksheet, month: int) -> tuple[str, MonthlyPnL]:
    """The P&L of calendar month ``month`` (1–12): its good/typical/bad month, or the typical month scaled."""
    entry = worksheet.seasonality[month - 1]
    if not isinstance(entry, Decimal):
        return entry, _scenario(worksheet, entry)
    typical = worksheet.typical
    scaled = tuple(ProductLine(l.name, round_fen(l.sales * entry), l.gross_margin) for l in typical.lines)
    return f"×{entry}", dataclasses.replace(typical, lines=scaled)


def candidate_schedule(loan: CandidateLoan, visit_date: dt.date) -> Schedule:
    try:
        return build_schedule(ScheduleTerms(loan.method, loan.amount, loan.annual_rate, loan.term_months,
                                            loan.start or visit_date, loan.day_count,
                                            amortization_months=loan.amortization_months))
    except ScheduleError as exc:
        raise WorksheetError(f"candidate loan: {exc}") from exc


def candidate_instalment(schedule: Schedule) -> Decimal:
    """The monthly instalment the repayment-capacity ratio weighs: the largest period total but the last.

    The last period is left out: it absorbs rounding, and for 先息后本 and balloon loans it carries the principal
    due at maturity, which the cash-flow projection shows instead. A bullet loan's single payment is spread over
    its months.
    """
    periods = schedule.periods
    if schedule.method is Method.BULLET:
        months = max(1, round(periods[0].days / 30))
        return round_fen(periods[0].total / months)
    return max(p.total for p in (periods[:-1] if len(periods) > 1 else periods))


def max_loan(disposable_income: Decimal, existing_instalments: Decimal, cap: Decimal, annual_rate: Decimal,
             months: int) -> Decimal:
    """``L_max = C × (1 − (1+r)^−n) / r`` with ``C = cap × disposable − existing`` and ``r = annual / 12``.

    Rounded down to the fen (a maximum is never rounded up); zero when the capacity ``C`` is not positive.
    """
    capacity = cap * disposable_income - existing_instalments
    if capacity <= 0 or months <= 0:
        return ZERO
    rate = annual_rate / 12
    with localcontext() as ctx:
        ctx.prec = 40
        factor = Decimal(months) if rate == 0 else (1 - (1 + rate) ** -months) / rate
        return (capacity * factor).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator <= 0:
        return None
    return (numerator / denominator).quantize(RATIO, rounding=ROUND_HALF_UP)


def _judge(code: str, value: Decimal | None, threshold: Decimal, bound: str, judged: bool = True) -> Ratio:
    passed = value is not None and (value <= threshold if bound == "max" else value >= threshold)
    return Ratio(code, value, threshold, bound, passed, judged)


def ratios(worksheet: Worksheet, new_instalment: Decimal | None, params: AnalysisParameters) -> tuple[Ratio, ...]:
    """DOMAIN §1.4 on the business balance sheet and the typical month (no ratio is judged on a zero base)."""
    business, disposable = worksheet.business, worksheet.typical.disposable_income
    loan = worksheet.loan.amount if worksheet.loan else ZERO
    instalment = new_instalment or ZERO
    with_existing = _ratio(instalment + worksheet.existing_instalments, disposable)
    new_only = _ratio(instalment, disposable)
    include = params.capacity_includes_existing
    return (
        _judge("repayment_capacity", with_existing, params.repayment_capacity_max, "max", include),
        _judge("repayment_capacity_new_only", new_only, params.repayment_capacity_max, "max", not include),
        _judge("debt_to_equity", _ratio(business.total_liabilities + loan, business.equity),
               params.debt_to_equity_max, "max"),
        _judge("debt_to_assets", _ratio(business.total_liabilities, business.total_assets),
               params.debt_to_assets_max, "max"),
        _judge("quick_ratio", _ratio(business.cash_on_hand + business.bank_balances + business.receivables,
                                     business.short_term_liabilities)
               if business.short_term_liabilities else None, params.quick_ratio_min, "min"),
        _judge("loan_to_equity", _ratio(loan, business.equity), params.loan_to_equity_max, "max"),
    )


def cross_checks(worksheet: Worksheet, params: AnalysisParameters) -> tuple[CrossCheck, ...]:
    """Every §1.3 check whose evidence the worksheet holds."""
    e, typical, business = worksheet.evidence, worksheet.typical, worksheet.business
    checks = []
    if e.sample_daily_sales is not None and e.operating_days:
        factor = seasonality_factors(worksheet)[e.sample_month - 1] if e.sample_month else Decimal(1)
        derived = round_fen(e.sample_daily_sales * e.operating_days / (factor or Decimal(1)))
        checks.append(cross_check(CheckType.SALES_VS_SAMPLE, round_fen(typical.sales), derived, params,
                                  f"{e.sample_daily_sales} a day × {e.operating_days} days ÷ season factor {factor}"))
    margin = typical.weighted_gross_margin
    if e.purchases_month is not None and margin is not None and margin < 1:
        derived = round_fen((e.purchases_month - e.stock_change_month) / (1 - margin))
        checks.append(cross_check(CheckType.SALES_VS_PURCHASES, round_fen(typical.sales), derived, params,
                                  f"({e.purchases_month} purchases − {e.stock_change_month} stock change) "
                                  f"÷ (1 − margin {margin.quantize(RATIO)})"))
    if e.bank_inflows_month is not None and e.bank_share_of_sales > 0:
        derived = round_fen(e.bank_inflows_month / e.bank_share_of_sales)
        checks.append(cross_check(CheckType.SALES_VS_BANK_FLOWS, round_fen(typical.sales), derived, params,
                                  f"{e.bank_inflows_month} bank inflows ÷ {e.bank_share_of_sales} share through bank"))
    if e.price_samples and margin is not None:
        weights = {l.name: l.sales for l in typical.lines}
        samples = [s for s in e.price_samples if s.sell_price > 0]
        total_weight = sum((weights.get(s.product, ZERO) for s in samples), ZERO)
        if samples:
            if total_weight:
                derived = sum(((s.sell_price - s.buy_price) / s.sell_price * weights.get(s.product, ZERO)
                               for s in samples), ZERO) / total_weight
            else:  # samples name no product line: a plain average
                derived = sum(((s.sell_price - s.buy_price) / s.sell_price for s in samples), ZERO) / len(samples)
            checks.append(cross_check(CheckType.GROSS_MARGIN, margin.quantize(RATIO, rounding=ROUND_HALF_UP),
                                      derived.quantize(RATIO, rounding=ROUND_HALF_UP), params,
                                      f"margins from {len(samples)} sampled buy/sell prices, weighted by sales"))
    elif e.sector_gross_margin is not None and margin is not None:
        checks.append(cross_check(CheckType.GROSS_MARGIN, margin.quantize(RATIO, rounding=ROUND_HALF_UP),
                                  e.sector_gross_margin.quantize(RATIO, rounding=ROUND_HALF_UP), params,
                                  f"stated margin against the sector norm {e.sector_gross_margin}"))
    if e.sector_inventory_months is not None and typical.cogs > 0:
        stated = (business.inventory / typical.cogs).quantize(RATIO, rounding=ROUND_HALF_UP)
        checks.append(cross_check(CheckType.INVENTORY_TURNOVER, stated, e.sector_inventory_months, params,
                                  f"inventory {business.inventory} ÷ monthly cost of goods {typical.cogs}, "
                                  f"months of stock against the sector norm"))
    if e.initial_equity is not None and e.retained_profits is not None:
        expected = e.initial_equity + e.retained_profits - (e.withdrawals or ZERO)
        checks.append(cross_check(CheckType.EQUITY_CHECK, round_fen(business.equity), round_fen(expected), params,
                                  f"expected {e.initial_equity} initial + {e.retained_profits} retained − "
                                  f"{e.withdrawals or ZERO} withdrawn; a shortfall hints at hidden debt or losses"))
    if e.household_size and e.living_cost_per_person is not None:
        derived = round_fen(e.household_size * e.living_cost_per_person)
        checks.append(cross_check(CheckType.HOUSEHOLD_EXPENSES, round_fen(typical.total_household_expenses), derived,
                                  params,
                                  f"{e.household_size} people × {e.living_cost_per_person} local living cost"))
    if e.bureau_debts is not None:
        stated = business.bank_loans + worksheet.household.mortgage + worksheet.household.consumer_loans
        checks.append(cross_check(CheckType.DEBT_VS_BUREAU, round_fen(stated), round_fen(e.bureau_debts), params,
                                  "stated bank, mortgage and consumer debt against the credit report"))
    return tuple(checks)


def cash_flow_projection(worksheet: Worksheet, schedule: Schedule | None, visit_date: dt.date) -> tuple[CashFlowMonth, ...]:
    """Month by month over the term: the month's seasonal P&L, household budget, existing and new instalments.

    Opening cash is the business's cash and bank balances; the loan comes in in the first month less its
    planned use. Months follow the schedule's due dates (or the term from the visit).
    """
    loan = worksheet.loan
    if loan is None:
        return ()
    dates = [p.due_date for p in schedule.periods] if schedule else [
        due_date(visit_date, k, visit_date.day) for k in range(1, loan.term_months + 1)]
    if schedule is not None and schedule.method is Method.BULLET:
        dates = [due_date(loan.start or visit_date, k, (loan.start or visit_date).day)
                 for k in range(1, loan.term_months + 1)]
    payments = {p.due_date: p.total for p in schedule.periods} if schedule else {}
    cumulative = worksheet.business.cash_on_hand + worksheet.business.bank_balances
    rows = []
    for index, month in enumerate(dates):
        scenario, pnl = month_pnl(worksheet, month.month)
        loan_in = loan.amount - loan.planned_use if index == 0 else ZERO
        new = payments.get(month, ZERO)
        net = (pnl.net_business_profit + pnl.other_household_income - pnl.total_household_expenses
               - worksheet.existing_instalments - new + loan_in)
        cumulative += net
        rows.append(CashFlowMonth(month, scenario, pnl.net_business_profit, pnl.other_household_income,
                                  pnl.total_household_expenses, worksheet.existing_instalments, new, loan_in,
                                  net, cumulative))
    return tuple(rows)


def analyse(worksheet: Worksheet, params: AnalysisParameters | None = None, *, visit_date: dt.date,
            questionnaire: Questionnaire = DEFAULT_QUESTIONNAIRE) -> Analysis:
    """The whole analysis of one worksheet; pure (the visit date stands in for 'today')."""
    params = params or AnalysisParameters()
    schedule = candidate_schedule(worksheet.loan, visit_date) if worksheet.loan else None
    instalment = candidate_instalment(schedule) if schedule else None
    rate = worksheet.loan.annual_rate if worksheet.loan else Decimal(0)
    months = worksheet.loan.term_months if worksheet.loan else 0
    business = worksheet.business
    pnl = {"typical": worksheet.typical, **{k: v for k, v in (("good", worksheet.good), ("bad", worksheet.bad)) if v}}
    return Analysis(
        business=business, household=worksheet.household, pnl=pnl,
        seasonality_factors=seasonality_factors(worksheet), new_instalment=instalment,
        cross_checks=cross_checks(worksheet, params), ratios=ratios(worksheet, instalment, params),
        max_loan=max_loan(worksheet.typical.disposable_income, worksheet.existing_instalments,
                          params.repayment_capacity_max, rate, months),
        working_capital_need=business.inventory + business.receivables - business.supplier_payables,
        cash_flow=cash_flow_projection(worksheet, schedule, visit_date),
        soft=score_soft_information(questionnaire, worksheet.soft_answers),
    )


# --- parsing the worksheet JSON -------------------------------------------------------------------------------

def _money(data: Mapping[str, Any], key: str, where: str, *, default: Decimal | None = ZERO,
           allow_negative: bool = False) -> Decimal | None:
    raw = data.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except InvalidOperation:
        raise WorksheetError(f"{where}{key} must be a number, not {raw!r}") from None
    if not value.is_finite() or (value < 0 and not allow_negative):
        raise WorksheetError(f"{where}{key} must be a {'' if allow_negative else 'non-negative '}number, not {raw!r}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    raw = data.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise WorksheetError(f"{where}{key} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise WorksheetError(f"{where}{key} must be {low} to {high}, not {value}")
    return value


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise WorksheetError(f"{key} must be an object")
    return value


def _fields(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Decimal]:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise WorksheetError(f"{where}unknown field(s): {', '.join(sorted(unknown))}")
    return {name: _money(data, name, where) for name in known if name in data}


def _pnl(data: Mapping[str, Any], where: str) -> MonthlyPnL:
    lines = []
    for i, line in enumerate(data.get("lines") or []):
        if not isinstance(line, Mapping):
            raise WorksheetError(f"{where}lines[{i}] must be an object")
        sales = _money(line, "sales", f"{where}lines[{i}].", default=None)
        if sales is None:
            continue  # an empty row of the form
        margin = _money(line, "gross_margin", f"{where}lines[{i}].")
        if margin > 1:
            raise WorksheetError(f"{where}lines[{i}].gross_margin is a fraction (0.25 for 25%), not {margin}")
        lines.append(ProductLine(str(line.get("name") or f"#{i + 1}"), sales, margin))

    def amounts(key: str) -> dict[str, Decimal]:
        section = _section(data, key)
        return {k: _money(section, k, f"{where}{key}.") for k in section if section[k] not in (None, "")}

    return MonthlyPnL(tuple(lines), amounts("operating_expenses"),
                      _money(data, "other_household_income", where), amounts("household_expenses"))


def worksheet_from_dict(data: Mapping[str, Any]) -> Worksheet:
    """A :class:`Worksheet` from its JSON shape (docs/investigation.md); bad values raise :class:`WorksheetError`."""
    if not isinstance(data, Mapping):
        raise WorksheetError("the worksheet must be an object")
    pnl = _section(data, "pnl")
    scenarios = {name: _pnl(_section(pnl, name), f"pnl.{name}.") if pnl.get(name) else None
                 for name in ("typical", "good", "bad")}
    if scenarios["typical"] is None:
        scenarios["typical"] = MonthlyPnL()
    raw_season = data.get("seasonality") or ["typical"] * 12
    if not isinstance(raw_season, Sequence) or isinstance(raw_season, str) or len(raw_season) != 12:
        raise WorksheetError("seasonality must list 12 months")
    season: list[str | Decimal] = []
    for i, entry in enumerate(raw_season):
        if entry in ("typical", "good", "bad"):
            season.append(entry)
        elif entry in (None, ""):
            season.append("typical")
        else:
            factor = _money({"m": entry}, "m", f"seasonality[{i}]")
            season.append(factor)
    loan = None
    loan_data = _section(data, "loan")
    if loan_data.get("amount") not in (None, ""):
        amount = _money(loan_data, "amount", "loan.")
        term = _int(loan_data, "term_months", "loan.", 1, 360)
        rate = _money(loan_data, "annual_rate", "loan.", default=None)
        if term is None or rate is None:
            raise WorksheetError("loan: the candidate loan needs term_months and annual_rate with its amount")
        try:
            method = Method(loan_data.get("method") or Method.EQUAL_INSTALLMENT.value)
            day_count = DayCount(loan_data.get("day_count") or DayCount.ACT360.value)
            start = dt.date.fromisoformat(loan_data["start"]) if loan_data.get("start") else None
        except ValueError as exc:
            raise WorksheetError(f"loan: {exc}") from None
        if method is Method.REVOLVING:
            raise WorksheetError("loan: size a revolving line by its limit as an equal-instalment loan")
        loan = CandidateLoan(amount, term, rate, method, start, _money(loan_data, "planned_use", "loan."), day_count,
                             _int(loan_data, "amortization_months", "loan.", 2, 360))
    ev = _section(data, "evidence")
    samples = []
    for i, s in enumerate(ev.get("price_samples") or []):
        buy = _money(s, "buy_price", f"evidence.price_samples[{i}].", default=None)
        sell = _money(s, "sell_price", f"evidence.price_samples[{i}].", default=None)
        if buy is not None and sell is not None:
            samples.append(PriceSample(str(s.get("product") or ""), buy, sell))
    evidence = Evidence(
        sample_daily_sales=_money(ev, "sample_daily_sales", "evidence.", default=None),
        operating_days=_int(ev, "operating_days", "evidence.", 1, 31),
        sample_month=_int(ev, "sample_month", "evidence.", 1, 12),
        purchases_month=_money(ev, "purchases_month", "evidence.", default=None),
        stock_change_month=_money(ev, "stock_change_month", "evidence.", allow_negative=True),
        bank_inflows_month=_money(ev, "bank_inflows_month", "evidence.", default=None),
        bank_share_of_sales=_money(ev, "bank_share_of_sales", "evidence.", default=Decimal(1)),
        price_samples=tuple(samples),
        sector_inventory_months=_money(ev, "sector_inventory_months", "evidence.", default=None),
        sector_gross_margin=_money(ev, "sector_gross_margin", "evidence.", default=None),
        initial_equity=_money(ev, "initial_equity", "evidence.", default=None, allow_negative=True),
        retained_profits=_money(ev, "retained_profits", "evidence.", default=None, allow_negative=True),
        withdrawals=_money(ev, "withdrawals", "evidence.", default=None),
        household_size=_int(ev, "household_size", "evidence.", 1, 50),
        living_cost_per_person=_money(ev, "living_cost_per_person", "evidence.", default=None),
        bureau_debts=_money(ev, "bureau_debts", "evidence.", default=None),
    )
    answers = _section(data, "soft_answers")
    return Worksheet(
        business=BusinessBalanceSheet(**_fields(BusinessBalanceSheet, _section(data, "business_balance_sheet"),
                                                "business_balance_sheet.")),
        household=HouseholdBalanceSheet(**_fields(HouseholdBalanceSheet, _section(data, "household_balance_sheet"),
                                                  "household_balance_sheet.")),
        typical=scenarios["typical"], good=scenarios["good"], bad=scenarios["bad"], seasonality=tuple(season),
        existing_instalments=_money(data, "existing_instalments", ""), loan=loan, evidence=evidence,
        soft_answers={str(k): str(v) for k, v in answers.items() if v not in (None, "")},
    )


def is_complete(worksheet: Worksheet, analysis: Analysis, questionnaire: Questionnaire = DEFAULT_QUESTIONNAIRE) -> bool:
    """Complete enough to move the case to ANALYSED: statements, a typical month with sales, a candidate loan,
    at least one cross-check, and every soft indicator answered."""
    return (worksheet.business.total_assets > 0 and worksheet.typical.sales > 0 and worksheet.loan is not None
            and bool(analysis.cross_checks) and not analysis.soft.unanswered)
