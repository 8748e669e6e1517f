"""Tenant lifecycle: provision, update, suspend, resume, offboard (export, then drop after retention)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import settings as settings_module
from ..audit import CurrentActor, record
from ..db import engine_for, shared_session
from ..db.context import TenantRef
from .models import Tenant, TenantMigration, TenantStatus
from . import spares
from .registry import directory
from .schema import create_tenant_schema, head, quote_schema, schema_name, validate_slug

log = logging.getLogger(__name__)


class TenantError(ValueError):
    """A lifecycle operation that cannot be done as asked; nothing was changed."""


class TenantSpecError(TenantError):
    """A tenant declaration with bad fields; ``errors`` maps each field to its problem."""

    def __init__(self, slug: str, errors: dict[str, str]) -> None:
        self.errors = errors
        detail = "; ".join(f"{key}: {why}" for key, why in errors.items())
        super().__init__(f"tenant {slug!r}: {detail}")


REQUIRED_FIELDS = ("slug", "name_zh", "name_en", "legal_entity_code", "province")
TEXT_FIELDS = REQUIRED_FIELDS + ("city", "county", "cluster", "timezone", "locale", "currency")


@dataclass
class TenantSpec:
    """The declaration of one village bank, as written in ``tenants/<slug>.yaml``."""

    slug: str
    name_zh: str
    name_en: str
    legal_entity_code: str
    province: str
    city: str = ""
    county: str = ""
    cluster: str = ""
    timezone: str = ""
    locale: str = ""
    currency: str = ""
    business_date: dt.date | None = None
    #: Initial tenant parameters (``tenant_parameter`` rows); later changes are the tenant's own.
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Plugins the bank starts with (name -> configuration); ``tenants apply`` enables any not yet enabled and
    #: leaves later choices (disabling, reconfiguring) to the bank.
    plugins: dict[str, Any] = field(default_factory=dict)

    #: Registry fields ``tenants apply`` keeps in line with the file.
    MANAGED = ("name_zh", "name_en", "legal_entity_code", "province", "city", "county", "timezone", "locale", "currency")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], defaults: dict[str, Any] | None = None) -> "TenantSpec":
        """A validated spec from a file's mapping over ``defaults``; every bad field is named at once."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TenantSpecError(str(data.get("slug", "")), {key: "unknown field" for key in unknown})
        merged = {k: v for k, v in (defaults or {}).items() if k in known and k != "slug"}
        merged.update(data)
        for key in REQUIRED_FIELDS:
            merged.setdefault(key, "")
        return cls(**merged).validated()

    def validated(self) -> "TenantSpec":
        settings = settings_module.get()
        self.cluster = self.cluster or settings.default_cluster
        self.timezone = self.timezone or settings.default_timezone
        self.locale = self.locale or settings.default_locale
        self.currency = self.currency or settings.default_currency
        errors: dict[str, str] = {}
        for key in TEXT_FIELDS:
            setattr(self, key, str(getattr(self, key) or "").strip())
        for key in REQUIRED_FIELDS:
            if not getattr(self, key):
                errors[key] = "required"
        if self.slug:
            try:
                validate_slug(self.slug)
            except ValueError as exc:
                errors["slug"] = str(exc)
        if len(self.legal_entity_code) > 40:
            errors["legal_entity_code"] = "at most 40 characters"
        if self.cluster not in settings.cluster_urls():
            errors["cluster"] = f"unknown database cluster {self.cluster!r}"
        try:
            ZoneInfo(self.timezone)
        except Exception:
            errors["timezone"] = f"unknown time zone {self.timezone!r}"
        if self.locale not in ("zh_Hans_CN", "en"):
            errors["locale"] = "zh_Hans_CN or en"
        if len(self.currency) != 3 or not self.currency.isupper():
            errors["currency"] = "an ISO 4217 code such as CNY"
        if not isinstance(self.plugins, dict) or not all(isinstance(c or {}, dict) for c in self.plugins.values()):
            errors["plugins"] = "a mapping of plugin names to their configuration"
        if isinstance(self.business_date, str):
            try:
                self.business_date = dt.date.fromisoformat(self.business_date)
            except ValueError:
                errors["business_date"] = "YYYY-MM-DD"
        if not isinstance(self.parameters, dict):
            errors["parameters"] = "a mapping of parameter names to values"
        if errors:
            raise TenantSpecError(self.slug, errors)
        return self

    def initial_business_date(self) -> dt.date:
        return self.business_date or dt.datetime.now(ZoneInfo(self.timezone)).date()


def _ref(tenant: Tenant) -> TenantRef:
    return TenantRef(slug=tenant.slug, cluster=tenant.cluster, status=tenant.status, timezone=tenant.timezone,
                     locale=tenant.locale, name_zh=tenant.name_zh, name_en=tenant.name_en)


def get_tenant(session: Session, slug: str) -> Tenant:
    validate_slug(slug)
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise TenantError(f"no tenant {slug!r}")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def _create_plugin_tables(conn, schema: str) -> None:
    """The tables plugins own, in the new bank's schema, in the provisioning transaction (none: no cost)."""
    from ..plugins import get_host
    from ..plugins.migrations import declared, upgrade_schema

    host = get_host()
    if declared(host):
        conn.exec_driver_sql(f"SET LOCAL search_path TO {quote_schema(schema)}")
        upgrade_schema(conn, schema, host)


def provision(spec: TenantSpec, *, metadata: MetaData | None = None) -> TenantRef:
    """Create the registry entry, then schema + create_all + stamp head in one transaction.

    The schema is a spare renamed (``tenancy.spares``) when one built from the same models and head is
    ready, else built in place; either way it appears at once, complete, or not at all.

    A failure leaves no schema behind (DDL is transactional) and the entry ``failed`` with the reason;
    provisioning the same spec again retries. ``metadata`` replaces the tenant models (benchmarks).
    """
    spec.validated()
    # The audit entry is written only once the schema exists: refuse unattributed work before building it.
    CurrentActor.resolve()
    schema = schema_name(spec.slug)
    try:
        with shared_session() as session, session.begin():
            taken = session.scalar(select(Tenant.slug).where(Tenant.legal_entity_code == spec.legal_entity_code,
                                                             Tenant.slug != spec.slug))
            if taken:
                raise TenantError(f"legal_entity_code {spec.legal_entity_code!r} already belongs to tenant {taken!r}")
            tenant = session.scalar(select(Tenant).where(Tenant.slug == spec.slug).with_for_update())
            if tenant is not None and tenant.status not in (TenantStatus.FAILED.value, TenantStatus.PROVISIONING.value):
                raise TenantError(f"tenant {spec.slug!r} already exists ({tenant.status})")
            if tenant is None:
                tenant = Tenant(slug=spec.slug, schema_name=schema, status_reason="", export_path="")
                session.add(tenant)
            _apply_fields(tenant, spec)
            tenant.cluster = spec.cluster
            tenant.business_date = spec.initial_business_date()
            tenant.status = TenantStatus.PROVISIONING.value
            tenant.status_reason = ""
            session.flush()
            tenant_id = tenant.id
    except IntegrityError as exc:  # a concurrent provisioning took the slug or the legal-entity code first
        raise TenantError(f"tenant {spec.slug!r} conflicts with another tenant: {exc.orig}".splitlines()[0]) from exc
    revision = head("tenant")
    try:
        with engine_for(spec.cluster).begin() as conn:
            if not spares.claim(conn, schema, metadata=metadata, revision=revision):
                create_tenant_schema(conn, schema, metadata=metadata, revision=revision)
            _create_plugin_tables(conn, schema)
            if spec.parameters:
                conn.execute(
                    text(f"INSERT INTO {quote_schema(schema)}.tenant_parameter (key, value) VALUES (:key, CAST(:value AS jsonb))"),
                    [{"key": k, "value": json.dumps(v, default=str)} for k, v in spec.parameters.items()],
                )
    except Exception as exc:
        log.exception("provisioning %s failed", spec.slug)
        _set_status(spec.slug, TenantStatus.FAILED, action="tenant.provision_fail",
                    reason=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise TenantError(f"provisioning {spec.slug!r} failed: {exc}".splitlines()[0]) from exc
    with shared_session() as session, session.begin():
        tenant = session.get(Tenant, tenant_id)
        tenant.status = TenantStatus.ACTIVE.value
        session.merge(TenantMigration(tenant_id=tenant_id, revision=revision, last_error="", attempts=0))
        record(session, "tenant.provision", object_type="tenant", object_id=spec.slug,
               after=_fields_of(tenant, PROVISIONED_FIELDS))
        ref = _ref(tenant)
    directory.invalidate(spec.slug)
    return ref


#: What the audit log keeps of a newly provisioned tenant.
PROVISIONED_FIELDS = ("slug", "status", "cluster", "schema_name", "business_date") + TenantSpec.MANAGED


def _fields_of(tenant: Tenant, keys: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {key: getattr(tenant, key) for key in keys}


def _apply_fields(tenant: Tenant, spec: TenantSpec) -> list[str]:
    changed = []
    for key in TenantSpec.MANAGED:
        value = getattr(spec, key)
        if getattr(tenant, key, None) != value:
            setattr(tenant, key, value)
            changed.append(key)
    return changed


def diff(tenant: Tenant, spec: TenantSpec) -> dict[str, tuple[Any, Any]]:
    """Registry fields the spec would change: name -> (current, declared)."""
    spec.validated()
    out = {key: (getattr(tenant, key), getattr(spec, key)) for key in TenantSpec.MANAGED
           if getattr(tenant, key) != getattr(spec, key)}
    if tenant.cluster != spec.cluster:
        out["cluster"] = (tenant.cluster, spec.cluster)
    return out


def update(spec: TenantSpec) -> list[str]:
    """Bring an existing tenant's registry fields in line with its spec; returns the fields changed."""
    spec.validated()
    try:
        with shared_session() as session, session.begin():
            tenant = get_tenant(session, spec.slug)
            if tenant.cluster != spec.cluster:
                raise TenantError(f"tenant {spec.slug!r} lives on cluster {tenant.cluster!r}; "
                                  "moving clusters is not done by apply")
            before = _fields_of(tenant, TenantSpec.MANAGED)
            changed = _apply_fields(tenant, spec)
            if changed:
                record(session, "tenant.update", object_type="tenant", object_id=spec.slug,
                       before={key: before[key] for key in changed}, after=_fields_of(tenant, changed))
    except IntegrityError as exc:  # e.g. a legal-entity code another tenant holds
        raise TenantError(f"tenant {spec.slug!r} conflicts with another tenant: {exc.orig}".splitlines()[0]) from exc
    directory.invalidate(spec.slug)
    return changed


def _set_status(slug: str, status: TenantStatus, *, action: str, reason: str = "",
                allowed_from: tuple[TenantStatus, ...] = (), **values: Any) -> TenantRef:
    """Move the tenant to ``status`` and record ``action`` in the shared audit log, in one transaction."""
    with shared_session() as session, session.begin():
        tenant = session.scalar(select(Tenant).where(Tenant.slug == validate_slug(slug)).with_for_update())
        if tenant is None:
            raise TenantError(f"no tenant {slug!r}")
        if allowed_from and tenant.status not in {s.value for s in allowed_from}:
            raise TenantError(f"tenant {slug!r} is {tenant.status}; cannot become {status.value}")
        audited = ["status", "status_reason", *values]
        before = _fields_of(tenant, audited)
        tenant.status = status.value
        tenant.status_reason = reason
        for key, value in values.items():
            setattr(tenant, key, value)
        record(session, action, object_type="tenant", object_id=slug, before=before,
               after=_fields_of(tenant, audited))
        ref = _ref(tenant)
    directory.invalidate(slug)
    return ref


def suspend(slug: str, reason: str) -> TenantRef:
    """Refuse the tenant's requests and jobs with a clear message; its data is kept."""
    if not reason.strip():
        raise TenantError("a suspension needs a reason")
    return _set_status(slug, TenantStatus.SUSPENDED, action="tenant.suspend", reason=reason,
                       allowed_from=(TenantStatus.ACTIVE, TenantStatus.SUSPENDED))


def resume(slug: str) -> TenantRef:
    return _set_status(slug, TenantStatus.ACTIVE, action="tenant.resume", allowed_from=(TenantStatus.SUSPENDED,))


def offboard(slug: str, reason: str = "offboarded by the head office") -> Path:
    """Stop serving the tenant, export it (the encrypted archive of ``tenants export``, with the platform's archive
    key), and schedule its schema's drop; returns the archive's path."""
    with shared_session() as session:
        status = get_tenant(session, slug).status
    if status not in (TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value):
        raise TenantError(f"tenant {slug!r} is {status}; only active or suspended tenants can be offboarded")
    # Stop traffic first so the export is final, then export, then schedule the drop.
    _set_status(slug, TenantStatus.OFFBOARDING, action="tenant.offboard", reason=reason)
    from .backup import archive_key, export_archive

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = settings_module.get().exports_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    path = export_archive(slug, folder / f"{slug}-{stamp}.cfarchive", archive_key()).path
    retention = dt.timedelta(days=settings_module.get().offboard_retention_days)
    _set_status(slug, TenantStatus.OFFBOARDING, action="tenant.schedule_drop", reason=reason, export_path=str(path),
                drop_after=dt.datetime.now(dt.timezone.utc) + retention)
    return path


def finalize_offboarding(now: dt.datetime | None = None) -> list[str]:
    """Drop the schemas of offboarding tenants whose retention has passed; returns their slugs."""
    now = now or dt.datetime.now(dt.timezone.utc)
    # Each drop is audited after the fact: refuse unattributed work before dropping anything.
    CurrentActor.resolve()
    with shared_session() as session:
        due = [(t.slug, t.cluster, t.schema_name) for t in session.scalars(
            select(Tenant).where(Tenant.status == TenantStatus.OFFBOARDING.value, Tenant.drop_after <= now,
                                 Tenant.export_path != ""))]
    done = []
    for slug, cluster, schema in due:
        with engine_for(cluster).begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quote_schema(schema)} CASCADE")
        _set_status(slug, TenantStatus.OFFBOARDED, action="tenant.finalize", reason="schema dropped after retention",
                    allowed_from=(TenantStatus.OFFBOARDING,))
        done.append(slug)
    return done


def spec_of(tenant: Tenant) -> dict[str, Any]:
    """The registry entry as a plain mapping (CLI ``show``, API)."""
    return {c.name: getattr(tenant, c.name) for c in Tenant.__table__.columns}


__all__ = [
    "TenantError", "TenantSpec", "TenantSpecError", "provision", "update", "suspend", "resume", "offboard",
    "finalize_offboarding", "get_tenant", "list_tenants", "diff", "spec_of",
]
