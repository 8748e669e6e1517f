"""Portal languages: Chinese (zh_Hans_CN) first, English second, chosen per request by flask-babel."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, request
from flask_babel import Babel, Domain, get_locale

from ..db import CurrentTenant
from ..settings import Settings

PACKAGE_DIR = Path(__file__).parents[1]
#: Short code used in URLs and the language switch -> locale identifier.
LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}
#: Cookie holding the language a user picked; it outranks the tenant's and the browser's.
LANGUAGE_COOKIE = "cf_lang"

babel = Babel()


def select_locale() -> str | None:
    """Explicit choice (cookie) -> the tenant's locale -> best ``Accept-Language`` match -> None (default)."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES.values():
        return chosen
    tenant = CurrentTenant.get_or_none()
    if tenant is not None and tenant.locale in LANGUAGES.values():
        return tenant.locale
    # werkzeug matches by primary subtag, so zh-CN, zh-TW and zh-Hans all pick Chinese.
    return LANGUAGES.get(request.accept_languages.best_match(LANGUAGES) or "")


def select_timezone() -> str | None:
    """Dates and times show in the tenant's time zone (None: the default)."""
    tenant = CurrentTenant.get_or_none()
    return tenant.timezone if tenant is not None else None


def current_language() -> str:
    """Short code ("zh" or "en") of the locale this request renders in."""
    locale = str(get_locale())
    return next((code for code, ident in LANGUAGES.items() if ident == locale), "zh")


def translation_directories() -> list[Path]:
    """Every capability's own catalogue folder (``<capability>/translations`` beside its ``babel.cfg``, at any
    depth, e.g. ``lending/applications``), the portal's first.

    Each capability with pages keeps its messages next to its templates, extracted with its own ``babel.cfg``,
    so capabilities never edit one shared catalogue; flask-babel merges them per request.
    """
    found = [path.parent for path in PACKAGE_DIR.glob("**/babel.cfg") if (path.parent / "translations").is_dir()]
    ordered = sorted(found, key=lambda folder: (folder.name != "portal", folder.as_posix()))
    return [folder / "translations" for folder in ordered]


#: Per blueprint: the catalogues merged with its capability's own last, or None for the default order.
_DOMAINS: dict[str, Domain | None] = {}


def capability_domain(blueprint: str) -> Domain | None:
    """The messages of the pages of ``blueprint``: every catalogue, its own capability's merged last.

    Capabilities translate a shared English word each in their own sense ("Active": a loan 正常还款, a consent 有效,
    a user 正常); merged in a fixed order, the last catalogue would win on every page. Merging the page's own
    catalogue last gives each page its capability's words, and the others' for what it does not define.
    """
    if blueprint not in _DOMAINS:
        found = current_app.blueprints.get(blueprint)
        own = (Path(found.root_path) / "translations").resolve() if found is not None else None
        directories = [directory.resolve() for directory in translation_directories()]
        _DOMAINS[blueprint] = None if own not in directories else Domain(
            translation_directories=[str(d) for d in directories if d != own] + [str(own)])
    return _DOMAINS[blueprint]


def _use_the_capability_catalogue() -> None:
    domain = capability_domain(request.blueprint) if request.blueprint else None
    if domain is not None:
        domain.as_default()


def init_app(app: Flask, settings: Settings) -> None:
    directories = ";".join(str(path) for path in translation_directories())
    babel.init_app(app, default_locale=settings.default_locale, default_timezone=settings.default_timezone,
                   default_translation_directories=directories,
                   locale_selector=select_locale, timezone_selector=select_timezone)
    app.before_request(_use_the_capability_catalogue)
