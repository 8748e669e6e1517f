"""Sessions: each bound to exactly one tenant (or to the shared schema) for its whole life."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from .base import TENANT_SCHEMA_PLACEHOLDER
from .context import CurrentTenant, NoTenantBound, SystemContext, TenantRef
from .engines import autocommit_engine, engine_for


class TenantSession(Session):
    """A Session whose tenant tables resolve to one tenant's schema, guarded by ``SET LOCAL search_path``."""

    tenant: TenantRef


@event.listens_for(TenantSession, "after_begin")
def _guard_search_path(session: TenantSession, transaction, connection: Connection) -> None:
    # SET LOCAL dies with the transaction, so nothing leaks to the next user of the pooled connection;
    # raw SQL in this transaction sees this tenant's schema and nothing else.
    connection.exec_driver_sql(f'SET LOCAL search_path TO "{session.tenant.schema}"')


def tenant_bind(tenant: TenantRef, bind: Engine | Connection | None = None) -> Engine | Connection:
    target = bind if bind is not None else engine_for(tenant.cluster)
    return target.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: tenant.schema})


def tenant_session(tenant: TenantRef | None = None, *, bind: Engine | Connection | None = None) -> TenantSession:
    """A session for ``tenant`` (default: the CurrentTenant). ``bind`` joins an outer connection (tests)."""
    tenant = tenant or CurrentTenant.get()
    session = TenantSession(
        bind=tenant_bind(tenant, bind),
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    session.tenant = tenant
    session.info["tenant"] = tenant
    return session


def shared_session(*, bind: Engine | Connection | None = None) -> Session:
    """A session on the main database for ``cf_shared`` tables only; tenant tables fail to resolve in it."""
    return Session(bind=bind if bind is not None else engine_for("default"), expire_on_commit=False,
                   join_transaction_mode="create_savepoint")


def shared_reader() -> Session:
    """A session on the main database that reads ``cf_shared`` outside any transaction (autocommit).

    For the lookups made on every request (the bearer token, the roles of its user): a read costs one round
    trip instead of three (BEGIN, SELECT, ROLLBACK), and no ROLLBACK is sent, after which psycopg would drop
    every statement it has prepared on the pooled connection. Never write through it: each statement would
    commit on its own.
    """
    return Session(bind=autocommit_engine(), expire_on_commit=False)


def reaches_shared(session: Session) -> bool:
    """Whether ``session`` is a tenant session whose connection also reaches ``cf_shared`` (its tenant lives on
    the default cluster, where the head-office schema is)."""
    tenant = session.info.get("tenant")
    return tenant is not None and tenant.cluster == "default"


@contextmanager
def shared_reads(session: Session) -> Iterator[Session]:
    """Where work in a tenant ``session`` reads ``cf_shared``: over ``session`` itself when its tenant lives on the
    default cluster (the head-office tables are schema-qualified, so one connection serves both and a request needs
    no second one), else through a :func:`shared_reader` (the head-office schema lives on the default cluster only).
    """
    if reaches_shared(session):
        yield session
        return
    with shared_reader() as shared:
        yield shared


def session() -> Session:
    """The session the current context is entitled to: its tenant's, or the shared one in a SystemContext."""
    tenant = CurrentTenant.get_or_none()
    if tenant is not None:
        return tenant_session(tenant)
    if SystemContext.active():
        return shared_session()
    raise NoTenantBound("no tenant is bound and no SystemContext is active")
