"""Core test suite configuration; fixtures come from creditfactory.testing.pytest_plugin (pytest11)."""

import pytest

#: The plugins the demo banks' files start (tenants/*.yaml).
DEMO_PLUGINS = ("yunnan_agri", "henan_grain", "hubei_aquaculture")


@pytest.fixture(autouse=True)
def audit_actor(request):
    """Audited changes made by a test are attributed to it (``test:<name>``), as a command's are to its user.

    tests/test_audit.py checks the refusal of unattributed changes in an empty context of its own.
    """
    from creditfactory.audit import Actor, ActorKind, CurrentActor

    with CurrentActor.bind(Actor(id=f"test:{request.node.name}", kind=ActorKind.SYSTEM)) as actor:
        yield actor


@pytest.fixture
def demo_plugins(plugin_host):
    """The demo banks' regional plugins, registered explicitly (the platform's tests never load whatever happens to
    be installed): the first-party distributions in plugins/, which the README's install command installs."""
    import importlib

    for name in DEMO_PLUGINS:
        plugin_host.register(importlib.import_module(f"creditfactory_plugin_{name}"), name)
    return plugin_host
