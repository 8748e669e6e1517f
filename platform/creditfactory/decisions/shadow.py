"""Champion/challenger in shadow mode: the challenger of a stage decides too, on a share of live decisions, and
its outcome is recorded beside the real one without ever changing it.

Kept apart from :mod:`.simulation` because :func:`creditfactory.decisions.services.evaluate_stage` calls
:func:`record_shadow` on every live decision: this module imports nothing heavy, and with no challenger set the
call costs one dictionary lookup (the per-tenant challenger list is cached for :data:`CHALLENGER_TTL` seconds).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import DecisionChallenger, RuleSetOverlayVersion, ShadowDecision

log = logging.getLogger(__name__)

#: Seconds a process trusts its copy of a tenant's challengers. Setting or clearing one drops this process's
#: copy at once; other processes see the change within this delay (a shadow decision more or fewer is harmless).
CHALLENGER_TTL = 5.0
#: Shares are in hundredths of a percent: an application falls in bucket 0..9,999 of its id's hash.
_BUCKETS = 10_000

_cache: dict[str, tuple[float, dict[str, tuple[int, Decimal]]]] = {}
_lock = threading.Lock()


def in_share(application_id: int, share_percent: Decimal | float) -> bool:
    """Is this application in the challenger's share? Deterministic (a hash of the id, not a random draw), so an
    application is in or out at every stage and on every replay, and the share is spread over the id space."""
    digest = hashlib.blake2b(str(application_id).encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS < Decimal(share_percent) * (_BUCKETS // 100)


def _tenant_key(session: Session) -> str | None:
    tenant = getattr(session, "tenant", None)
    return tenant.schema if tenant is not None else None


def challengers(session: Session) -> dict[str, tuple[int, Decimal]]:
    """stage -> (challenger overlay version id, share percent) of the session's tenant (cached briefly)."""
    key = _tenant_key(session)
    now = time.monotonic()
    if key is not None:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    rows = session.execute(select(DecisionChallenger.stage, DecisionChallenger.version_id,
                                  DecisionChallenger.share_percent)).all()
    value = {stage: (version_id, share) for stage, version_id, share in rows if share > 0}
    if key is not None:
        with _lock:
            _cache[key] = (now + CHALLENGER_TTL, value)
    return value


def forget(session: Session) -> None:
    """Drop this process's copy of the tenant's challengers (after setting or clearing one)."""
    key = _tenant_key(session)
    if key is not None:
        with _lock:
            _cache.pop(key, None)


def record_shadow(session: Session, stage: str, standard, facts: dict[str, Any], record_id: int,
                  application_id: int | None, cache) -> ShadowDecision | None:
    """Evaluate the stage's challenger (if any, and if this application is in its share) on the same facts and the
    same head-office standard as the champion (decision ``record_id``), and store what it decided. Never raises:
    the live decision stands whatever happens to the challenger."""
    entry = challengers(session).get(stage)
    if entry is None or application_id is None:
        return None
    version_id, share = entry
    if not in_share(application_id, share):
        return None
    try:
        version = session.get(RuleSetOverlayVersion, version_id)
        if version is None or version.code != standard.code:
            return None  # cleared meanwhile, or an overlay of another standard: nothing comparable
        compiled, _ = cache.get(standard, version)
        decision = compiled.evaluate(facts, explain=False, check=False)
    except Exception:  # noqa: BLE001 - a broken challenger must never break a live decision
        log.exception("challenger %s failed on decision %s", version_id, record_id)
        return None
    shadow = ShadowDecision(decision_record_id=record_id, application_id=application_id, stage=stage,
                            version_id=version_id, outcome=decision.outcome.value,
                            reason_codes=list(decision.reason_codes), effective_hash=compiled.hash,
                            elapsed_ms=decision.elapsed_ms)
    session.add(shadow)
    return shadow
