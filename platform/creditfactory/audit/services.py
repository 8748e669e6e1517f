"""Appending to an audit log inside the caller's transaction, so the entry stands or falls with the change.

``record`` only queues the entry on the session; the entries are chained and written just before the session
commits (one statement that locks the log's head, chains and inserts them and moves the head, however many). Why: the
chain makes appends to one log take turns, and taking that turn at the first ``record`` held every other writer
of the bank back for the rest of the transaction (an intake's whole admission decision); taken at commit, the
turn lasts a few statements. An entry queued inside a savepoint that rolls back is dropped with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import (Executable, Integer, Table, Text, bindparam, cast, column, event, func, insert, literal,
                        literal_column, select, text, true, update)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from ..web.request_id import current_request_id
from .chain import APPEND_FIELDS, GENESIS_HASH, canonical_pieces, plain
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
    genesis, append = _statements(log.entries.__table__, log.head.__table__)
    entries = []
    for n, item in enumerate(pending, 1):
        fields = {"tenant": log.tenant, **item.fields}
        head, middle, tail = canonical_pieces(fields)
        entries.append({"n": n, "head": head, "middle": middle, "tail": tail, **fields})
    if session.execute(append, {"entries": entries}).first() is None:
        # The log's first entry: there is no head row to lock yet. Its first writers take turns on the log's
        # advisory lock; the first of them starts the head at the genesis, and the entries chain from there.
        session.execute(_LOCK, {"key": log.lock_key})
        session.execute(genesis)
        session.execute(append, {"entries": entries}).one()


@functools.cache
def _statements(entries: Table, head: Table) -> tuple[Executable, Executable]:
    """A log's two statements, built once: the start of its head, and the append.

    The append takes the log's turn (it locks the head row until commit or rollback, so seq is gap-free and each
    entry chains to the one committed before it; other logs are not held up, and read committed hands a waiting
    writer the head as the previous writer committed it), chains the entries from the head (sha256 of the
    previous hash and the entry's canonical JSON, whose ``at`` and ``seq`` it fills in: ``chain.canonical_pieces``),
    writes them and moves the head, in one statement; it returns the head's new seq, and no row where the log has
    no head yet. Chaining from the head rather than from the newest entry: if the tail was deleted, the next entry
    still follows the head's seq and hash, and the hole stays visible to verify instead of being papered over.

    The entries go as one JSON array (one bind parameter), so the statement's text does not change with their
    number: SQLAlchemy compiles it once and PostgreSQL plans it once.
    """
    given = [c for c in entries.columns if c.name not in (*APPEND_FIELDS, "prev_hash", "hash")]
    locked = select(head.c.seq, cast(head.c.hash, Text).label("hash"), func.clock_timestamp().label("at")) \
        .where(head.c.id == 1).with_for_update().cte("locked")
    source = select(func.jsonb_to_recordset(bindparam("entries", type_=JSONB)).table_valued(
        column("n", Integer), column("head", Text), column("middle", Text), column("tail", Text),
        *(column(c.name, c.type) for c in given)).render_derived(with_types=True)).cte("source")
    # canonical_json's timestamp: ISO 8601 in UTC with microseconds, as Python's isoformat writes it.
    at_json = (literal('"') + func.to_char(func.timezone("UTC", locked.c.at), 'YYYY-MM-DD"T"HH24:MI:SS.US')
               + literal('+00:00"'))
    chain = select(literal(0).label("n"), locked.c.seq, locked.c.hash, cast(None, Text).label("prev_hash")) \
        .cte("chain", recursive=True)
    chain = chain.union_all(
        select(source.c.n, chain.c.seq + 1,
               func.encode(func.sha256(func.convert_to(
                   chain.c.hash + source.c.head + at_json + source.c.middle + cast(chain.c.seq + 1, Text)
                   + source.c.tail, "UTF8")), "hex"),
               chain.c.hash)
        .select_from(chain.join(source, source.c.n == chain.c.n + 1).join(locked, true())))
    # jsonb_to_recordset turns JSON null into SQL NULL; the JSONB columns keep JSON null, as the ORM stores None.
    values = [func.coalesce(source.c[c.name], literal_column("'null'::jsonb", JSONB))
              if isinstance(c.type, JSONB) else source.c[c.name] for c in given]
    written = insert(entries).from_select(
        [*APPEND_FIELDS, *(c.name for c in given), "prev_hash", "hash"],
        select(locked.c.at, chain.c.seq, *values, chain.c.prev_hash, chain.c.hash)
        .select_from(chain.join(source, source.c.n == chain.c.n).join(locked, true()))).cte("written")
    last = select(chain.c.seq, chain.c.hash).order_by(chain.c.n.desc()).limit(1).cte("last")
    append = (update(head).where(head.c.id == 1)
              .values(seq=select(last.c.seq).scalar_subquery(), hash=select(last.c.hash).scalar_subquery(),
                      at=select(locked.c.at).scalar_subquery())
              .add_cte(written).returning(head.c.seq))
    genesis = pg_insert(head).values(id=1, seq=0, hash=GENESIS_HASH, at=func.clock_timestamp()) \
        .on_conflict_do_nothing(index_elements=[head.c.id])
    return genesis, append


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
