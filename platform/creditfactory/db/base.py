"""SharedBase (schema ``cf_shared``) and TenantBase (placeholder schema, translated per tenant)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SHARED_SCHEMA = "cf_shared"
#: Schema name every tenant table carries in the metadata; ``schema_translate_map`` turns it into ``t_<slug>``.
TENANT_SCHEMA_PLACEHOLDER = "tenant"

# Deterministic constraint names, so Alembic migrations and create_all agree on every name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class SharedBase(DeclarativeBase):
    """Tables shared by all tenants: registry, head-office data, KPI aggregates."""

    metadata = MetaData(schema=SHARED_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Tables every village bank has in its own schema ``t_<slug>``."""

    metadata = MetaData(schema=TENANT_SCHEMA_PLACEHOLDER, naming_convention=NAMING_CONVENTION)
