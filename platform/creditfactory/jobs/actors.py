"""Declaring actors: ``tenant_actor`` and ``system_actor``, which follow whichever broker is installed.

dramatiq binds an actor to a broker when it is declared. Actors declared here without an explicit broker
are also recorded, and ``install()`` moves them all to the broker being installed. So a module that
declares actors may be imported before the broker exists (app start-up order, test collection), and a
test can swap in a stub broker and back without re-declaring anything.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

import dramatiq

from .middleware import STAMP_OPTIONS, SYSTEM_OPTION, SendRefused, TenantMiddleware, standard_middleware

#: Default queues: tenant work and cross-tenant housekeeping scale (and can be paused) separately.
TENANT_QUEUE = "tenant"
SYSTEM_QUEUE = "system"
#: Retried ten times, backoff from 15 s doubling up to one hour apart: about three hours in all, enough
#: to ride out a database failover or a broker restart, short enough that an overnight COB still finishes.
DEFAULT_OPTIONS: dict[str, Any] = {"max_retries": 10, "max_backoff": 3_600_000}


class BrokerNotConfigured(RuntimeError):
    """A job was sent before ``setup_broker()`` (or ``use_broker()``) installed a broker."""


class _UnconfiguredBroker(dramatiq.Broker):
    """Where actors wait until a broker is installed: takes declarations, refuses every message."""

    def __init__(self) -> None:
        # The same middleware as a real broker, so actor options are validated at declaration already.
        super().__init__(middleware=standard_middleware())

    def declare_queue(self, queue_name: str) -> None:
        self.queues[queue_name] = None

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        raise BrokerNotConfigured(f"cannot send {message.actor_name}: no broker is installed; call "
                                  "creditfactory.jobs.setup_broker() at start-up")

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000):
        raise BrokerNotConfigured("no broker is installed; call creditfactory.jobs.setup_broker() first")


class TenantAwareActor(dramatiq.Actor):
    """An actor whose messages get their tenant from the sender's context, never from the caller."""

    def message_with_options(self, *, args: tuple = (), kwargs: dict[str, Any] | None = None, **options: Any):
        forged = sorted(STAMP_OPTIONS & options.keys())
        if forged:
            raise SendRefused(f"{self.actor_name}: option {forged[0]!r} is stamped from the sender's context; "
                              "bind the tenant with CurrentTenant.bind() instead of naming it")
        return super().message_with_options(args=args, kwargs=kwargs, **options)


_lock = threading.RLock()
_declared: dict[str, dramatiq.Actor] = {}
_installed: dramatiq.Broker | None = None
_waiting_room: _UnconfiguredBroker | None = None


def _waiting_room_broker() -> _UnconfiguredBroker:
    global _waiting_room
    if _waiting_room is None:
        _waiting_room = _UnconfiguredBroker()
    return _waiting_room


def _home() -> dramatiq.Broker:
    return _installed if _installed is not None else _waiting_room_broker()


def _require_tenant_middleware(broker: dramatiq.Broker) -> None:
    if not any(isinstance(m, TenantMiddleware) for m in broker.middleware):
        raise ValueError(f"{broker!r} has no TenantMiddleware: build it with make_broker(), or pass "
                         "middleware=standard_middleware()")


def installed_broker() -> dramatiq.Broker | None:
    """The broker installed by ``setup_broker()``/``use_broker()``, or None."""
    return _installed


def declared_actors() -> dict[str, dramatiq.Actor]:
    """The actors that follow the installed broker, by name."""
    return dict(_declared)


def install(broker: dramatiq.Broker | None) -> None:
    """Make ``broker`` the global dramatiq broker and move every recorded actor to it (None: uninstall)."""
    global _installed
    with _lock:
        if broker is not None:
            _require_tenant_middleware(broker)
        target = broker if broker is not None else _waiting_room_broker()
        for actor in _declared.values():
            existing = target.actors.get(actor.actor_name)
            if existing is not None and existing is not actor:
                raise ValueError(f"{target!r} already has another actor named {actor.actor_name!r}")
        for actor in _declared.values():
            actor.broker = target
            if target.actors.get(actor.actor_name) is not actor:
                target.declare_actor(actor)
        _installed = broker
        dramatiq.set_broker(broker)  # type: ignore[arg-type]  # None: dramatiq has no broker either


def _declare(fn: Callable | None, *, system: bool, actor_name: str | None, queue_name: str, priority: int,
             broker: dramatiq.Broker | None, options: dict[str, Any]):
    if SYSTEM_OPTION in options:
        raise TypeError("the 'system' option is set by system_actor/tenant_actor, not passed")

    def decorator(fn: Callable) -> dramatiq.Actor:
        if inspect.iscoroutinefunction(fn):
            # dramatiq runs coroutines on a separate event-loop thread, which does not see the worker
            # thread's tenant binding.
            raise TypeError(f"{fn.__qualname__}: async actors are not supported; the tenant is bound per worker thread")
        merged = {**DEFAULT_OPTIONS, **options, **({SYSTEM_OPTION: True} if system else {})}
        with _lock:
            target = broker if broker is not None else _home()
            _require_tenant_middleware(target)
            actor = dramatiq.actor(fn, actor_class=TenantAwareActor, actor_name=actor_name, queue_name=queue_name,
                                   priority=priority, broker=target, **merged)
            if broker is None:
                _declared[actor.actor_name] = actor
        return actor

    return decorator(fn) if fn is not None else decorator


def tenant_actor(fn: Callable | None = None, *, actor_name: str | None = None, queue_name: str = TENANT_QUEUE,
                 priority: int = 0, broker: dramatiq.Broker | None = None, **options: Any):
    """Declare an actor that works for one tenant: the tenant bound when it was sent.

    Send it inside ``CurrentTenant.bind(tenant)`` (a request or job already is); the worker binds the same
    tenant while it runs, so ``tenant_session()`` and ``CurrentTenant.get()`` work as in a request. A message
    whose tenant is unknown or not serving (suspended, offboarding) is not run; it is dead-lettered.

    The actor must be idempotent: a message can be delivered more than once (retries after a failure, a
    worker lost after it committed but before it acknowledged), so running it twice must leave the same
    state as running it once, e.g. upsert instead of insert, check before moving money.

    Parameters:
      fn: the function; arguments must be JSON values (they travel through the broker).
      actor_name: defaults to the function's name; unique across the platform.
      queue_name: defaults to ``tenant``.
      priority: dramatiq priority within a worker (lower runs first).
      broker: declare on this broker only, instead of following the installed one (tests).
      **options: dramatiq actor options, e.g. ``max_retries`` (default 10), ``time_limit`` (ms).
    """
    return _declare(fn, system=False, actor_name=actor_name, queue_name=queue_name, priority=priority,
                    broker=broker, options=options)


def system_actor(fn: Callable | None = None, *, actor_name: str | None = None, queue_name: str = SYSTEM_QUEUE,
                 priority: int = 0, broker: dramatiq.Broker | None = None, **options: Any):
    """Declare an actor for work spanning tenants (housekeeping, COB fan-out): it runs with no tenant bound.

    Send it inside ``SystemContext(reason)`` with no tenant bound; the worker runs it inside
    ``SystemContext(reason)`` with the same reason. To work on tenants, bind each in turn with
    ``CurrentTenant.bind(tenant)``, or better, send one tenant actor per tenant.

    The actor must be idempotent (see ``tenant_actor``); parameters as for ``tenant_actor``, queue ``system``.
    """
    return _declare(fn, system=True, actor_name=actor_name, queue_name=queue_name, priority=priority,
                    broker=broker, options=options)
