"""Envelope encryption (信封加密): the master key wraps each tenant's data key; data keys seal personal data.

The master key (``CREDITFACTORY_MASTER_KEY``) never touches personal data and lives outside the database; each
tenant's data key lives in the tenant's own schema, wrapped with the tenant's slug as associated data, so a
stolen database holds no usable key and a wrapped key copied into another bank's schema does not open there.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .. import settings as settings_module
from ..db import NoTenantBound, TenantRef, tenant_session
from .models import DataKey, DataKeyStatus

_NONCE_BYTES = 12
# Versioned labels: a future scheme gets new labels instead of silently reusing these derivations.
_WRAP_LABEL = b"creditfactory/data-key/v1|"
_SEARCH_KEY_INFO = b"creditfactory/blind-index/v1"


class KeyUnavailable(RuntimeError):
    """A tenant's data key cannot be opened: missing, wrapped for another tenant, or under another master key."""


@dataclass(frozen=True)
class TenantKey:
    """One tenant data key, unwrapped: what sealing and blind indexing use. Never logged (no key in repr)."""

    tenant: str
    key_id: int
    data_key: bytes = field(repr=False)
    #: HMAC key for blind indexes, derived from the data key, so every tenant indexes differently.
    search_key: bytes = field(repr=False)

    @property
    def aead(self) -> AESGCM:
        return AESGCM(self.data_key)


def master_key(settings: settings_module.Settings | None = None) -> bytes:
    """The 32-byte master key: the configured one, else (development) one generated once into the data dir."""
    settings = settings or settings_module.get()
    value = settings.master_key or settings_module.data_dir_secret(
        settings, "master_key", lambda: base64.b64encode(os.urandom(32)).decode())
    return settings_module.decode_master_key(value)


def wrap(master: bytes, tenant: str, data_key: bytes) -> bytes:
    """``nonce || AES-GCM(master, data_key)`` bound to ``tenant``."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _WRAP_LABEL + tenant.encode())


def unwrap(master: bytes, tenant: str, wrapped: bytes) -> bytes:
    """The data key inside ``wrapped``; ``KeyUnavailable`` if it was wrapped for another tenant or master key."""
    nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    try:
        return AESGCM(master).decrypt(nonce, body, _WRAP_LABEL + tenant.encode())
    except (InvalidTag, ValueError):
        raise KeyUnavailable(f"tenant {tenant!r}: a data key does not open with this master key for this tenant "
                             "(copied from another tenant, altered, or wrapped under another master key)") from None


def _search_key(data_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEARCH_KEY_INFO).derive(data_key)


# Unwrapped keys per process, keyed by (tenant slug, key id): a key row never changes once written (rotation adds
# rows), and slugs are never reused (offboarded tenants keep their registry entry), so entries never go stale.
_cache: dict[tuple[str, int], TenantKey] = {}


def _tenant_of(session: Session) -> TenantRef:
    tenant = session.info.get("tenant")
    if tenant is None:
        raise NoTenantBound("personal data is sealed with a tenant's key: use a tenant session")
    return tenant


def _opened(tenant: str, key_id: int, wrapped: bytes) -> TenantKey:
    key = _cache.get((tenant, key_id))
    if key is None:
        data_key = unwrap(master_key(), tenant, wrapped)
        key = _cache[(tenant, key_id)] = TenantKey(tenant, key_id, data_key, _search_key(data_key))
    return key


def key_by_id(session: Session, key_id: int) -> TenantKey:
    """The session tenant's data key ``key_id`` (active or retired), to open values sealed with it."""
    tenant = _tenant_of(session).slug
    if (tenant, key_id) in _cache:
        return _cache[(tenant, key_id)]
    wrapped = session.scalar(select(DataKey.wrapped_key).where(DataKey.id == key_id))
    if wrapped is None:
        raise KeyUnavailable(f"tenant {tenant!r} has no data key {key_id}")
    return _opened(tenant, key_id, wrapped)


def active_key(session: Session) -> TenantKey:
    """The session tenant's active data key, created on first use."""
    tenant = _tenant_of(session)
    row = session.execute(select(DataKey.id, DataKey.wrapped_key)
                          .where(DataKey.status == DataKeyStatus.ACTIVE.value)).one_or_none()
    if row is None:
        row = _create_active_key(tenant)
    return _opened(tenant.slug, row.id, row.wrapped_key)


def _create_active_key(tenant: TenantRef):
    # Its own short transaction, committed at once: a key must never vanish with a caller's rollback while this
    # process still caches it. Racing first uses meet on the one-active-key index; the losers insert nothing and
    # read the winner's key once it has committed.
    candidate = wrap(master_key(), tenant.slug, AESGCM.generate_key(bit_length=256))
    with tenant_session(tenant) as own, own.begin():
        own.execute(insert(DataKey)
                    .values(wrapped_key=candidate, status=DataKeyStatus.ACTIVE.value)
                    .on_conflict_do_nothing(index_elements=["status"], index_where=text("status = 'active'")))
        return own.execute(select(DataKey.id, DataKey.wrapped_key)
                           .where(DataKey.status == DataKeyStatus.ACTIVE.value)).one()
