"""Benchmarks of the platform's hot paths, run by ``creditfactory bench <name>``.

Every benchmark is a function registered under a name in :data:`BENCHES`. It receives a
:class:`BenchContext` (sizes, where to create its throwaway database, a progress callback) and returns
one JSON-serialisable ``dict`` with at least ``name``, ``n``, ``p50_ms``, ``p95_ms`` and ``p99_ms``
(see :func:`creditfactory.bench.common.latency_summary`) plus its own fields. A benchmark that ran
but whose checks failed (a tenant not migrated, a schema of the wrong size) says so with
``"ok": false`` and a ``problems`` list: the CLI still prints the figures, then exits with status 1.
One that cannot measure at all raises :class:`creditfactory.bench.common.BenchFailure`.

Adding a benchmark takes two steps::

    # creditfactory/bench/cob.py
    from . import BenchContext, register

    @register("cob", "Close of business over N tenants", default_n=100)
    def run(ctx: BenchContext) -> dict: ...

and adding ``"cob"`` to :data:`_BUILTIN_MODULES` below, so importing this package registers it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from ..settings import Settings


@dataclass(frozen=True)
class BenchContext:
    """What a benchmark run is given; sizes already have the benchmark's defaults applied."""

    #: Size of the run: tenants, requests... (the benchmark says what it counts).
    n: int
    #: Parallel workers, or None for benchmarks that take no ``--workers``.
    workers: int | None
    #: libpq URL of an existing database on the server to benchmark; benchmarks create their own
    #: temporary database next to it (see :func:`creditfactory.bench.common.temporary_database`).
    server_url: str
    #: The settings to start from (lock timeout, data dir...); benchmarks replace the database URL.
    settings: Settings
    #: Reports progress of long runs to a human (stderr); never part of the result.
    progress: Callable[[str], None] = field(default=lambda message: None)
    #: True when the server is the embedded PostgreSQL (reported with the figures).
    embedded: bool = False
    #: Benchmark-specific options, for future benchmarks that need more than n and workers.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bench:
    """A registered benchmark: callable like the function it wraps, plus what the CLI needs to know."""

    name: str
    summary: str
    function: Callable[[BenchContext], dict[str, Any]]
    default_n: int
    #: Default for ``--workers``; None means the benchmark takes no ``--workers`` option.
    default_workers: int | None = None

    def __call__(self, ctx: BenchContext) -> dict[str, Any]:
        return self.function(ctx)


#: name -> benchmark, in registration order.
BENCHES: dict[str, Bench] = {}

#: Modules of this package that register benchmarks when imported.
_BUILTIN_MODULES = ("provisioning", "migrations", "routing", "decisions", "cob", "loan_read", "api", "reports")


def register(name: str, summary: str, *, default_n: int,
             default_workers: int | None = None) -> Callable[[Callable[[BenchContext], dict[str, Any]]], Bench]:
    """Decorator registering ``function`` as benchmark ``name``."""

    def decorate(function: Callable[[BenchContext], dict[str, Any]]) -> Bench:
        previous = BENCHES.get(name)
        # The same function registering again (a module reload) is fine; two different ones are a bug.
        if previous is not None and (previous.function.__module__, previous.function.__qualname__) != (
                function.__module__, function.__qualname__):
            raise ValueError(f"benchmark {name!r} is already registered by {previous.function.__module__}")
        bench = Bench(name, summary, function, default_n, default_workers)
        BENCHES[name] = bench
        return bench

    return decorate


for _module in _BUILTIN_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["BENCHES", "Bench", "BenchContext", "register"]
