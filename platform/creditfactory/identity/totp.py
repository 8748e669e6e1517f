"""TOTP second factor (动态口令, RFC 6238): enrolment, verification, and who must use it.

The secret is sealed with the master key (AES-GCM, the user id as associated data), never with a tenant's data key:
users live in the shared schema and log in before any tenant is bound. A database dump alone therefore holds no
usable secret, and a sealed secret copied onto another user's row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import os
import secrets
from typing import Any

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..audit import record
from .oauth import hashing

from ..privacy.keys import master_key
from . import clock
from .errors import IdentityError
from .login import is_locked, record_failure
from .models import RecoveryCode, User
from .permissions import Context
from .principal import Principal
from .roles import STANDARD_ROLES

#: Roles whose holder must use a second factor wherever they hold them: they manage users, roles and tenants.
ADMIN_ROLES = frozenset({"platform_admin", "tenant_admin"})
#: Shown by authenticator apps above the code.
ISSUER = "Credit Factory"
_NONCE_BYTES = 12
#: Codes of the previous and next 30-second step count too: phone clocks drift and people type slowly.
VALID_WINDOW = 1


class CodeRefused(IdentityError):
    """A TOTP code is wrong, outside the time window or already used; deliberately says nothing about which."""


class SecretUnavailable(IdentityError):
    """A stored TOTP secret does not open: altered, copied from another user, or sealed under another master key."""


def totp_required(principal: Principal) -> bool:
    """Whether ``principal`` must pass a second factor: always regulators, head-office platform administrators and
    village-bank administrators; in a village bank also whoever its policy (tenant parameter
    ``identity.totp.required``, see ``tenant_policy``) names. Other staff may enrol of their own accord."""
    if principal.context is Context.REGULATOR:
        return True
    # A role counts only in the context it belongs to, as in load_principal: platform_admin in the head office,
    # tenant_admin in a village bank.
    if any(STANDARD_ROLES[code].context is principal.context for code in principal.roles & ADMIN_ROLES):
        return True
    if principal.tenant_slug is None:
        return False
    policy = tenant_policy(principal.tenant_slug)
    return policy is True or bool(policy and principal.roles & policy)


#: The tenant parameter holding a village bank's second-factor policy.
POLICY_PARAMETER = "identity.totp.required"


def parse_policy(value: Any) -> bool | frozenset[str]:
    """``true`` / ``"all"``: everyone; a list of role codes (standard or custom): their holders; absent, ``false``,
    ``"none"`` or ``[]``: nobody beyond the administrators. Anything else is refused (``IdentityError``) rather than
    read as "nobody", so a typo never switches the second factor off."""
    if value is None or value is False or value == "none":
        return False
    if value is True or value == "all":
        return True
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise IdentityError(f"tenant parameter {POLICY_PARAMETER}: expected true, \"all\", \"none\" or a list of role "
                        f"codes, not {value!r}")


def tenant_policy(tenant_slug: str) -> bool | frozenset[str]:
    """The second-factor policy of a village bank, read from its own schema. A malformed value requires the
    second factor of everyone (failing closed) until it is fixed."""
    from ..db import tenant_session
    from ..tenancy.models import TenantParameter
    from ..tenancy.registry import directory

    tenant = directory.lookup(tenant_slug)
    if tenant is None:
        return False
    with tenant_session(tenant) as tenant_db:
        row = tenant_db.get(TenantParameter, POLICY_PARAMETER)
    try:
        return parse_policy(row.value if row is not None else None)
    except IdentityError:
        return True


def _associated_data(user: User) -> bytes:
    return f"totp:{user.id}".encode()


def _seal(user: User, secret: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(master_key()).encrypt(nonce, secret.encode(), _associated_data(user))
    return base64.b64encode(nonce + sealed).decode()


def _unseal(user: User) -> str:
    try:
        raw = base64.b64decode(user.totp_secret or "", validate=True)
        return AESGCM(master_key()).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(user)).decode()
    except (binascii.Error, ValueError, InvalidTag):
        raise SecretUnavailable(f"user {user.id}: the stored TOTP secret does not open with this master key "
                                "for this user") from None


def enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None


def begin_enrolment(shared: Session, user: User) -> str:
    """The secret to type into an authenticator app: a new one sealed onto the user, or the one already being
    enrolled (a reloaded page must not invalidate what the user just typed). Flushes; the caller commits."""
    if enrolled(user):
        raise IdentityError("the second factor is already enrolled")
    if user.totp_secret is not None:
        try:
            return _unseal(user)
        except SecretUnavailable:
            # Nothing has been confirmed with it, so a fresh secret loses nothing.
            pass
    secret = pyotp.random_base32()
    user.totp_secret = _seal(user, secret)
    shared.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI authenticator apps import, labelled with the username and the issuer."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def _accept(user: User, code: str, now: dt.datetime) -> None:
    """Accept ``code`` for the user's secret at ``now`` and remember its time step, or raise ``CodeRefused``.

    The check of pyotp's ``verify(valid_window=1)``, done step by step so the matching step is known: a step at or
    before the last accepted one is refused, so a code works once even within its window.
    """
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6) or user.totp_secret is None:
        raise CodeRefused("the code is incorrect or was already used")
    totp = pyotp.TOTP(_unseal(user))
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            user.totp_last_step = step
            return
    raise CodeRefused("the code is incorrect or was already used")


def confirm_enrolment(shared: Session, user: User, code: str) -> None:
    """Switch the second factor on once the app shows a valid code for the secret being enrolled. Flushes."""
    if enrolled(user):
        raise IdentityError("the second factor is already enrolled")
    now = clock.now()
    _accept(user, code, now)
    user.totp_enabled_at = now
    user.totp_must_enrol = False
    shared.flush()


def verify(shared: Session, user: User, code: str) -> None:
    """Check a login's second factor; ``CodeRefused`` for a wrong, stale or reused code, or a locked account.

    A refused code counts towards the same lockout as a wrong password: the address rate limit alone would let
    someone holding the password try the million codes from many addresses. Flushes; the caller commits, refusals
    included (the accepted step and the failure count must both survive).
    """
    now = clock.now()
    if not enrolled(user) or is_locked(user, now):
        raise CodeRefused("the code is incorrect or was already used")
    try:
        _accept(user, code, now)
    except CodeRefused:
        record_failure(user, now)
        shared.flush()
        raise
    user.failed_login_count = 0
    shared.flush()


# --- Recovery codes (备用恢复码) ---------------------------------------------------------------------------------

#: How many recovery codes a user holds at a time.
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without doubt
_RECOVERY_LENGTH = 16  # 16 characters of 31: 79 bits, beyond guessing even against the stored SHA-256


def _normalise_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def generate_recovery_codes(shared: Session, user: User) -> list[str]:
    """Ten new one-time recovery codes, returned once (grouped ``xxxx-xxxx-xxxx-xxxx``) and stored only as hashes;
    the user's previous codes stop working. Needs an enrolled second factor. Audited. Flushes."""
    if not enrolled(user):
        raise IdentityError("recovery codes need an enrolled second factor")
    shared.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        shared.add(RecoveryCode(user_id=user.id, code_hash=hashing.digest(raw)))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    record(shared, "identity.totp.recovery_codes.generate", object_type="user", object_id=user.id,
           after={"count": RECOVERY_CODE_COUNT})
    shared.flush()
    return codes


def recovery_codes_left(shared: Session, user: User) -> int:
    return len(list(shared.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                                 RecoveryCode.used_at.is_(None)))))


def looks_like_recovery_code(code: str) -> bool:
    return len(_normalise_recovery(code)) == _RECOVERY_LENGTH


def use_recovery_code(shared: Session, user: User, code: str) -> None:
    """Pass the second factor with a recovery code instead of the app's code; the code is spent (compare-and-set,
    so two concurrent uses cannot both pass) and the use audited. A wrong code counts towards the lockout like a
    wrong TOTP code and raises ``CodeRefused``. Flushes; the caller commits, refusals included."""
    now = clock.now()
    if not enrolled(user) or is_locked(user, now):
        raise CodeRefused("the code is incorrect or was already used")
    spent = shared.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == hashing.digest(_normalise_recovery(code)),
        RecoveryCode.used_at.is_(None)).values(used_at=now)).rowcount
    if not spent:
        record_failure(user, now)
        shared.flush()
        raise CodeRefused("the code is incorrect or was already used")
    user.failed_login_count = 0
    record(shared, "identity.totp.recovery_code.use", object_type="user", object_id=user.id,
           after={"left": recovery_codes_left(shared, user)})
    shared.flush()


def reset(shared: Session, user: User) -> None:
    """Take the user's second factor away (lost phone) and make the next login enrol a new one: secret, time step
    and recovery codes go, every session ends. Audited. Flushes."""
    before = {"enrolled": enrolled(user)}
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.totp_must_enrol = True
    shared.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    from . import session_store
    session_store.end_all(shared, user.id, "totp_reset")
    record(shared, "identity.totp.reset", object_type="user", object_id=user.id, before=before,
           after={"enrolled": False, "must_enrol": True})
    shared.flush()
