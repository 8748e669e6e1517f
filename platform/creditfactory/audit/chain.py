"""The hash chain as pure functions: canonical form of an entry and its SHA-256 link to the previous one."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any, Mapping

#: prev_hash of entry 1: the chain starts from a fixed, public value.
GENESIS_HASH = "0" * 64

#: The fields an entry's hash covers, in the order they are documented (the JSON itself sorts keys).
HASHED_FIELDS = ("seq", "at", "actor", "actor_kind", "tenant", "action", "object_type", "object_id",
                 "before", "after", "ip", "request_id")


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"audit timestamps must be timezone-aware, got {value!r}")
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def plain(value: Any) -> Any:
    """``value`` as JSON-native data that survives a JSONB round trip unchanged, so hashes stay verifiable.

    Decimals become strings (exact), timestamps ISO in UTC with microseconds. Floats are refused: JSONB
    rewrites some of them (``1e+20`` comes back as ``100000000000000000000``), and money is never a float.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not audited (JSONB does not keep their text); use Decimal")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return _timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("audited mappings need string keys")
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def canonical_json(fields: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, UTF-8 text: one byte string per entry, whoever computes it."""
    return json.dumps({name: plain(fields[name]) for name in HASHED_FIELDS}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)


#: Set by the append, under the log's lock: the time and the position (the database chains the entries).
APPEND_FIELDS = ("at", "seq")
_SORTED = sorted(HASHED_FIELDS)
#: The hashed fields before ``at``, between ``at`` and ``seq``, and after ``seq``, in key order.
_AROUND_APPEND_FIELDS = (tuple(_SORTED[:_SORTED.index("at")]),
                         tuple(_SORTED[_SORTED.index("at") + 1:_SORTED.index("seq")]),
                         tuple(_SORTED[_SORTED.index("seq") + 1:]))


def canonical_pieces(fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON of an entry whose ``at`` and ``seq`` are not known yet, in the three pieces around their
    values: ``head + json(at) + middle + json(seq) + tail`` is :func:`canonical_json` of the entry. The append
    fills them in as it takes the log's turn, in the database (see ``audit.services``). ``fields`` need not hold
    ``at`` and ``seq``.
    """
    def members(names: tuple[str, ...]) -> str:  # "k1":v1,"k2":v2 (canonical_json's top level is just these)
        return json.dumps({name: plain(fields[name]) for name in names}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)[1:-1]

    before_at, between, after_seq = (members(names) for names in _AROUND_APPEND_FIELDS)
    head = "{" + before_at + (',"at":' if before_at else '"at":')
    middle = (f",{between}" if between else "") + ',"seq":'
    tail = (f",{after_seq}" if after_seq else "") + "}"
    return head, middle, tail


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256(prev_hash + canonical JSON of the entry), hex."""
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()
