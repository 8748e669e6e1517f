"""Client secrets and tokens: 256-bit random strings, stored only as their SHA-256.

A slow password hash (argon2) protects low-entropy human passwords from guessing. These values are 256 bits of
``secrets`` randomness, so guessing is hopeless even against a fast hash, and a fast hash lets every API request
find its token by an indexed lookup on the hash; argon2's 64 MiB per check would make each request a
denial-of-service lever. The database never holds a value that could be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Bytes of randomness in every client secret and token.
ENTROPY_BYTES = 32


def new_secret() -> str:
    return secrets.token_urlsafe(ENTROPY_BYTES)


def digest(value: str) -> str:
    """Hex SHA-256 of ``value``: what is stored, and what lookups compare."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(value: str, stored_digest: str) -> bool:
    # Constant time, so the comparison leaks nothing about how much of a guess was right.
    return hmac.compare_digest(digest(value), stored_digest)
