"""Test support for the core and for plugin authors (fixtures in ``creditfactory.testing.pytest_plugin``)."""
