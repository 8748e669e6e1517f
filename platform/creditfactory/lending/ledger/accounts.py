"""The chart of accounts for lending (codes follow the Chinese bank chart's numbering loosely)."""

from __future__ import annotations

CASH = "1001"                  # cash and clearing with the core-banking system
PRINCIPAL = "1301"             # loan principal receivable
INTEREST_RECEIVABLE = "1302"   # accrued interest receivable (on balance sheet)
PENALTY_RECEIVABLE = "1303"    # overdue (penalty) interest receivable
PROVISION = "1304"             # loan-loss provision (contra asset)
SUSPENSE = "2241"              # money received that cannot be allocated yet
INTEREST_INCOME = "5011"
PENALTY_INCOME = "5012"
PROVISION_EXPENSE = "6701"     # impairment losses on loans
WAIVER_EXPENSE = "6702"        # interest and penalty waived
OFF_INTEREST = "9101"          # off-balance: interest owed by non-accrual loans (表外应收利息)
OFF_INTEREST_CONTRA = "9102"
OFF_WRITTEN_OFF = "9201"       # off-balance: written-off principal still being recovered
OFF_WRITTEN_OFF_CONTRA = "9202"

#: code -> (name_zh, name_en, kind, normal side)
CHART: dict[str, tuple[str, str, str, str]] = {
    CASH: ("清算资金", "Cash and clearing", "asset", "D"),
    PRINCIPAL: ("贷款本金", "Loan principal receivable", "asset", "D"),
    INTEREST_RECEIVABLE: ("应收利息", "Interest receivable", "asset", "D"),
    PENALTY_RECEIVABLE: ("应收罚息", "Penalty interest receivable", "asset", "D"),
    PROVISION: ("贷款损失准备", "Loan-loss provisions", "asset", "C"),
    SUSPENSE: ("待清算款项", "Suspense", "liability", "C"),
    INTEREST_INCOME: ("利息收入", "Interest income", "income", "C"),
    PENALTY_INCOME: ("罚息收入", "Penalty income", "income", "C"),
    PROVISION_EXPENSE: ("信用减值损失", "Loan impairment expense", "expense", "D"),
    WAIVER_EXPENSE: ("息费减免", "Interest and penalty waived", "expense", "D"),
    OFF_INTEREST: ("表外应收利息", "Off-balance interest receivable", "off_balance", "D"),
    OFF_INTEREST_CONTRA: ("表外应收利息对应", "Off-balance interest (contra)", "off_balance", "C"),
    OFF_WRITTEN_OFF: ("已核销贷款", "Written-off loans", "off_balance", "D"),
    OFF_WRITTEN_OFF_CONTRA: ("已核销贷款对应", "Written-off loans (contra)", "off_balance", "C"),
}
