"""The one base class for a capability's refusals of bad input, so the web and the CLI answer them alike.

A service raises a :class:`DomainError` (or a subclass) *before* it changes anything; the web layer answers
with a problem+json of the class's ``status`` (422 by default) and the message as ``detail``; the CLI prints
the message and exits with code 2. Subclass it per capability (``class LendingError(DomainError)``) and use
:class:`Conflict` for a request that is well formed but clashes with the current state (an illegal state
transition, a duplicate).
"""

from __future__ import annotations


class DomainError(ValueError):
    """Bad input to a domain operation; the message says what and why; nothing was changed."""

    #: HTTP status the web layer answers with.
    status = 422


class Conflict(DomainError):
    """Well-formed, but it clashes with the current state (e.g. an illegal state transition); nothing changed."""

    status = 409


class NotFound(DomainError):
    """The object named does not exist in the acting tenant (or the caller may not know it exists)."""

    status = 404
