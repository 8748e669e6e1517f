"""Static assets with versioned URLs: ``url_for`` adds ``?v=<content hash>``, and such URLs are cached for a year.

A new release changes the hash, hence the URL, so browsers never keep a stale stylesheet or script; an
unversioned or outdated URL is still served, revalidated by ETag as Flask does by default.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

#: Query parameter carrying an asset's content hash.
VERSION_ARG = "v"
IMMUTABLE = "public, max-age=31536000, immutable"


def is_static_endpoint(endpoint: str | None) -> bool:
    """The app's or a blueprint's static files: the same for every tenant and user."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def _static_file(endpoint: str, filename: str) -> str | None:
    blueprint, _, _ = endpoint.rpartition(".")
    owner = current_app.blueprints.get(blueprint) if blueprint else current_app
    folder = owner.static_folder if owner is not None else None
    path = safe_join(os.fspath(folder), filename) if folder else None
    return path if path and os.path.isfile(path) else None


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by modification time and size too, so an asset edited under the development server gets a new URL.
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def asset_version(endpoint: str, filename: str) -> str | None:
    """The content hash of a static file, or None if there is no such file."""
    path = _static_file(endpoint, filename)
    if path is None:
        return None
    stat = os.stat(path)
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    if is_static_endpoint(endpoint) and "filename" in values and VERSION_ARG not in values:
        version = asset_version(endpoint, values["filename"])
        if version is not None:
            values[VERSION_ARG] = version


def _cache_versioned(response: Response) -> Response:
    if response.status_code == 200 and is_static_endpoint(request.endpoint):
        version = asset_version(request.endpoint, (request.view_args or {}).get("filename", ""))
        if version is not None and request.args.get(VERSION_ARG) == version:
            response.headers["Cache-Control"] = IMMUTABLE
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)
    app.after_request(_cache_versioned)
