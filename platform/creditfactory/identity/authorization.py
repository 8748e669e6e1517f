"""Authorization below the web layer: every service checks the ``CurrentPrincipal``, whoever called it."""

from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

from ..db import CurrentTenant, SystemContext
from .errors import AccessDenied, TenantMismatchDenied
from .permissions import Context, Permission
from .principal import CurrentPrincipal

_P = ParamSpec("_P")
_R = TypeVar("_R")


def authorize(permission: Permission, *, allow_system: bool = False) -> None:
    """Refuse (``AccessDenied``) unless the current principal may use ``permission`` here and now.

    The principal must hold the permission, act in the permission's context and, for a village-bank permission,
    act for the very tenant bound to this unit of work: a mismatch is refused, never resolved by switching.

    ``allow_system``: with no principal bound, work inside a ``SystemContext`` (jobs, the operator's CLI) passes.
    It is opt-in per call because a SystemContext proves only that code, not a person, started the work; each
    service decides whether unattended work may do this (a nightly job may, an approval never may).
    """
    principal = CurrentPrincipal.get_or_none()
    if principal is None:
        if allow_system and SystemContext.active():
            return
        raise AccessDenied(f"{permission.code} ({permission.label_en}) needs an authenticated user")
    if permission not in principal.permissions:
        raise AccessDenied(f"user {principal.username!r} acting for {principal.acting_for} lacks permission "
                           f"{permission.code} ({permission.label_en} / {permission.label_zh})")
    if permission.context is not principal.context:
        raise AccessDenied(f"{permission.code} belongs to the {permission.context.label_en} context; user "
                           f"{principal.username!r} acts for {principal.acting_for}")
    if permission.context is Context.TENANT:
        tenant = CurrentTenant.get_or_none()
        if tenant is None:
            raise AccessDenied(f"{permission.code} needs a tenant bound to this unit of work")
        if tenant.slug != principal.tenant_slug:
            raise TenantMismatchDenied(f"user {principal.username!r} acts for tenant {principal.tenant_slug!r}, "
                                       f"not for tenant {tenant.slug!r}")


def requires(permission: Permission, *, allow_system: bool = False) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a service function so each call is authorized first (see ``authorize``)."""

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            authorize(permission, allow_system=allow_system)
            return func(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper

    return decorate
