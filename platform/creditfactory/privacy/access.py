"""Showing personal data to a person: in clear only with ``pii.read``, and every clear read audited."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy.orm import Session

from ..audit import Actor, ActorKind, CurrentActor, record
from ..db import CurrentTenant
from ..identity.authorization import authorize
from ..identity.errors import AccessDenied, TenantMismatchDenied
from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal
from .fields import PiiField, unseal
from .identifiers import mask

#: Audit action of an unmasked read (查看客户敏感信息).
REVEAL_ACTION = "pii.reveal"


def may_read_clear(session: Session) -> bool:
    """Whether the current principal may see personal data of ``session``'s tenant in clear.

    Lacking ``pii.read``, or having no person behind the work at all (jobs, the CLI), means masked values.
    Acting for another tenant than the data's is not a masking case but a refusal: ``TenantMismatchDenied``.
    """
    try:
        authorize(Permission.PII_READ)
    except TenantMismatchDenied:
        raise
    except AccessDenied:
        return False
    # authorize matched the principal with the bound tenant; the data must come from that tenant too.
    owner = session.info["tenant"].slug
    if owner != CurrentTenant.get().slug:
        raise TenantMismatchDenied(f"personal data of tenant {owner!r} read while acting for tenant "
                                   f"{CurrentTenant.get().slug!r}")
    return True


def reveal(session: Session, field: PiiField, sealed: str, *, object_type: str, object_id: Any) -> str:
    """The value of ``sealed`` for display: clear for holders of ``pii.read``, masked for everyone else.

    A clear read appends ``pii.reveal`` (object, column and kind; never the value) to the tenant's audit log in
    the caller's transaction, so the read is on record exactly when the response built from it can be committed.
    Masking needs the clear value, so the value is opened either way; it never leaves this function unmasked
    for a caller without the permission.
    """
    clear = unseal(session, field, sealed)
    if not may_read_clear(session):
        return mask(field.kind, clear)
    principal = CurrentPrincipal.get()
    # The person who sees the value answers for it; a request that bound its actor already keeps it.
    attribution = (nullcontext() if CurrentActor.get_or_none() is not None else
                   CurrentActor.bind(Actor(id=str(principal.user_id), kind=ActorKind.USER, display=principal.username)))
    with attribution:
        record(session, REVEAL_ACTION, object_type=object_type, object_id=object_id,
               after={"field": field.column, "kind": field.kind.value})
    return clear
