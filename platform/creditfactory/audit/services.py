"""Appending to an audit log inside the caller's transaction, so the entry stands or falls with the change.

``record`` only queues the entry on the session; the entries are chained and written just before the session
commits (one locking read of the log's head and one statement that inserts them and moves the head, however many). Why: the
chain makes appends to one log take turns, and taking that turn at the first ``record`` held every other writer
of the bank back for the rest of the transaction (an intake's whole admission decision); taken at commit, the
turn lasts a few statements. An entry queued inside a savepoint that rolls back is dropped with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import Executable, Table, bindparam, column, event, func, insert, literal_column, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
    in_turn, append = _statements(log.entries.__table__, log.head.__table__)
    # Locking the head row makes appends to one log take turns until commit or rollback, so seq is gap-free and
    # each entry chains to the one committed before it; other logs are not held up. Read committed hands the
    # waiting writer the head as the previous writer committed it. A log without a head yet (its first entry)
    # has no row to lock: its writers take turns on the log's advisory lock, then read again.
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
        rows.append({**fields, "at": plain(at), "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    session.execute(append, {"entries": rows, "head_seq": seq, "head_hash": prev_hash, "head_at": at})


@functools.cache
def _statements(entries: Table, head: Table) -> tuple[Executable, Executable]:
    """A log's two statements, built once: the locking read of its head, and the append.

    The append writes the entries (a JSON array, one bind parameter) and moves the head in one statement whose
    text does not change with the number of entries, so SQLAlchemy compiles it once and PostgreSQL plans it once
    (a multi-row VALUES list would be compiled afresh on every commit). The head row is inserted with the log's
    first entry and updated ever after.
    """
    in_turn = select(head.c.seq, head.c.hash, func.clock_timestamp()).with_for_update()
    names = [c.name for c in entries.columns]
    source = func.jsonb_to_recordset(bindparam("entries", type_=JSONB)).table_valued(
        *(column(c.name, c.type) for c in entries.columns)).render_derived(with_types=True)
    # jsonb_to_recordset turns JSON null into SQL NULL; the JSONB columns keep JSON null, as the ORM stores None.
    values = [func.coalesce(source.c[name], literal_column("'null'::jsonb", JSONB))
              if isinstance(entries.c[name].type, JSONB) else source.c[name] for name in names]
    written = insert(entries).from_select(names, select(*values)).cte("entries")
    moved = {"seq": bindparam("head_seq"), "hash": bindparam("head_hash"), "at": bindparam("head_at")}
    append = pg_insert(head).values(id=1, **moved).on_conflict_do_update(index_elements=[head.c.id], set_=moved)
    return in_turn, append.add_cte(written)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.info.get(_PENDING):
        flush_audit(session)


@event.listens_for(Session, "do_orm_execute")
def _read_your_own_entries(state: ORMExecuteState) -> None:
    # A transaction that reads its log (a check, a test) sees the entries it has queued, as if written at once.
    # The statement's primary entity decides (all_mappers would describe every column of every ORM read).
    if state.session.info.get(_PENDING) and state.is_select:
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, AuditEntryColumns):
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
