"""Helpers for tests that log staff in through the real portal forms (CSRF token included)."""

from __future__ import annotations

import datetime as dt
import re

#: The password ``make_user`` gives every test user (meets the password policy).
STAFF_PASSWORD = "a long enough passphrase"
#: Where the ``now`` fixture's clock starts.
CLOCK_START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
HTML = {"Accept": "text/html"}

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str, headers: dict[str, str] = HTML) -> str:
    """The CSRF token of the form at ``path`` (loading it starts the session that holds the token)."""
    return _TOKEN.search(client.get(path, headers=headers).get_data(as_text=True))[1]


def log_in(client, prefix: str, username: str, password: str = STAFF_PASSWORD, headers: dict[str, str] = HTML):
    """Post the login form under ``prefix`` (``/t/<slug>`` or ``""`` for the head office); returns the response."""
    token = csrf_token(client, f"{prefix}/login", headers)
    return client.post(f"{prefix}/login", headers=headers,
                       data={"username": username, "password": password, "csrf_token": token})
