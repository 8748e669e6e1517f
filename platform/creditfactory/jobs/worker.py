"""What a dramatiq worker loads: ``dramatiq creditfactory.jobs.worker``; installs the broker, then the actors."""

from __future__ import annotations

import importlib

from .broker import setup_broker

#: Every module that declares actors, in one place: a worker runs only the actors imported here.
ACTOR_MODULES = (
    "creditfactory.tenancy.jobs",
    "creditfactory.lending.cob.jobs",
)

#: The installed broker (``dramatiq creditfactory.jobs.worker`` finds it as dramatiq's global broker).
broker = setup_broker()

for _module in ACTOR_MODULES:
    importlib.import_module(_module)
