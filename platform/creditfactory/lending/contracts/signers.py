"""Who produces signature values: the built-in platform signer (a per-tenant Ed25519 key) or a licensed CA.

A reliable e-signature (DOMAIN §2.3, 电子签名法 art. 13) needs signature creation data that only the signer
controls; where third-party certification is needed it must come from a licensed CA (art. 16). The platform
signer attests, with the bank's own key, what happened at a face-signing (who signed which document hash, when,
witnessed by whom): it makes any later change of the document or of the record detectable. A bank that contracts
a licensed CA provider plugs it in by implementing :class:`Signer` and calling :func:`register_signer`; the
provider's name then becomes a signature ``method``'s ``ca_provider`` and its certificate serial is recorded.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ...errors import DomainError
from ...privacy.keys import active_key, key_by_id
from .models import SigningKey

_NONCE = 12
_SEAL_LABEL = b"creditfactory/contract-signing-key/v1|"
PLATFORM = "platform"


class SignerError(DomainError):
    """A signer is unknown or refused to sign."""


@dataclass(frozen=True)
class SignatureResult:
    provider: str
    cert_serial: str
    signature_value: str  # base64
    timestamp_token: str | None = None


class Signer(Protocol):
    """What a signature provider does. ``sign`` gets the exact statement bytes; ``verify`` checks them again."""

    name: str

    def sign(self, session: Session, statement: bytes) -> SignatureResult: ...

    def verify(self, session: Session, statement: bytes, result: SignatureResult) -> bool: ...


def _seal(session: Session, raw: bytes) -> tuple[bytes, int]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = active_key(session)
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key.data_key).encrypt(nonce, raw, _SEAL_LABEL + key.tenant.encode()), key.key_id


def _unseal(session: Session, row: SigningKey) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    key = key_by_id(session, row.data_key_id)
    sealed = row.sealed_private_key
    try:
        return AESGCM(key.data_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], _SEAL_LABEL + key.tenant.encode())
    except (InvalidTag, ValueError):
        raise SignerError("the tenant's signing key does not open (altered or from another tenant)") from None


def active_signing_key(session: Session) -> SigningKey:
    """The tenant's active platform signing key, created (sealed with the tenant's data key) on first use."""
    row = session.scalars(select(SigningKey).where(SigningKey.status == "active")).first()
    if row is not None:
        return row
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    sealed, data_key_id = _seal(session, raw)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    session.execute(insert(SigningKey).values(algorithm="Ed25519", public_key_pem=public_pem,
                                              sealed_private_key=sealed, data_key_id=data_key_id, status="active")
                    .on_conflict_do_nothing(index_elements=["status"], index_where=text("status = 'active'")))
    return session.scalars(select(SigningKey).where(SigningKey.status == "active")).one()


class PlatformSigner:
    """The built-in signer: Ed25519 with the tenant's own key; ``cert_serial`` is ``platform-key-<id>``."""

    name = PLATFORM

    def sign(self, session: Session, statement: bytes) -> SignatureResult:
        row = active_signing_key(session)
        private = Ed25519PrivateKey.from_private_bytes(_unseal(session, row))
        value = base64.b64encode(private.sign(statement)).decode()
        return SignatureResult(PLATFORM, f"platform-key-{row.id}", value)

    def verify(self, session: Session, statement: bytes, result: SignatureResult) -> bool:
        try:
            key_id = int(result.cert_serial.removeprefix("platform-key-"))
        except ValueError:
            return False
        row = session.get(SigningKey, key_id)
        if row is None:
            return False
        public = serialization.load_pem_public_key(row.public_key_pem.encode())
        assert isinstance(public, Ed25519PublicKey)
        try:
            public.verify(base64.b64decode(result.signature_value), statement)
        except (InvalidSignature, ValueError):
            return False
        return True


_signers: dict[str, Signer] = {PLATFORM: PlatformSigner()}


def register_signer(signer: Signer) -> None:
    """Make a CA provider available by its ``name`` (e.g. from a plugin's startup)."""
    _signers[signer.name] = signer


def unregister_signer(name: str) -> None:
    if name != PLATFORM:
        _signers.pop(name, None)


def get_signer(name: str) -> Signer:
    try:
        return _signers[name]
    except KeyError:
        raise SignerError(f"unknown signature provider {name!r}; known: {', '.join(sorted(_signers))}") \
            from None
