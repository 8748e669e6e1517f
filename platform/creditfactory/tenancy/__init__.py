"""Tenancy: the registry of village banks, provisioning, routing and the migration orchestrator."""
