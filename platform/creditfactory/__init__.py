"""Credit Factory: the multi-tenant micro-credit factory platform."""

__version__ = "0.1.0"
