"""The decision engine (决策引擎): admission, pre-approval and approval rule sets over catalogued facts.

Entry point for the application process: :func:`evaluate_stage`. See docs/decisions.md.
"""
