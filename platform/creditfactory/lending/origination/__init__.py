"""Origination: the steps of a loan application wired into one process (intake → decision)."""
