"""A logging filter that masks anything shaped like a resident ID, USCC or mobile number before it is written."""

from __future__ import annotations

import logging
import re

from .identifiers import IdentifierKind, mask

# Shapes, not validity: a mistyped ID or a bank card number of the same length is masked too, which is the safe
# side. Boundaries keep longer digit runs (timestamps, amounts in fen) and hex request ids intact; USCCs are
# matched in upper case only, as they are written, so lower-case hex never looks like one.
_PATTERNS = (
    (IdentifierKind.RESIDENT_ID, re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")),
    (IdentifierKind.USCC, re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10}"
                                     r"(?![0-9A-Za-z])")),
    (IdentifierKind.MOBILE, re.compile(r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[- ]?)?(1[3-9]\d{9})(?![0-9A-Za-z])")),
)


def mask_text(text: str) -> str:
    """``text`` with every identifier-shaped run masked as its kind is (mobile numbers lose their +86)."""
    for kind, pattern in _PATTERNS:
        group = pattern.groups
        text = pattern.sub(lambda m, kind=kind, group=group: mask(kind, m.group(group)), text)
    return text


class PiiLogFilter(logging.Filter):
    """Mask identifiers in each record's message (the formatted message and its arguments).

    Exception tracebacks are formatted later by the handler's formatter and are not rewritten here; code that
    raises about personal data names the kind, never the value (see ``identifiers.InvalidIdentifier``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
