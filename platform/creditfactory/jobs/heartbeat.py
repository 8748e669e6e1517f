"""Liveness for processes without an HTTP port (job workers, the scheduler): a file touched while they work.

The orchestrator's exec probe checks the file's age (see the Helm chart): a process that is gone or wedged
stops touching it and gets restarted. The path comes from ``CREDITFACTORY_HEARTBEAT_FILE``; without it nothing
is written, so developers' machines and tests stay clean.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import dramatiq

#: Seconds between two touches; the chart's probe allows several missed ones.
INTERVAL_SECONDS = 10.0


def heartbeat_path() -> Path | None:
    value = os.environ.get("CREDITFACTORY_HEARTBEAT_FILE", "")
    return Path(value) if value else None


def beat(path: Path | None = None) -> None:
    """Touch the heartbeat file now (no-op when none is configured)."""
    path = path or heartbeat_path()
    if path is not None:
        path.touch()


class Heartbeat(dramatiq.Middleware):
    """Touches the heartbeat file every ``INTERVAL_SECONDS`` while a dramatiq worker process runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()

    def after_worker_boot(self, broker, worker) -> None:
        def run() -> None:
            while not self._stop.is_set():
                beat(self.path)
                self._stop.wait(INTERVAL_SECONDS)

        threading.Thread(target=run, name="heartbeat", daemon=True).start()

    def before_worker_shutdown(self, broker, worker) -> None:
        self._stop.set()
