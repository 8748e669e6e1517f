"""Log lines on stderr through structlog: human-readable or JSON, each stamped with request id, tenant and user.

Code logs with the standard library (``logging.getLogger(__name__)``), so third-party libraries' lines get the same
treatment; structlog's ``ProcessorFormatter`` renders every record. Personal data never reaches a line: the
privacy filter masks identity numbers, credit codes and phone numbers before rendering, and the user is named by
id, never by name.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from ..db import CurrentTenant
from ..privacy.logs import PiiLogFilter
from ..settings import Settings
from .request_id import current_request_id

HANDLER_NAME = "creditfactory"


def add_request_context(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Request id, tenant slug and acting user id of the request or job that logs ("-" outside one)."""
    from ..identity.principal import CurrentPrincipal

    tenant = CurrentTenant.get_or_none()
    principal = CurrentPrincipal.get_or_none()
    event.setdefault("request_id", current_request_id() or "-")
    event.setdefault("tenant", tenant.slug if tenant is not None else "-")
    event.setdefault("user", principal.user_id if principal is not None and principal.user_id else "-")
    return event


def _rename_event(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    event["message"] = event.pop("event", "")
    return event


def _formatter(json_lines: bool) -> structlog.stdlib.ProcessorFormatter:
    shared = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        add_request_context,
    ]
    if json_lines:
        rendering = [structlog.processors.format_exc_info, _rename_event, _upper_level,
                     structlog.processors.JSONRenderer(ensure_ascii=False, default=str)]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=False)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )


def _upper_level(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    event["level"] = str(event.get("level", "")).upper()
    return event


def configure(settings: Settings, *, level: str | None = None) -> None:
    """Install the stderr handler on the root logger (process-wide), replacing one installed earlier."""
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(PiiLogFilter())
    handler.setFormatter(_formatter(settings.log_json))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel((level or settings.log_level).upper())
