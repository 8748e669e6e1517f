"""The credit factory process (信贷工厂): products, customers, applications, investigation, decisions on cases,
contracts, and after them the back office. One sub-package per step; each owns its tables, services, API and pages.
"""
