"""Sealing personal identifiers for storage, and blind indexes to find them again by equality.

Explicit functions that take the tenant session, rather than a SQLAlchemy ``TypeDecorator``: a type's bind
processing runs in the middle of a flush with no session, so it would have to guess the tenant from the context
variable and create data keys (a database write) from inside another statement. Here the service seals before
it assigns, the tenant is the session's own, and a failure surfaces in the service that can report it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy.orm import Session

from .identifiers import IdentifierKind, normalise
from .keys import TenantKey, active_key, key_by_id

_NONCE_BYTES = 12


class UnsealError(ValueError):
    """A stored value does not open: malformed, altered, or sealed for another tenant, column or kind."""


@dataclass(frozen=True)
class PiiField:
    """Where a protected value is stored: what it is, and its column as ``table.column``.

    Both are bound into the ciphertext, so a value moved to another column, or read as another kind, fails.
    """

    kind: IdentifierKind
    column: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", IdentifierKind(self.kind))
        if not self.column or "|" in self.column:
            raise ValueError(f"PiiField column must be a non-empty 'table.column', got {self.column!r}")


@dataclass(frozen=True)
class Sealed:
    """What a service stores: ``value`` (``key_id:nonce:ciphertext``, base64 parts) and its ``blind_index``."""

    value: str
    blind_index: str

    def __repr__(self) -> str:
        # The ciphertext is harmless but long; the index alone identifies a person within a tenant.
        return f"Sealed(key {self.value.split(':', 1)[0]})"


def _associated_data(key: TenantKey, field: PiiField) -> bytes:
    # The tenant is bound by the key itself (each tenant's data key is its own, and the key is wrapped for its
    # slug), not by naming the slug here: a bank restored under a new slug re-wraps one key row instead of
    # re-encrypting every value.
    return f"creditfactory/pii/v2|{field.column}|{field.kind.value}".encode()


def _index(key: TenantKey, kind: IdentifierKind, normalised: str) -> str:
    return hmac.new(key.search_key, f"{kind.value}:{normalised}".encode(), hashlib.sha256).hexdigest()


def seal(session: Session, field: PiiField, value: str) -> Sealed:
    """Validate and normalise ``value`` (``InvalidIdentifier``), encrypt it with the tenant's active data key."""
    normalised = normalise(field.kind, value)
    key = active_key(session)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = key.aead.encrypt(nonce, normalised.encode(), _associated_data(key, field))
    parts = (str(key.key_id), base64.b64encode(nonce).decode(), base64.b64encode(ciphertext).decode())
    return Sealed(":".join(parts), _index(key, field.kind, normalised))


def unseal(session: Session, field: PiiField, sealed: str) -> str:
    """The clear, normalised value of ``sealed``. Callers showing it to a person go through ``access.reveal``."""
    try:
        key_id, nonce, ciphertext = str(sealed).split(":")
        key = key_by_id(session, int(key_id))
        clear = key.aead.decrypt(base64.b64decode(nonce, validate=True), base64.b64decode(ciphertext, validate=True),
                                 _associated_data(key, field))
    except (ValueError, binascii.Error):
        raise UnsealError(f"{field.column}: stored value is not a sealed value") from None
    except InvalidTag:
        raise UnsealError(f"{field.column}: stored value does not open here (sealed for another tenant, column "
                          "or kind, or altered)") from None
    return clear.decode()


def blind_index(session: Session, kind: IdentifierKind, value: str) -> str:
    """Hex HMAC-SHA256 of the normalised value with the tenant's search key: equal for equal values in one tenant,
    unrelated across tenants. Search with ``column == blind_index(...)``; ``InvalidIdentifier`` for bad input."""
    kind = IdentifierKind(kind)
    return _index(active_key(session), kind, normalise(kind, value))
