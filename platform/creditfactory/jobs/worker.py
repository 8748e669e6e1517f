"""What a dramatiq worker loads: ``dramatiq creditfactory.jobs.worker``; installs the broker, then the actors."""

from __future__ import annotations

import importlib
import os

from .broker import setup_broker
from .heartbeat import Heartbeat, heartbeat_path

#: Every module that declares actors, in one place: a worker runs only the actors imported here.
ACTOR_MODULES = (
    "creditfactory.tenancy.jobs",
    "creditfactory.plugins.jobs",
    "creditfactory.lending.applications.jobs",
    "creditfactory.lending.cob.jobs",
    "creditfactory.lending.collections.jobs",
    "creditfactory.reporting.jobs",
    "creditfactory.tenancy.console",
    "creditfactory.talent.jobs",
    "creditfactory.decisions.simulation",
    "creditfactory.talent.risk360.jobs",
)

#: The installed broker (``dramatiq creditfactory.jobs.worker`` finds it as dramatiq's global broker).
broker = setup_broker()
if heartbeat_path() is not None:
    broker.add_middleware(Heartbeat(heartbeat_path()))
if os.environ.get("CREDITFACTORY_WORKER_METRICS"):
    # dramatiq's own exporter: messages, errors, retries, durations per actor and queue, on port 9191
    # (dramatiq_prom_port), summed over the worker's processes.
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())

for _module in ACTOR_MODULES:
    importlib.import_module(_module)
