"""Maker-checker (双人复核): a change to lending configuration takes effect only once a second person approves it.

Services flush and leave the commit to the caller's unit of work, so approving and applying a change are one
transaction: either both are recorded or neither is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import CurrentTenant
from .authorization import authorize
from .duties import check_maker_checker
from .errors import AccessDenied, IdentityError
from .models import ChangeRequest, ChangeStatus
from .permissions import Permission
from .principal import CurrentPrincipal

Payload = dict[str, Any]


class ChangeRequestError(IdentityError):
    """The change request cannot be proposed, approved or rejected as asked; nothing was changed."""


@dataclass(frozen=True)
class ChangeKind:
    """One kind of configuration change, e.g. ``role.custom.upsert``, and how it takes effect."""

    code: str
    #: What the maker must hold to propose it; the checker always needs ``config.approve``.
    permission: Permission
    #: ``(target, payload) -> payload``: checks and normalises; runs at proposal and again at approval.
    validate: Callable[[str, Payload], Payload]
    #: ``(session, target, payload)``: makes the change take effect.
    apply: Callable[[Session, str, Payload], None]
    #: ``(session, target, payload)``: at proposal, e.g. reserves the target; must grant nothing.
    prepare: Callable[[Session, str, Payload], None] | None = None
    #: ``(session, target)``: at rejection, undoes what ``prepare`` did.
    discard: Callable[[Session, str], None] | None = None
    #: ``(session, target) -> payload or None``: the target's state now, in the payload's shape, so the approvals
    #: page can show before and after side by side; None when the target does not exist yet.
    current: Callable[[Session, str], Payload | None] | None = None


_KINDS: dict[str, ChangeKind] = {}


def register_change_kind(kind: ChangeKind) -> ChangeKind:
    if kind.code in _KINDS:
        raise ValueError(f"change kind {kind.code!r} is already registered")
    _KINDS[kind.code] = kind
    return kind


def change_kinds() -> dict[str, ChangeKind]:
    return dict(_KINDS)


def change_kind(code: str) -> ChangeKind:
    try:
        return _KINDS[code]
    except KeyError:
        raise ChangeRequestError(f"unknown kind of change {code!r}") from None


def propose(session: Session, kind: str, target: str, payload: Payload) -> ChangeRequest:
    """Record a pending change by the current principal (the maker, 经办); it changes nothing yet."""
    change = change_kind(kind)
    authorize(change.permission)
    _check_session(session)
    payload = change.validate(target, payload)
    request = ChangeRequest(kind=kind, target=target, payload=payload, status=ChangeStatus.PENDING.value,
                            maker_id=CurrentPrincipal.get().user_id, reason="")
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        raise ChangeRequestError(f"a {kind} change of {target!r} is already waiting for approval") from None
    if change.prepare is not None:
        change.prepare(session, target, payload)
        session.flush()
    return request


def approve(session: Session, request_id: int) -> ChangeRequest:
    """Approve a pending change as the current principal (the checker, 复核) and apply it, once."""
    request, checker_id = _checkable(session, request_id)
    change = change_kind(request.kind)
    payload = change.validate(request.target, request.payload)
    _close(session, request, ChangeStatus.APPROVED, checker_id, reason="")
    change.apply(session, request.target, payload)
    request.status = ChangeStatus.APPLIED.value
    session.flush()
    return request


def reject(session: Session, request_id: int, reason: str) -> ChangeRequest:
    """Reject a pending change as the current principal, with the reason the maker will read."""
    if not reason.strip():
        raise ChangeRequestError("a rejection needs a reason")
    request, checker_id = _checkable(session, request_id)
    change = change_kind(request.kind)
    _close(session, request, ChangeStatus.REJECTED, checker_id, reason=reason.strip())
    if change.discard is not None:
        change.discard(session, request.target)
    session.flush()
    return request


def _checkable(session: Session, request_id: int) -> tuple[ChangeRequest, int]:
    # Approval always needs a person: a job or the CLI can never be the second pair of eyes.
    authorize(Permission.CONFIG_APPROVE)
    _check_session(session)
    request = session.get(ChangeRequest, request_id)
    if request is None:
        raise ChangeRequestError(f"no change request {request_id}")
    checker_id = CurrentPrincipal.get().user_id
    check_maker_checker(request.maker_id, checker_id)
    return request, checker_id


def _close(session: Session, request: ChangeRequest, status: ChangeStatus, checker_id: int, reason: str) -> None:
    # Compare-and-set on the status: of two checkers acting at once, the second waits for the first's row lock,
    # then matches no row, so a change is approved (and applied) at most once.
    closed = session.execute(
        update(ChangeRequest)
        .where(ChangeRequest.id == request.id, ChangeRequest.status == ChangeStatus.PENDING.value)
        .values(status=status.value, checker_id=checker_id, checked_at=dt.datetime.now(dt.timezone.utc),
                reason=reason)
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        session.refresh(request)
        raise ChangeRequestError(f"change request {request.id} is already {request.status}")
    session.refresh(request)


def _check_session(session: Session) -> None:
    tenant = session.info.get("tenant")
    if tenant is None or tenant.slug != CurrentTenant.get().slug:
        raise AccessDenied("configuration changes are recorded only in the acting tenant's own session")


# The built-in kinds register themselves; imported last because they use the registry above.
from . import administration, custom_roles  # noqa: E402,F401
