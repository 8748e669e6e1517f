"""Audit of head-office and regulator reads of village-bank data (issue 3 item 6).

A village bank's own staff read their own data without an audit entry per page (their changes are audited). The
head office and regulators read *across* banks: each such read is recorded in the shared audit log — who, in which
context, what, which banks, with which parameters (an as-of date, a period, a filter) — before the data is handed
out. The entry is committed in its own transaction first, so a read whose record cannot be written fails instead of
going unrecorded.

Use ``record_cross_tenant_read`` from a service or view, or decorate a view with ``audits_cross_tenant_read``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping, ParamSpec, TypeVar

#: The action of every cross-tenant read entry; ``object_id`` says what was read.
ACTION = "tenant_data.read"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def record_cross_tenant_read(what: str, tenants: Iterable[str], parameters: Mapping[str, Any] | None = None) -> bool:
    """Record that the current head-office or regulator principal reads ``what`` (a dotted name such as
    ``report.regulatory.loan_quality``) of the village banks ``tenants`` with ``parameters``; commits at once.

    Returns False (and records nothing) for a principal acting inside a village bank: reading one's own bank is
    not a cross-tenant read. Raises ``AccessDenied`` when nobody is acting.
    """
    from ..db import shared_session
    from ..identity.permissions import Context
    from ..identity.principal import CurrentPrincipal
    from .services import record

    principal = CurrentPrincipal.get()
    if principal.context is Context.TENANT:
        return False
    after = {
        "context": principal.context.value,
        "principal": principal.username,
        "client_id": principal.client_id,
        "tenants": sorted(set(tenants)),
        "parameters": dict(parameters or {}),
    }
    with shared_session() as shared, shared.begin():
        record(shared, ACTION, object_type="tenant_data", object_id=what, after=after)
    return True


def audits_cross_tenant_read(what: str, *,
                             tenants: Callable[..., Iterable[str]],
                             parameters: Callable[..., Mapping[str, Any]] | None = None
                             ) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a view (under ``@blp.auth``/``@login_required``, above argument parsing's output) so every call by a
    head-office or regulator principal is recorded before the view runs. ``tenants`` and ``parameters`` get the
    view's arguments (without a MethodView's ``self``) and return the banks read and the parameters that shape the read."""

    def decorate(view: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(view)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            from flask.views import View

            # A MethodView's method gets ``self`` first; the callables get only the view's own arguments.
            own = args[1:] if args and isinstance(args[0], View) else args
            record_cross_tenant_read(what, tenants(*own, **kwargs),
                                     parameters(*own, **kwargs) if parameters is not None else None)
            return view(*args, **kwargs)

        return wrapper

    return decorate
