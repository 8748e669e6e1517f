"""Loan applications (贷款申请) and their state machine, from intake to contract."""
