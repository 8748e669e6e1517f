"""Portal pages shared by every tenant: the home page and the language switch."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext

from ..db import CurrentTenant
from ..web.access import public
from ..web.errors import abort_problem, register_error_page
from ..web.security import cookie_secure
from .i18n import LANGUAGE_COOKIE, LANGUAGES, current_language
from .nav import visible_links

#: Seconds the language choice is remembered.
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600

blueprint = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/portal")


@blueprint.get("/")
@public("the bank's landing page: its name and the way to log in")
def home() -> str:
    """The tenant's home page, or the head office's when the request names no tenant; logged-in staff of a bank
    also see the dashboard widgets of the bank's plugins."""
    return render_template("portal/home.html", now=dt.datetime.now(dt.timezone.utc), widgets=_widgets())


def _widgets() -> list[tuple[str, Any]]:
    from ..identity.principal import CurrentPrincipal
    from ..plugins import get_host

    if CurrentTenant.get_or_none() is None or CurrentPrincipal.get_or_none() is None:
        return []
    widgets = []
    for widget in get_host().collect("register_portal_widgets"):
        html = get_host().run_isolated(widget.title, "render", widget.render)
        if html is not None:
            widgets.append((widget.title, html))
    return widgets


@blueprint.get("/lang/<code>")
@public("choosing a language comes before logging in")
def set_language(code: str) -> Response:
    """Remember the chosen language and go back to the page the switch was clicked on."""
    if code not in LANGUAGES:
        abort_problem(404, f"no language {code!r}; choose one of {', '.join(LANGUAGES)}")
    back = local_path(request.args.get("next"))
    response = redirect(request.script_root + back if back else url_for("portal.home"))
    response.set_cookie(LANGUAGE_COOKIE, LANGUAGES[code], max_age=LANGUAGE_COOKIE_MAX_AGE, httponly=True,
                        samesite="Lax", secure=cookie_secure())
    return response


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path inside this app ("/loans?page=2"), else None: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop control characters, which would turn "/\evil" into "//evil".
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _layout_context() -> dict[str, Any]:
    # Templates rendered outside a request (mail from jobs) do not use the page layout.
    if not has_request_context():
        return {}
    tenant = CurrentTenant.get_or_none()
    language = current_language()
    if tenant is None:
        bank_name = gettext("Credit Factory Head Office")
    else:
        bank_name = tenant.name_en if language == "en" and tenant.name_en else tenant.name_zh
    here = request.full_path.rstrip("?")
    return {
        "tenant": tenant,
        "bank_name": bank_name,
        "language": language,
        "html_lang": LANGUAGES[language].replace("_", "-"),
        "language_urls": {code: url_for("portal.set_language", code=code, next=here) for code in LANGUAGES},
        "nav_links": visible_links(),
    }


def _error_page(problem: dict[str, Any]) -> str:
    return render_template("portal/error.html", problem=problem)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.context_processor(_layout_context)
    register_error_page(app, _error_page)
