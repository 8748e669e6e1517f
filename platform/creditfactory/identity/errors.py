"""Identity's errors: refusals (HTTP 403 at the web layer) and bad input (exit code 2 in the CLI)."""

from __future__ import annotations

from ..errors import DomainError


class AccessDenied(PermissionError):
    """The acting principal may not do this here; the message names who, what and why."""

    #: HTTP status the web layer answers with.
    status = 403


class TenantMismatchDenied(AccessDenied):
    """The principal acts for one village bank and the request or job is bound to another: refused, never switched."""


class SegregationOfDutiesViolation(AccessDenied):
    """One person would hold two duties that must be separate (调查与审批分离, maker-checker 双人复核)."""


class IdentityError(DomainError):
    """Bad input to an identity operation (unknown user, role or tenant, weak password); nothing was changed."""
