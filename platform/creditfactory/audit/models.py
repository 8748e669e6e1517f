"""The audit log tables: ``audit_entry`` (the chain) and ``audit_head`` (its checkpoint), per tenant and shared."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, SmallInteger, String, Table, Text, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.schema import DDL

from ..db import SharedBase, TenantBase
from .context import ActorKind

#: One trigger function per schema (tenant DDL runs with search_path set to the tenant schema alone, so a
#: function elsewhere would not resolve). It names the table and operation so a refusal explains itself.
_APPEND_ONLY_FUNCTION = """\
CREATE OR REPLACE FUNCTION %(schema)s.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
END
$body$"""


def _refuse(table: Table, *, row_operations: str) -> None:
    """Make the database itself refuse ``row_operations`` and TRUNCATE on ``table``, also on create_all."""
    for statement in (
        _APPEND_ONLY_FUNCTION,
        f"CREATE TRIGGER {table.name}_refuse_changes BEFORE {row_operations} ON %(fullname)s "
        "FOR EACH ROW EXECUTE FUNCTION %(schema)s.audit_append_only()",
        f"CREATE TRIGGER {table.name}_refuse_truncate BEFORE TRUNCATE ON %(fullname)s "
        "FOR EACH STATEMENT EXECUTE FUNCTION %(schema)s.audit_append_only()",
    ):
        event.listen(table, "after_create", DDL(statement))


class AuditEntryColumns:
    """One audit entry: who did what to which object, when, from where; chained by ``prev_hash`` -> ``hash``."""

    __tablename__ = "audit_entry"

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        kinds = ", ".join(f"'{kind.value}'" for kind in ActorKind)
        return (CheckConstraint(f"actor_kind IN ({kinds})", name="actor_kind"),)

    #: 1, 2, 3… with no gap: assigned under the log's lock by the append, never by a sequence.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(10))
    #: Slug of the tenant whose log this is; NULL in the shared (head-office) log.
    tenant: Mapped[str | None] = mapped_column(String(31), nullable=True)
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(JSONB, nullable=True)
    after: Mapped[Any] = mapped_column(JSONB, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadColumns:
    """The log's checkpoint, moved by every append: deleting the newest entries leaves it pointing past them."""

    __tablename__ = "audit_head"

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False, default=1)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(AuditEntryColumns, TenantBase):
    """An entry in a village bank's own audit log."""


class AuditHead(AuditHeadColumns, TenantBase):
    """Checkpoint of a village bank's audit log."""


class SharedAuditEntry(AuditEntryColumns, SharedBase):
    """An entry in the head office's audit log (tenant lifecycle, cross-tenant work)."""


class SharedAuditHead(AuditHeadColumns, SharedBase):
    """Checkpoint of the head office's audit log."""


for _entries, _head in ((AuditEntry, AuditHead), (SharedAuditEntry, SharedAuditHead)):
    _refuse(_entries.__table__, row_operations="UPDATE OR DELETE")
    # The head must move forward with each append, so only its removal is refused.
    _refuse(_head.__table__, row_operations="DELETE")
