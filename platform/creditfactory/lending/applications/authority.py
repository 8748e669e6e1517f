"""The approval authority matrix (授权审批矩阵), changed only through maker-checker (kind ``approval_authority.set``).

Target ``<role>:<product code or *>``; payload ``{"max_amount": "50000.00", "max_term_months": 12}`` sets the row,
``{"remove": true}`` removes it. The maker needs ``approval_authority.configure``; the checker ``config.approve``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...audit import record
from ...identity.changes import ChangeKind, ChangeRequest, ChangeRequestError, propose, register_change_kind
from ...identity.permissions import Permission
from ...identity.roles import ROLE_CODE_RE
from .models import ApprovalAuthority

SET = "approval_authority.set"
_PRODUCT_RE = re.compile(r"^(\*|[a-z0-9_]{1,40})$")


def parse_target(target: str) -> tuple[str, str]:
    role, _, product = (target or "").partition(":")
    problems = []
    if not ROLE_CODE_RE.match(role):
        problems.append(f"role {role!r} must match {ROLE_CODE_RE.pattern}")
    if not _PRODUCT_RE.match(product):
        problems.append(f"product {product!r} must be a product code or *")
    if problems:
        raise ChangeRequestError(f"approval authority {target!r}: " + "; ".join(problems))
    return role, product


def validate(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    parse_target(target)
    if payload.get("remove") is True and set(payload) == {"remove"}:
        return {"remove": True}
    problems = []
    unknown = sorted(set(payload) - {"max_amount", "max_term_months"})
    if unknown:
        problems.append(f"unknown fields: {', '.join(unknown)}")
    try:
        amount = Decimal(str(payload.get("max_amount"))).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if amount <= 0:
            problems.append("max_amount must be positive")
    except (InvalidOperation, ValueError):
        amount = None
        problems.append("max_amount must be an amount of yuan")
    term = payload.get("max_term_months")
    if not isinstance(term, int) or isinstance(term, bool) or not 1 <= term <= 360:
        problems.append("max_term_months must be a whole number from 1 to 360")
    if problems:
        raise ChangeRequestError(f"approval authority {target!r}: " + "; ".join(problems))
    return {"max_amount": str(amount), "max_term_months": term}


def _apply(session: Session, target: str, payload: dict[str, Any]) -> None:
    role, product = parse_target(target)
    row = session.scalars(select(ApprovalAuthority).where(ApprovalAuthority.role == role,
                                                          ApprovalAuthority.product_code == product)).one_or_none()
    before = None if row is None else {"max_amount": row.max_amount, "max_term_months": row.max_term_months}
    if payload.get("remove"):
        if row is not None:
            session.delete(row)
        after = None
    else:
        if row is None:
            row = ApprovalAuthority(role=role, product_code=product)
            session.add(row)
        row.max_amount, row.max_term_months = Decimal(payload["max_amount"]), payload["max_term_months"]
        after = {"max_amount": row.max_amount, "max_term_months": row.max_term_months}
    session.flush()
    record(session, "approval_authority.set", object_type="approval_authority", object_id=target,
           before=before, after=after)


def propose_authority(session: Session, role: str, product_code: str, max_amount: Decimal | str | None,
                      max_term_months: int | None, *, remove: bool = False) -> ChangeRequest:
    """Propose a row of the matrix (or its removal); it takes effect when a second person approves."""
    from ...identity.principal import CurrentPrincipal

    if CurrentPrincipal.get().user_id is None:
        raise ChangeRequestError("a maker-checker change is proposed by a person: use an app acting for a user")
    payload: dict[str, Any] = {"remove": True} if remove else {"max_amount": str(max_amount),
                                                               "max_term_months": max_term_months}
    return propose(session, SET, f"{role}:{product_code}", payload)


def matrix(session: Session) -> list[ApprovalAuthority]:
    return list(session.scalars(select(ApprovalAuthority).order_by(ApprovalAuthority.role,
                                                                   ApprovalAuthority.product_code)))


register_change_kind(ChangeKind(SET, Permission.APPROVAL_AUTHORITY_CONFIGURE, validate, _apply))
