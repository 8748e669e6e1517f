"""Request ids: taken from ``X-Request-ID`` when sane, else generated; echoed back and stamped on logs."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"

# A caller's id is kept only if it cannot smuggle anything into headers or log lines.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _assign() -> None:
    supplied = request.headers.get(HEADER, "")
    g.request_id = supplied if _SANE_ID.match(supplied) else uuid.uuid4().hex


def _echo(response: Response) -> Response:
    response.headers[HEADER] = current_request_id()
    return response


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        _assign()
    return g.request_id


def init_app(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_echo)
