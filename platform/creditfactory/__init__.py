"""Credit Factory: the multi-tenant micro-credit factory platform.

Plugins mark their hook implementations with :data:`hookimpl` (see docs/plugins.md)::

    from creditfactory import hookimpl

    @hookimpl
    def register_industry_profiles(config): ...
"""

import pluggy

__version__ = "0.1.0"

#: Marks a plugin's function as the implementation of the hook of the same name (creditfactory.plugins.hookspecs).
hookimpl = pluggy.HookimplMarker("creditfactory")
