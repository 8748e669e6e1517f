"""Probes for the orchestrator: ``/healthz`` (the process is up) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response
from sqlalchemy import text

from ..db import engine_for
from .access import public
from .errors import problem_response

log = logging.getLogger(__name__)

#: Seconds the readiness probe waits for the broker.
BROKER_TIMEOUT = 2.0

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@public("the orchestrator's liveness probe, which carries no data")
def healthz() -> dict[str, str]:
    """Liveness: answers without any I/O, so a slow database never gets the pod restarted."""
    return {"status": "ok"}


@blueprint.get("/readyz")
@public("the orchestrator's readiness probe, which carries no data")
def readyz() -> dict[str, Any] | Response:
    """Readiness: the main database answers ``SELECT 1`` and the job broker is reachable."""
    checks = {"database": _database(), "broker": _broker()}
    failing = [name for name, check in checks.items() if not check["ok"]]
    if failing:
        return problem_response(503, f"not ready: {', '.join(failing)} unavailable", checks=checks)
    return {"status": "ready", "checks": checks}


def _database() -> dict[str, Any]:
    try:
        with engine_for("default").connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        # The probe may be reachable from outside: hosts and ports go to the log, not the body.
        log.warning("readiness: database check failed", exc_info=True)
        return {"ok": False, "detail": f"database unreachable ({type(exc).__name__})"}
    return {"ok": True, "detail": "SELECT 1 answered"}


def _broker() -> dict[str, Any]:
    try:
        from ..jobs.broker import broker_reachable

        ok, detail = broker_reachable(timeout=BROKER_TIMEOUT)
    except Exception as exc:
        log.warning("readiness: broker check failed", exc_info=True)
        return {"ok": False, "detail": f"broker check failed ({type(exc).__name__})"}
    return {"ok": ok, "detail": detail}


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
