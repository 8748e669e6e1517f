"""Identity: users, memberships, roles and permissions, authorization below the web layer, segregation of duties."""

from __future__ import annotations

from flask import Flask

from .errors import AccessDenied


def init_app(app: Flask) -> None:
    """Answer every refusal raised below the web layer with a 403 problem, whatever route raised it."""
    from ..web.errors import problem_response

    def refuse(error: AccessDenied):
        return problem_response(error.status, str(error))

    app.register_error_handler(AccessDenied, refuse)
