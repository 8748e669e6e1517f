"""Who may open a page outside the REST API: every such view declares it, and the test suite holds each page to it.

REST operations declare theirs with the project ``Blueprint``'s ``auth`` / ``public`` (``web/smorest.py``), which
also writes it into the OpenAPI document. Pages are declared here: ``@public("why anyone may see it")``, or the
portal's ``login_required``, which marks its view with ``LOGIN_REQUIRED``. ``tests/test_authorization.py`` walks the
app's URL map and fails on a page that declares neither.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

_V = TypeVar("_V", bound=Callable[..., Any])

#: Attribute of a view function carrying its ``PageAccess``.
ATTRIBUTE = "page_access"


@dataclasses.dataclass(frozen=True)
class PageAccess:
    """A page's declared access: public for a stated reason, or for logged-in staff only."""

    #: Why anyone, logged in or not, may open the page; None for pages that need a login.
    public_reason: str | None = None
    #: The permission (``identity.permissions.Permission``) a logged-in user must also hold; None: any staff.
    permission: Any = None

    @property
    def public(self) -> bool:
        return self.public_reason is not None


#: The declaration ``login_required`` puts on its views.
LOGIN_REQUIRED = PageAccess()


def declare(view: _V, access: PageAccess) -> _V:
    """Mark ``view`` with ``access``; returns the view, for use inside decorators."""
    setattr(view, ATTRIBUTE, access)
    return view


def public(reason: str) -> Callable[[_V], _V]:
    """Decorate a page anyone may open, saying why: ``@public("the login form itself")``."""
    if not reason or not reason.strip():
        raise ValueError("a public page needs the reason it is public")

    def decorate(view: _V) -> _V:
        return declare(view, PageAccess(public_reason=reason))

    return decorate


def access_of(view: Callable[..., Any]) -> PageAccess | None:
    """The access ``view`` declared, or None when it declared none (a bound method reads its function's)."""
    return getattr(view, ATTRIBUTE, None)
