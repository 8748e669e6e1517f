"""One error format for every 4xx and 5xx: problem details (RFC 9457) as ``application/problem+json``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import marshmallow as ma
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import DomainError

from .request_id import current_request_id

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"
#: The problem type of errors fully described by their status code (RFC 9457, section 4.2.1).
BLANK = "about:blank"
UNEXPECTED_DETAIL = "An unexpected error occurred. Quote the request id when you report it."
INVALID_DETAIL = "The request has invalid fields; see errors."

Headers = Mapping[str, str] | list[tuple[str, str]]

#: ``app.extensions`` key of the callable that renders a problem as an HTML page (set by the portal).
_ERROR_PAGE = "creditfactory.error_page"


class ProblemSchema(ma.Schema):
    """Problem details (RFC 9457): the body of every error response."""

    type = ma.fields.String(metadata={"description": "URI of the problem type; about:blank when the status says it all"})
    title = ma.fields.String(metadata={"description": "Short summary of the problem type"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Field errors: field name (dotted for nested fields) -> messages"},
    )
    request_id = ma.fields.String(metadata={"description": "Id of this request in the server logs"})


class Problem(HTTPException):
    """An HTTP error carrying problem details; raise it, or call ``abort_problem``, anywhere in a request."""

    def __init__(self, status: int, detail: str | None = None, *, type: str = BLANK,
                 errors: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description=detail or HTTP_STATUS_CODES.get(status, "Unknown Error"))
        self.code = status
        self.type = type
        self.errors = dict(errors) if errors else None
        self.extra_headers = dict(headers or {})

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), *self.extra_headers.items()]


def abort_problem(status: int, detail: str | None = None, *, type: str = BLANK,
                  errors: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None) -> NoReturn:
    """Stop the request with a problem response: ``abort_problem(409, "the loan was changed meanwhile")``."""
    raise Problem(status, detail, type=type, errors=errors, headers=headers)


def problem_body(status: int, detail: str, *, type: str = BLANK, errors: Mapping[str, list[str]] | None = None,
                 **extensions: Any) -> dict[str, Any]:
    """The problem details of an error; ``extensions`` become extra members (RFC 9457, section 3.2)."""
    body: dict[str, Any] = {"type": type, "title": HTTP_STATUS_CODES.get(status, "Unknown Error"), "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = dict(errors)
    body.update(extensions)
    body["request_id"] = current_request_id()
    return body


def problem_response(status: int, detail: str, *, type: str = BLANK, errors: Mapping[str, list[str]] | None = None,
                     headers: Headers | None = None, **extensions: Any) -> Response:
    """A problem+json response, for views that answer with an error instead of raising one."""
    return _as_json(problem_body(status, detail, type=type, errors=errors, **extensions), headers)


def _as_json(body: dict[str, Any], headers: Headers | None) -> Response:
    # Members in the RFC's order (type, title, status, detail) read best in logs and terminals.
    text = current_app.json.dumps(body, sort_keys=False)
    return current_app.response_class(text, status=body["status"], headers=headers, mimetype=PROBLEM_MIMETYPE)


def field_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """webargs messages ({location: {field: [message]}}) -> {field: [message]}, nested fields dotted."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat.setdefault(prefix, []).extend(value if isinstance(value, list) else [str(value)])

    for location, errors in messages.items():
        # Fields are named as the client sent them; an error about a whole location keeps the location's name.
        walk("" if isinstance(errors, Mapping) else location, errors)
    return flat


def _detail_and_errors(error: HTTPException) -> tuple[str, dict[str, list[str]] | None]:
    if getattr(error, "original_exception", None) is not None:
        return UNEXPECTED_DETAIL, None
    if isinstance(error, Problem):
        return error.description, error.errors
    # flask-smorest's and webargs' abort(status, message=..., errors=... or messages=..., headers=...)
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or (field_errors(data["messages"]) if data.get("messages") else None)
    return data.get("message") or (INVALID_DETAIL if errors else error.description), errors


def _handle_http_exception(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error
    detail, errors = _detail_and_errors(error)
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    headers.extend(((getattr(error, "data", None) or {}).get("headers") or {}).items())
    body = problem_body(error.code, detail, type=getattr(error, "type", BLANK), errors=errors)
    page = _html_page(body) if _prefers_html() else None
    if page is not None:
        return current_app.response_class(page, status=error.code, headers=headers, mimetype="text/html")
    return _as_json(body, headers)


def _prefers_html() -> bool:
    if request.path.startswith("/api/") or _ERROR_PAGE not in current_app.extensions:
        return False
    offered = [PROBLEM_MIMETYPE, "application/json", "text/html"]
    return request.accept_mimetypes.best_match(offered) == "text/html"


def _html_page(body: dict[str, Any]) -> str | None:
    try:
        return current_app.extensions[_ERROR_PAGE](body)
    except Exception:
        # The error page must never hide the original error: answer with the problem itself.
        log.exception("rendering the HTML error page failed")
        return None


def register_error_page(app: Flask, render: Callable[[dict[str, Any]], str]) -> None:
    """Let ``render(problem) -> html`` answer browsers on non-API paths; API paths always get problem+json."""
    app.extensions[_ERROR_PAGE] = render


def init_app(app: Flask) -> None:
    # Unexpected exceptions reach this handler as InternalServerError (Flask logs them first),
    # unless PROPAGATE_EXCEPTIONS lets them through to the test client or debugger.
    app.register_error_handler(HTTPException, _handle_http_exception)
    # A service's refusal of bad input, raised below the web layer, is the caller's error, never a 500.
    app.register_error_handler(DomainError, lambda error: _handle_http_exception(Problem(error.status, str(error))))
