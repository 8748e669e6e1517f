"""Tamper-evident audit log (审计日志): one hash-chained, append-only log per tenant and one for head office."""

from .context import Actor, ActorKind, CurrentActor, Unattributed
from .services import record
from .verify import VerifyReport, verify_log

__all__ = ["Actor", "ActorKind", "CurrentActor", "Unattributed", "record", "VerifyReport", "verify_log"]
