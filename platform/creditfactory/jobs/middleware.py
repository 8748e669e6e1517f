"""TenantMiddleware: every message carries the tenant it was sent for, and runs bound to exactly that tenant."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from typing import Any

import dramatiq
from dramatiq.middleware import MiddlewareError, SkipMessage, default_middleware

from ..db import CurrentTenant, SystemContext

log = logging.getLogger(__name__)

#: Message options only this middleware writes: the tenant slug, or the SystemContext reason.
TENANT_OPTION = "tenant"
SYSTEM_OPTION = "system"
STAMP_OPTIONS = frozenset({TENANT_OPTION, SYSTEM_OPTION})


class SendRefused(MiddlewareError):
    """A job was sent from a context that may not send it; nothing was enqueued.

    A MiddlewareError, because dramatiq logs and swallows any other exception raised in a middleware hook.
    """


class TenantBindingFailed(MiddlewareError):
    """The worker could not establish the message's tenant (registry unreachable); the message is retried."""


def is_system_actor(actor: dramatiq.Actor | None) -> bool:
    return actor is not None and actor.options.get(SYSTEM_OPTION) is True


class TenantMiddleware(dramatiq.Middleware):
    """Stamps the sender's tenant (or SystemContext reason) on each message; binds it in the worker.

    Must come first in the broker's middleware list: hooks ``before_*`` run in list order and ``after_*``
    in reverse, so the binding is in place before any other middleware looks at the message and still in
    place while Retries, Callbacks and Pipelines enqueue follow-up messages after the actor ran.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def actor_options(self) -> set[str]:
        return {SYSTEM_OPTION}

    # --- sending --------------------------------------------------------------------------------

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: int | None) -> None:
        tenant = CurrentTenant.get_or_none()
        reason = SystemContext.active()
        actor = broker.actors.get(message.actor_name)
        name = message.actor_name
        stamped_tenant = message.options.get(TENANT_OPTION)
        stamped_reason = message.options.get(SYSTEM_OPTION)

        if stamped_tenant is not None or stamped_reason is not None:
            # Already stamped: dramatiq re-enqueues the same message for retries and delays, sometimes
            # from a consumer thread that has no context. Keep the stamp, but never let a bound context
            # re-address it.
            if stamped_tenant is not None and stamped_reason is not None:
                raise SendRefused(f"message for {name} carries both a tenant and a system stamp")
            if tenant is not None and stamped_tenant != tenant.slug:
                target = f"tenant {stamped_tenant!r}" if stamped_tenant is not None else "the system"
                raise SendRefused(f"message for {name} is addressed to {target}, "
                                  f"but this context acts for tenant {tenant.slug!r}")
            if actor is not None and is_system_actor(actor) != (stamped_reason is not None):
                raise SendRefused(f"message for {name} carries a stamp that does not fit the actor's kind")
            return

        if is_system_actor(actor):
            if tenant is not None:
                raise SendRefused(f"{name} is a system actor: send it from a SystemContext with no tenant bound, "
                                  f"not while acting for tenant {tenant.slug!r}")
            if reason is None:
                raise SendRefused(f"{name} is a system actor: send it inside SystemContext(reason)")
            message.options[SYSTEM_OPTION] = reason
            return
        if tenant is None:
            raise SendRefused(f"{name} is a tenant actor and no tenant is bound: send it inside "
                              f"CurrentTenant.bind(tenant) (within a SystemContext when fanning out over tenants)")
        message.options[TENANT_OPTION] = tenant.slug

    # --- processing -----------------------------------------------------------------------------

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._release(leftover=True)
        actor = broker.actors.get(message.actor_name)
        if actor is None:
            # dramatiq itself fails the message with ActorNotFound right after this hook; nothing runs.
            return
        scope = ExitStack()
        try:
            if is_system_actor(actor):
                scope.enter_context(SystemContext(self._system_reason(message)))
            else:
                scope.enter_context(CurrentTenant.bind(self._serving_tenant(message)))
        except MiddlewareError:
            scope.close()
            raise
        except Exception as exc:
            # Any other exception would be logged and swallowed by dramatiq, and the actor would then run
            # unbound: turn it into a failure of this message (retried by the Retries middleware).
            scope.close()
            raise TenantBindingFailed(f"could not bind the context of {message.actor_name}: {exc}") from exc
        self._local.scope = scope

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        self._release()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._release()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        self._release()

    def _system_reason(self, message: Any) -> str:
        reason = message.options.get(SYSTEM_OPTION)
        if message.options.get(TENANT_OPTION) is not None:
            self._refuse(message, "system actor message carries a tenant stamp")
        if not isinstance(reason, str) or not reason:
            self._refuse(message, "system actor message carries no SystemContext reason")
        return reason

    def _serving_tenant(self, message: Any):
        # Imported here: the registry imports the tenancy models, which need not load for sending.
        from ..tenancy.registry import TenantUnavailable, UnknownTenant, directory

        slug = message.options.get(TENANT_OPTION)
        if message.options.get(SYSTEM_OPTION) is not None:
            self._refuse(message, "tenant actor message carries a system stamp")
        if not isinstance(slug, str) or not slug:
            self._refuse(message, "tenant actor message carries no tenant")
        try:
            return directory.get_serving(slug)
        except UnknownTenant:
            self._refuse(message, f"unknown tenant {slug!r}")
        except TenantUnavailable as exc:
            self._refuse(message, str(exc), level=logging.WARNING)

    def _refuse(self, message: Any, why: str, *, level: int = logging.ERROR) -> None:
        # Failed, not acked: the broker dead-letters it (RabbitMQ .XQ, Redis dead set, PostgreSQL state
        # 'rejected'), so the evidence stays for an operator and the job can be replayed once the tenant
        # serves again. Never retried: waiting does not make a tampered or unknown tenant valid, and a
        # suspension is lifted by a person, who then replays. dramatiq's AgeLimit refuses messages the same way.
        log.log(level, "job %s (message %s) not run: %s", message.actor_name, message.message_id, why,
                extra={"tenant": message.options.get(TENANT_OPTION), "message_id": message.message_id,
                       "actor": message.actor_name})
        message.fail()
        raise SkipMessage(why)

    def _release(self, *, leftover: bool = False) -> None:
        scope = getattr(self._local, "scope", None)
        self._local.scope = None
        if scope is None:
            return
        if leftover:
            log.error("a job's tenant binding outlived its message; released before the next one")
        scope.close()


def standard_middleware() -> list[dramatiq.Middleware]:
    """The middleware of every Credit Factory broker: TenantMiddleware first, then dramatiq's defaults."""
    return [TenantMiddleware(), *(factory() for factory in default_middleware)]
