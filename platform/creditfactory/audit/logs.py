"""Which audit log a session writes to: its tenant's, or the shared head-office log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..db import SHARED_SCHEMA
from ..db.session import TenantSession
from .models import AuditEntry, AuditEntryColumns, AuditHead, AuditHeadColumns, SharedAuditEntry, SharedAuditHead

SHARED_LOG = "shared"


@dataclass(frozen=True)
class AuditLog:
    """One log: its entry and head models, the schema holding them and the tenant it belongs to."""

    entries: type[AuditEntryColumns]
    head: type[AuditHeadColumns]
    schema: str
    tenant: str | None

    @property
    def name(self) -> str:
        return self.tenant or SHARED_LOG

    @property
    def lock_key(self) -> int:
        # pg_advisory_xact_lock takes a signed bigint; a stable digest of the schema gives every log its own
        # key (a collision would only serialise two logs' appends, never mix them).
        digest = hashlib.sha256(f"creditfactory.audit:{self.schema}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def log_of(session: Session) -> AuditLog:
    if isinstance(session, TenantSession):
        return AuditLog(AuditEntry, AuditHead, session.tenant.schema, session.tenant.slug)
    return AuditLog(SharedAuditEntry, SharedAuditHead, SHARED_SCHEMA, None)
