"""Personal identifiers as plain values: validation, normalisation and masking, with no database and no keys.

Resident identity card numbers (居民身份证号码, GB 11643), unified social credit codes (统一社会信用代码, GB 32100)
and mainland mobile numbers (手机号码). Error messages name the kind and the reason, never the value: they end
up in logs and problem responses.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError


class IdentifierKind(str, enum.Enum):
    """What a protected value is; part of every ciphertext's and blind index's binding."""

    RESIDENT_ID = "resident_id"
    USCC = "uscc"
    MOBILE = "mobile"

    @property
    def label_en(self) -> str:
        return _LABELS[self][0]

    @property
    def label_zh(self) -> str:
        return _LABELS[self][1]


_LABELS = {
    IdentifierKind.RESIDENT_ID: ("resident ID number", "居民身份证号码"),
    IdentifierKind.USCC: ("unified social credit code", "统一社会信用代码"),
    IdentifierKind.MOBILE: ("mobile number", "手机号码"),
}


class InvalidIdentifier(ValueError):
    """A value is not a valid identifier of its kind; the message says which kind and why, not the value."""

    def __init__(self, kind: IdentifierKind, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"invalid {kind.label_en} ({kind.label_zh}): {reason}")


_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
# Separators people type inside phone numbers; stripped before the digits are checked.
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")


def normalise_resident_id(value: str, *, today: dt.date | None = None) -> str:
    """The 18-character resident ID in canonical form (check character ``X`` upper case).

    Checks length, digits, the check character, a real birth date not in the future and a known region code.
    The 15-digit first-generation cards expired in 2013 and are refused.
    """
    kind = IdentifierKind.RESIDENT_ID
    number = ric.compact(str(value))
    try:
        if len(number) != 18:
            raise InvalidLength()
        if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
            raise InvalidFormat()
        if number[-1] != ric.calc_check_digit(number):
            raise InvalidChecksum()
        # Checked on its own before stdnum's region lookup, so the two component errors get their own reasons.
        born = ric.get_birth_date(number)
    except InvalidLength:
        raise InvalidIdentifier(kind, f"must be 18 characters, got {len(number)}") from None
    except InvalidFormat:
        raise InvalidIdentifier(kind, "must be 17 digits followed by a digit or X") from None
    except InvalidChecksum:
        raise InvalidIdentifier(kind, "check character does not match (校验码错误)") from None
    except InvalidComponent:
        raise InvalidIdentifier(kind, "birth date is not a real date") from None
    if born > (today or dt.date.today()):
        raise InvalidIdentifier(kind, "birth date is in the future")
    try:
        ric.get_birth_place(number)
    except InvalidComponent:
        raise InvalidIdentifier(kind, "region code (first 6 digits) is unknown") from None
    return number


def normalise_uscc(value: str) -> str:
    """The 18-character unified social credit code in canonical (upper-case, no separators) form."""
    kind = IdentifierKind.USCC
    try:
        return uscc.validate(str(value))
    except InvalidLength:
        raise InvalidIdentifier(kind, "must be 18 characters") from None
    except InvalidChecksum:
        raise InvalidIdentifier(kind, "check character does not match (校验码错误)") from None
    except ValidationError:
        raise InvalidIdentifier(kind, "must be 8 digits followed by 10 code characters (no I, O, S, V, Z)") from None


def normalise_mobile(value: str) -> str:
    """The 11-digit mainland mobile number, without the country code (+86, 0086 or 86) or separators."""
    number = _PHONE_SEPARATORS.sub("", str(value))
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix):]
            break
    else:
        if len(number) == 13 and number.startswith("86"):
            number = number[2:]
    if not _MOBILE_RE.match(number):
        raise InvalidIdentifier(IdentifierKind.MOBILE, "must be 11 digits starting with 13 to 19, "
                                                       "optionally preceded by +86")
    return number


_NORMALISERS = {
    IdentifierKind.RESIDENT_ID: normalise_resident_id,
    IdentifierKind.USCC: normalise_uscc,
    IdentifierKind.MOBILE: normalise_mobile,
}

#: Characters kept in clear at the start and end of a masked value, per kind.
_KEEP = {
    IdentifierKind.RESIDENT_ID: (3, 4),
    IdentifierKind.USCC: (2, 4),
    IdentifierKind.MOBILE: (3, 4),
}


def normalise(kind: IdentifierKind, value: str) -> str:
    """Validate ``value`` as an identifier of ``kind`` and return its canonical form (``InvalidIdentifier``)."""
    return _NORMALISERS[IdentifierKind(kind)](value)


def mask(kind: IdentifierKind, value: str) -> str:
    """``110***********1234`` (resident ID), ``91************1234`` (USCC), ``138****5678`` (mobile).

    Works on any string, valid or not, so a log line or a legacy value can be masked too; a value too short to
    keep both ends is masked completely rather than shown.
    """
    head, tail = _KEEP[IdentifierKind(kind)]
    text = str(value)
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]
