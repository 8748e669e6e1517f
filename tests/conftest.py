"""Core test suite configuration; fixtures come from creditfactory.testing.pytest_plugin (pytest11)."""

import os

import pytest

# The host's tests never load whatever plugins happen to be installed.
os.environ.setdefault("CREDITFACTORY_DISABLE_PLUGINS", "1")


@pytest.fixture(autouse=True)
def audit_actor(request):
    """Audited changes made by a test are attributed to it (``test:<name>``), as a command's are to its user.

    tests/test_audit.py checks the refusal of unattributed changes in an empty context of its own.
    """
    from creditfactory.audit import Actor, ActorKind, CurrentActor

    with CurrentActor.bind(Actor(id=f"test:{request.node.name}", kind=ActorKind.SYSTEM)) as actor:
        yield actor
