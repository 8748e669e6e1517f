"""Shared web plumbing: the REST API base classes, the one error format, request ids, logs, health."""
