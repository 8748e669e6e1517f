"""Appending to an audit log inside the caller's transaction, so the entry stands or falls with the change.

``record`` only queues the entry on the session; the entries are chained and written just before the session
commits (one locking read of the log's head, one insert, one head update per transaction, however many entries). Why: the
chain makes appends to one log take turns, and taking that turn at the first ``record`` held every other writer
of the bank back for the rest of the transaction (an intake's whole admission decision); taken at commit, the
turn lasts a few statements. An entry queued inside a savepoint that rolls back is dropped with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from ..web.request_id import current_request_id
from .chain import GENESIS_HASH, entry_hash, plain
from .context import CurrentActor
from .logs import log_of
from .models import AuditEntryColumns

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
#: Key in ``Session.info`` of the entries waiting for the commit.
_PENDING = "creditfactory.audit.pending"


@dataclass
class _Pending:
    fields: dict[str, Any]
    transaction: SessionTransaction | None


def record(session: Session, action: str, *, object_type: str, object_id: Any, before: Any = None,
           after: Any = None) -> None:
    """Append an entry to the log of ``session``'s context (its tenant's, or the shared log) when it commits.

    ``action`` is a dotted verb (``tenant.suspend``); ``before``/``after`` the changed configuration, as
    JSON-able values (Decimal, dates and enums allowed). Nothing is committed here: the caller's commit
    publishes the entry together with the change it describes, and a rollback removes both.
    Raises ``Unattributed`` when neither an actor nor a SystemContext is bound.
    """
    actor = CurrentActor.resolve()
    fields = {
        "actor": actor.id, "actor_kind": actor.kind.value,
        "action": action, "object_type": object_type, "object_id": str(object_id),
        "before": plain(before), "after": plain(after),
        "ip": request.remote_addr if has_request_context() else None,
        "request_id": current_request_id(),
    }
    session.info.setdefault(_PENDING, []).append(_Pending(fields, session.get_transaction()))
    # The change the entry describes goes to the database now, as when appending wrote the entry at once: callers
    # that re-read (refresh) what they changed after recording it rely on that.
    session.flush()


def flush_audit(session: Session) -> None:
    """Chain and write the entries queued on ``session`` now (``before_commit`` does this by itself)."""
    pending: list[_Pending] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    log = log_of(session)
    head_table, entries = log.head.__table__, log.entries.__table__
    # Locking the head row makes appends to one log take turns until commit or rollback, so seq is gap-free and
    # each entry chains to the one committed before it; other logs are not held up. Read committed hands the
    # waiting writer the head as the previous writer committed it. A log without a head yet (its first entry)
    # has no row to lock: its writers take turns on the log's advisory lock, then read again.
    in_turn = select(head_table.c.seq, head_table.c.hash, func.clock_timestamp()).with_for_update()
    head = session.execute(in_turn).one_or_none()
    if head is None:
        session.execute(_LOCK, {"key": log.lock_key})
        head = session.execute(in_turn).one_or_none()
    # Chain from the head rather than from the newest entry: if the tail was deleted, the next entry still
    # follows the head's seq and hash, and the hole stays visible to verify instead of being papered over.
    if head is not None:
        seq, prev_hash, at = head
    else:
        seq, prev_hash, at = 0, GENESIS_HASH, session.scalar(select(func.clock_timestamp()))
    rows = []
    for item in pending:
        seq += 1
        fields = {"seq": seq, "at": at, "tenant": log.tenant, **item.fields}
        digest = entry_hash(prev_hash, fields)
        rows.append({**fields, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    moved = {"seq": seq, "hash": prev_hash, "at": at}
    if head is None:
        session.execute(insert(entries), rows)
        session.execute(insert(head_table).values(id=1, **moved))
    elif len(rows) <= _ONE_STATEMENT_ROWS:
        # Entries and the head's move in one statement (the insert as a CTE): one round trip less per commit.
        session.execute(update(head_table).values(**moved).add_cte(insert(entries).values(rows).cte("entries")))
    else:
        session.execute(insert(entries), rows)
        session.execute(update(head_table).values(**moved))


#: Above this many entries in one commit (a batch job), they go as an executemany insert: a multi-row VALUES list
#: has a bind parameter per field and PostgreSQL takes at most 65,535.
_ONE_STATEMENT_ROWS = 200


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.info.get(_PENDING):
        flush_audit(session)


@event.listens_for(Session, "do_orm_execute")
def _read_your_own_entries(state: ORMExecuteState) -> None:
    # A transaction that reads its log (a check, a test) sees the entries it has queued, as if written at once.
    if state.session.info.get(_PENDING) and state.is_select and any(
            issubclass(mapper.class_, AuditEntryColumns) for mapper in state.all_mappers):
        flush_audit(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if not pending:
        return
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        return

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_PENDING] = [item for item in pending if not inside(item.transaction)]
