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

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from ..privacy.keys import master_key
from . import clock
from .errors import IdentityError
from .login import is_locked, record_failure
from .models import User
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
    """Whether ``principal`` must pass a second factor: regulators, head-office platform administrators and
    village-bank administrators. Other staff may enrol of their own accord; a per-tenant policy making it
    mandatory for them is not built yet (docs/identity.md)."""
    if principal.context is Context.REGULATOR:
        return True
    # A role counts only in the context it belongs to, as in load_principal: platform_admin in the head office,
    # tenant_admin in a village bank.
    return any(STANDARD_ROLES[code].context is principal.context for code in principal.roles & ADMIN_ROLES)


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
