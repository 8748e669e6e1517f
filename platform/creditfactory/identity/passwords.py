"""Password hashing (argon2id) and the password policy (密码策略)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import IdentityError

MIN_LENGTH = 12
# An upper bound keeps a login form from being used to make the server hash megabytes.
MAX_LENGTH = 256
# RFC 9106's second recommended option (64 MiB, 3 passes), with 2 lanes: web pods have few cores, and a login
# must cost an attacker far more than it costs us (~50 ms here).
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2, hash_len=32, salt_len=16, type=Type.ID)
# No look-alike characters (0/O, 1/l/I): one-time passwords are read aloud or copied from a screen.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class WeakPassword(IdentityError):
    """A password the policy refuses; the message says why."""


def check_policy(password: str, username: str) -> None:
    """Refuse (``WeakPassword``) a password shorter than 12 characters, too long, or equal to the username."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise WeakPassword("the password must not be the username")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: ``new_hash`` is set when the stored hash used weaker parameters and should be
    replaced by it now, while the clear password is at hand."""
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None)


def one_time_password(length: int = 20) -> str:
    """A random password for first login or reset; the user must change it (``must_change_password``)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
