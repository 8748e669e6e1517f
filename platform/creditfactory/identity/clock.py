"""The time logins and sessions are judged by; one function, so tests move the clock instead of sleeping."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)
