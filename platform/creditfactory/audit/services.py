"""Appending to an audit log inside the caller's transaction, so the entry stands or falls with the change."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..web.request_id import current_request_id
from .chain import GENESIS_HASH, entry_hash, plain
from .context import CurrentActor
from .logs import log_of
from .models import AuditEntryColumns

_LOCK_AND_CLOCK = text("SELECT pg_advisory_xact_lock(:key), clock_timestamp()")


def record(session: Session, action: str, *, object_type: str, object_id: Any, before: Any = None,
           after: Any = None) -> AuditEntryColumns:
    """Append an entry to the log of ``session``'s context (its tenant's, or the shared log) and return it.

    ``action`` is a dotted verb (``tenant.suspend``); ``before``/``after`` the changed configuration, as
    JSON-able values (Decimal, dates and enums allowed). Nothing is committed here: the caller's commit
    publishes the entry together with the change it describes, and a rollback removes both.
    Raises ``Unattributed`` when neither an actor nor a SystemContext is bound.
    """
    actor = CurrentActor.resolve()
    log = log_of(session)
    # The transaction-scoped lock makes appends to one log take turns until commit or rollback, so seq is
    # gap-free and each entry chains to the one committed before it; other logs are not held up.
    _, at = session.execute(_LOCK_AND_CLOCK, {"key": log.lock_key}).one()
    head = session.scalar(select(log.head).execution_options(populate_existing=True))
    # Chain from the head rather than from the newest entry: if the tail was deleted, the next entry still
    # follows the head's seq and hash, and the hole stays visible to verify instead of being papered over.
    seq, prev_hash = (head.seq + 1, head.hash) if head is not None else (1, GENESIS_HASH)
    fields = {
        "seq": seq, "at": at, "actor": actor.id, "actor_kind": actor.kind.value, "tenant": log.tenant,
        "action": action, "object_type": object_type, "object_id": str(object_id),
        "before": plain(before), "after": plain(after),
        "ip": request.remote_addr if has_request_context() else None,
        "request_id": current_request_id(),
    }
    digest = entry_hash(prev_hash, fields)
    entry = log.entries(**fields, prev_hash=prev_hash, hash=digest)
    session.add(entry)
    if head is None:
        session.add(log.head(id=1, seq=seq, hash=digest, at=at))
    else:
        head.seq, head.hash, head.at = seq, digest, at
    session.flush()
    return entry
