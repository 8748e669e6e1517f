"""Who is acting: the ``CurrentActor`` every audit entry is attributed to."""

from __future__ import annotations

import enum
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from ..db import SystemContext


class Unattributed(RuntimeError):
    """An audited change with no actor bound and no SystemContext active: nobody could answer for it."""


class ActorKind(str, enum.Enum):
    USER = "user"
    CLIENT = "client"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """A person (user id), a machine (OAuth client id) or a named system process (``cli:<os user>``)."""

    id: str
    kind: ActorKind
    #: Human-readable name for reports; not part of the attribution itself.
    display: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("an actor needs an id")
        object.__setattr__(self, "kind", ActorKind(self.kind))


_current: ContextVar[Actor | None] = ContextVar("creditfactory_actor", default=None)


class CurrentActor:
    """The actor bound to this request, job or command."""

    @staticmethod
    def get_or_none() -> Actor | None:
        return _current.get()

    @staticmethod
    @contextmanager
    def bind(actor: Actor) -> Iterator[Actor]:
        """Attribute everything audited in the enclosed block to ``actor``."""
        token = _current.set(actor)
        try:
            yield actor
        finally:
            _current.reset(token)

    @staticmethod
    def resolve() -> Actor:
        """The bound actor, else the active SystemContext as ``system:<reason>``; refuses when neither."""
        actor = _current.get()
        if actor is not None:
            return actor
        reason = SystemContext.active()
        if reason is not None:
            return Actor(id=f"system:{reason}", kind=ActorKind.SYSTEM, display=reason)
        raise Unattributed("no actor is bound and no SystemContext is active: audited changes must be attributable")
