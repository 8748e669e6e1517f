"""WSGI entry point for gunicorn: ``gunicorn creditfactory.wsgi:app``."""

from .app import create_app

app = create_app()
