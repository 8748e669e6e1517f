"""Log lines on stderr, human-readable or JSON, each stamped with the request id and tenant."""

from __future__ import annotations

import datetime as dt
import json
import logging

from ..db import CurrentTenant
from ..privacy.logs import PiiLogFilter
from ..settings import Settings
from .request_id import current_request_id

HANDLER_NAME = "creditfactory"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(tenant)s] %(message)s"


class RequestContextFilter(logging.Filter):
    """Stamp each record with the request id and tenant slug of the request that emitted it ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        tenant = CurrentTenant.get_or_none()
        record.request_id = current_request_id() or "-"
        record.tenant = tenant.slug if tenant is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for the log collector."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "tenant": getattr(record, "tenant", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: Settings, *, level: str | None = None) -> None:
    """Install the stderr handler on the root logger (process-wide), replacing one installed earlier."""
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(PiiLogFilter())
    handler.setFormatter(JsonFormatter() if settings.log_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel((level or settings.log_level).upper())
