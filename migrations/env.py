"""Alembic environment. The orchestrator (creditfactory.tenancy.migrations) is the normal entry point."""

from alembic import context

from creditfactory.tenancy.migrations import run_from_alembic_env

run_from_alembic_env(context)
