"""Segregation of duties (岗位分离): pure rules on user ids, enforced by the services that record the duties."""

from __future__ import annotations

from .errors import SegregationOfDutiesViolation


def check_separation(investigator_id: int, approver_id: int) -> None:
    """The loan officer who investigated an application (贷前调查) can never approve it (审批)."""
    if investigator_id == approver_id:
        raise SegregationOfDutiesViolation("the person who investigated an application cannot approve it")


def check_maker_checker(maker_id: int, checker_id: int) -> None:
    """A configuration change is checked (复核) by a second person, never by its maker (经办)."""
    if maker_id == checker_id:
        raise SegregationOfDutiesViolation("the maker of a change cannot approve or reject it; a second person must")
