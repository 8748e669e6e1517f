"""Core test suite configuration; fixtures come from creditfactory.testing.pytest_plugin (pytest11)."""

import os

# The host's tests never load whatever plugins happen to be installed.
os.environ.setdefault("CREDITFACTORY_DISABLE_PLUGINS", "1")
