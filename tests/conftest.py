"""Core test suite configuration; fixtures come from creditfactory.testing.pytest_plugin (pytest11)."""

import types

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
    """Stand-ins named like the demo banks' regional plugins, so applying tenants/ needs none installed (the
    platform's tests never load installed plugins; the real ones are tested in plugins/)."""
    for name in DEMO_PLUGINS:
        plugin_host.register(types.ModuleType(name), name)
    return plugin_host
