"""Checking a log end to end: every hash, every link, no missing seq, and the tail against the head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .chain import GENESIS_HASH, HASHED_FIELDS, entry_hash
from .logs import log_of

#: A broken log is reported with at most this many problems; the first one is what an investigator needs.
MAX_PROBLEMS = 100
_BATCH = 1000


@dataclass
class VerifyReport:
    """Outcome of verifying one log. ``head_hash`` is worth storing elsewhere: see docs/audit.md."""

    log: str
    ok: bool = True
    entries: int = 0
    first_broken: int | None = None
    problems: list[str] = field(default_factory=list)
    head_seq: int | None = None
    head_hash: str | None = None

    def broken(self, seq: int | None, problem: str) -> None:
        self.ok = False
        if seq is not None and (self.first_broken is None or seq < self.first_broken):
            self.first_broken = seq
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_log(session: Session) -> VerifyReport:
    """Verify the log of ``session``'s context, streaming its entries in seq order (constant memory).

    The head and the entries must come from one snapshot, or an append committed in between would look like
    tampering: a fresh session on an engine is switched to REPEATABLE READ here; a session already in a
    transaction (or joined to a caller's connection) is trusted to provide that snapshot itself.
    """
    if not session.in_transaction() and isinstance(session.get_bind(), Engine):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    log = log_of(session)
    table = log.entries.__table__
    report = VerifyReport(log=log.name)
    head = session.execute(select(log.head.seq, log.head.hash)).one_or_none()
    if head is not None:
        report.head_seq, report.head_hash = head.seq, head.hash
    last_seq, last_hash = 0, GENESIS_HASH
    rows = session.execute(select(table).order_by(table.c.seq).execution_options(yield_per=_BATCH))
    for row in rows:
        entry = row._mapping
        seq = entry["seq"]
        report.entries += 1
        if seq != last_seq + 1:
            missing = f"entry {last_seq + 1}" if seq == last_seq + 2 else f"entries {last_seq + 1}-{seq - 1}"
            report.broken(last_seq + 1, f"{missing} missing (seq jumps {last_seq} → {seq})")
        elif entry["prev_hash"] != last_hash:
            # After a gap the link is broken by the missing entry itself; only report it where seq is whole.
            report.broken(seq, f"entry {seq} does not chain to {last_seq} (prev_hash)"
                          if last_seq else f"entry {seq} does not start the chain (prev_hash)")
        if entry_hash(entry["prev_hash"], {name: entry[name] for name in HASHED_FIELDS}) != entry["hash"]:
            report.broken(seq, f"entry {seq} was edited (hash mismatch)")
        last_seq, last_hash = seq, entry["hash"]
    _check_head(report, last_seq, last_hash)
    return report


def _check_head(report: VerifyReport, last_seq: int, last_hash: str) -> None:
    if report.head_seq is None:
        if last_seq:
            report.broken(None, f"the head is missing, the log ends at {last_seq}")
        return
    if report.head_seq > last_seq:
        report.broken(last_seq + 1, f"last entries deleted: head says {report.head_seq} entries, "
                                    f"log ends at {last_seq}")
    elif report.head_seq < last_seq:
        report.broken(report.head_seq + 1, f"entries after the head: head says {report.head_seq} entries, "
                                           f"log ends at {last_seq}")
    elif report.head_hash != last_hash:
        report.broken(last_seq, f"the head's hash does not match entry {last_seq}")
