"""The portal's navigation: each capability registers its pages' links; a user sees those their permissions open.

A capability registers its links when its portal module is imported (``init_app``)::

    from ..portal.nav import N_, NavLink, register_nav

    register_nav(NavLink("lending.my_customers", N_("My customers"), Permission.CUSTOMER_READ, order=10))

``N_`` only marks the label for extraction into the capability's own catalogue; the layout translates it per
request. A link whose endpoint is not registered in the app (a capability switched off) is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, url_for

from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal


def N_(message: str) -> str:  # noqa: N802 - the gettext convention babel extracts
    """Mark ``message`` for translation without translating it now."""
    return message


@dataclass(frozen=True)
class NavLink:
    """A link in the portal's menu: ``endpoint`` (a page of the acting tenant or context), its label msgid, the
    permission that must be held to see it (None: any logged-in user) and the position (lower first)."""

    endpoint: str
    label: str
    permission: Permission | None = None
    order: int = 100


_LINKS: dict[str, NavLink] = {}


def register_nav(link: NavLink) -> NavLink:
    """Add ``link`` to the menu (registering one endpoint twice replaces the earlier link)."""
    _LINKS[link.endpoint] = link
    return link


def visible_links() -> list[tuple[str, str]]:
    """(url, label msgid) of the links the current principal may follow, in menu order; none when logged out."""
    principal = CurrentPrincipal.get_or_none()
    if principal is None:
        return []
    known = current_app.view_functions
    return [(url_for(link.endpoint), link.label)
            for link in sorted(_LINKS.values(), key=lambda link: (link.order, link.endpoint))
            if link.endpoint in known and (link.permission is None or principal.has(link.permission))]
