"""Refreshing KPI snapshots (tenant schema → ``cf_shared`` aggregates) and each tenant's capital and limits."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .. import audit
from ..db import TenantRef, shared_session, tenant_session
from ..errors import DomainError, NotFound
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal
from ..lending.cob.dates import business_date
from . import kpis, regulatory
from .models import KpiSnapshot, TenantCapital

_UPSERT = text("""
    INSERT INTO cf_shared.kpi_snapshot (tenant_slug, period_kind, period_start, as_of, metric, value, computed_at)
    SELECT :slug, :kind, :period_start, :as_of, m.metric, m.value, now()
    FROM unnest(CAST(:metrics AS text[]), CAST(:values AS numeric[])) AS m(metric, value)
    ON CONFLICT (tenant_slug, period_kind, period_start, metric)
    DO UPDATE SET value = excluded.value, as_of = excluded.as_of, computed_at = excluded.computed_at
""")


def refresh_tenant(tenant: TenantRef, *, as_of: dt.date | None = None, bind=None) -> dict[str, Any]:
    """Compute the day and month KPI snapshots and the regulator document of ``tenant`` as of ``as_of`` (default:
    its business date) and store them in ``cf_shared`` (idempotent: a re-run overwrites the same rows)."""
    with shared_session(bind=bind) as shared, shared.begin():
        capital = capital_of(shared, tenant.slug)
    with tenant_session(tenant, bind=bind) as session, session.begin():
        day = as_of or business_date(session)
        figures: dict[str, Any] = {}
        for kind, start in (("day", day), ("month", day.replace(day=1))):
            window = kpis.period_window(kind, start, day)
            figures[kind] = kpis.compute(session, start=window[0], end=window[1], timezone=tenant.timezone)
        document = regulatory.compute(session, capital)
    with shared_session(bind=bind) as shared, shared.begin():
        shared.execute(text("""
            INSERT INTO cf_shared.regulatory_snapshot (tenant_slug, as_of, document, computed_at)
            VALUES (:slug, :as_of, CAST(:document AS jsonb), now())
            ON CONFLICT (tenant_slug, as_of) DO UPDATE SET document = excluded.document,
                                                        computed_at = excluded.computed_at"""),
            {"slug": tenant.slug, "as_of": day, "document": json.dumps(document)})
        for kind, start in (("day", day), ("month", day.replace(day=1))):
            values = figures[kind]
            shared.execute(_UPSERT, {"slug": tenant.slug, "kind": kind, "period_start": start, "as_of": day,
                                     "metrics": list(values), "values": [values[m] for m in values]})
    return {"as_of": day, **figures, "regulatory": document}


def refresh_all(*, as_of: dt.date | None = None, progress=None) -> list[str]:
    """Refresh every active tenant in turn (the CLI and the benchmark; the scheduler sends one job per tenant)."""
    from ..tenancy.registry import directory

    with shared_session() as shared, shared.begin():
        slugs = shared.execute(text("SELECT slug FROM cf_shared.tenant WHERE status = 'active' ORDER BY slug")).scalars().all()
    for i, slug in enumerate(slugs, 1):
        refresh_tenant(directory.get(slug), as_of=as_of)
        if progress is not None:
            progress(i, len(slugs))
    return list(slugs)


def regulatory_report(session: Session, *, as_of: dt.date | None = None,
                      tenants: list[str] | None = None) -> dict[str, Any]:
    """The regulator report from stored snapshots (shared session): for each tenant its latest document on or
    before ``as_of`` (default: the latest), and the consolidated view. Tenants without a document are listed in
    ``missing``. Callers record the read (``record_cross_tenant_read``) before handing it out."""
    known = session.execute(text("SELECT slug FROM cf_shared.tenant WHERE status IN ('active', 'suspended') "
                                 "ORDER BY slug")).scalars().all()
    if tenants:
        unknown = sorted(set(tenants) - set(known))
        if unknown:
            raise NotFound(f"no tenant {', '.join(unknown)}")
        known = [s for s in known if s in set(tenants)]
    found = session.execute(text("""
        SELECT DISTINCT ON (tenant_slug) tenant_slug, as_of, document FROM cf_shared.regulatory_snapshot
        WHERE tenant_slug = ANY(CAST(:slugs AS text[])) AND (CAST(:as_of AS date) IS NULL OR as_of <= :as_of)
        ORDER BY tenant_slug, as_of DESC"""), {"slugs": list(known), "as_of": as_of}).all()
    documents = {slug: document for slug, _, document in found}
    latest_day = max((day for _, day, _ in found), default=None)
    return {
        "as_of": str(as_of or latest_day) if (as_of or latest_day) else None,
        "tenant_dates": {slug: str(day) for slug, day, _ in found},
        "missing": [s for s in known if s not in documents],
        "tenants": documents,
        "consolidated": regulatory.consolidate(documents),
    }


def snapshots(session: Session, *, metric: str | None = None, period_kind: str = "month",
              tenants: list[str] | None = None) -> list[KpiSnapshot]:
    """Stored snapshots (shared session), oldest first."""
    query = select(KpiSnapshot).where(KpiSnapshot.period_kind == period_kind)
    if metric is not None:
        query = query.where(KpiSnapshot.metric == metric)
    if tenants is not None:
        query = query.where(KpiSnapshot.tenant_slug.in_(tenants))
    return list(session.scalars(query.order_by(KpiSnapshot.tenant_slug, KpiSnapshot.period_start, KpiSnapshot.metric)))


def latest(session: Session, *, period_kind: str = "month") -> dict[str, dict[str, Decimal | None]]:
    """Each tenant's latest snapshot of ``period_kind``: {slug: {metric: value}} (one indexed query)."""
    rows = session.execute(text("""
        SELECT s.tenant_slug, s.metric, s.value FROM cf_shared.kpi_snapshot s
        JOIN (SELECT tenant_slug, max(period_start) AS period_start FROM cf_shared.kpi_snapshot
              WHERE period_kind = :kind GROUP BY tenant_slug) m
          ON m.tenant_slug = s.tenant_slug AND m.period_start = s.period_start
        WHERE s.period_kind = :kind"""), {"kind": period_kind})
    out: dict[str, dict[str, Decimal | None]] = {}
    for slug, metric, value in rows:
        out.setdefault(slug, {})[metric] = value
    return out


# --- capital and limits -------------------------------------------------------------------------------------

#: DOMAIN §3.2 defaults for a village bank.
DEFAULT_LIMITS = {
    "single_borrower_limit": Decimal("0.05"),
    "single_group_limit": Decimal("0.10"),
    "npl_ratio_limit": Decimal("0.05"),
    "provision_coverage_min": Decimal("1.50"),
    "loan_provision_ratio_min": Decimal("0.025"),
}
_FIELDS = ("net_capital", *DEFAULT_LIMITS)


class InvalidCapital(DomainError):
    """A net capital or a limit outside its range."""


def capital_of(session: Session, slug: str) -> dict[str, Any]:
    """The tenant's net capital (None when never recorded) and limits (DOMAIN defaults when not recorded)."""
    row = session.get(TenantCapital, slug)
    if row is None:
        return {"tenant": slug, "net_capital": None, **DEFAULT_LIMITS, "recorded": False}
    return {"tenant": slug, "recorded": True, **{f: getattr(row, f) for f in _FIELDS}}


def set_capital(session: Session, slug: str, *, net_capital: Decimal, **limits: Decimal) -> TenantCapital:
    """Record a tenant's net capital and (optionally) its limits, audited with before/after (shared session)."""
    # Capital is part of a village bank's registration, kept by the head office that provisions banks.
    authorize(Permission.TENANT_PROVISION, allow_system=True)
    unknown = set(limits) - set(DEFAULT_LIMITS)
    if unknown:
        raise InvalidCapital(f"unknown limits: {', '.join(sorted(unknown))}")
    if session.execute(text("SELECT 1 FROM cf_shared.tenant WHERE slug = :s"), {"s": slug}).first() is None:
        raise NotFound(f"no tenant {slug}")
    net_capital = Decimal(str(net_capital)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if net_capital < 0:
        raise InvalidCapital("net capital must not be negative")
    for name, value in limits.items():
        value = Decimal(str(value))
        if not Decimal(0) < value <= Decimal(10):
            raise InvalidCapital(f"{name} must be a positive ratio")
        limits[name] = value
    row = session.get(TenantCapital, slug, with_for_update=True)
    before = None if row is None else {f: getattr(row, f) for f in _FIELDS}
    if row is None:
        row = TenantCapital(tenant_slug=slug, net_capital=net_capital, **DEFAULT_LIMITS)
        session.add(row)
    row.net_capital = net_capital
    for name, value in limits.items():
        setattr(row, name, value)
    principal = CurrentPrincipal.get_or_none()
    row.updated_by = principal.username if principal is not None else "system"
    session.flush()
    audit.record(session, "tenant.capital", object_type="tenant", object_id=slug, before=before,
                 after={f: getattr(row, f) for f in _FIELDS})
    return row


# --- reads across banks (authorized and audited here, below the web layer) ------------------------------------

def pull_regulatory_report(session: Session, *, as_of: dt.date | None = None, tenants: list[str] | None = None,
                           fmt: str = "json") -> dict[str, Any]:
    """The regulator report for a regulator principal, recorded in the shared audit log (who, which banks, as of
    when, which format) before it is returned."""
    from ..audit.reads import record_cross_tenant_read

    authorize(Permission.REPORT_REGULATORY_READ)
    report = regulatory_report(session, as_of=as_of, tenants=tenants)
    record_cross_tenant_read("report.regulatory", list(report["tenants"]) + report["missing"],
                             {"as_of": report["as_of"], "format": fmt, "requested_tenants": tenants or "all"})
    return report


def benchmark(session: Session, *, period_kind: str = "month") -> dict[str, Any]:
    """Every tenant's latest KPI snapshot with the case's reference lines, for the head office (audited read)."""
    from ..audit.reads import record_cross_tenant_read

    authorize(Permission.BENCHMARK_READ)
    if period_kind not in ("day", "month"):
        raise DomainError("period must be day or month")
    figures = latest(session, period_kind=period_kind)
    record_cross_tenant_read("kpi.benchmark", list(figures), {"period": period_kind})
    return {
        "period": period_kind,
        "metrics": list(kpis.METRICS),
        "references": {m: [{"label": r.label, "value": r.value} for r in refs] for m, refs in kpis.REFERENCES.items()},
        "tenants": [{"tenant": slug, "values": values} for slug, values in sorted(figures.items())],
    }


# --- large reports: built by a job, with progress (reporting.tasks) --------------------------------------------

def report_is_large(session: Session, tenants: list[str] | None) -> bool:
    """Whether a report over ``tenants`` (None: every bank) goes to a job: the number of banks it names
    reaches ``report_async_min_tenants``."""
    from .. import settings as settings_module

    threshold = settings_module.get().report_async_min_tenants
    if tenants:
        return len(set(tenants)) >= threshold
    count = session.execute(text("SELECT count(*) FROM cf_shared.tenant WHERE status IN ('active', 'suspended')"))
    return count.scalar() >= threshold


def request_regulatory_report(*, as_of: dt.date | None = None, tenants: list[str] | None = None,
                              fmt: str = "json") -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The regulator report now ``(report, None)``, or for a large request a queued task ``(None, task)`` whose
    job builds the file. Either way the read is authorized and recorded here, before anything is handed out;
    fetching the finished file (``report_task_file``) is recorded again."""
    from ..audit.reads import record_cross_tenant_read
    from ..db import SystemContext
    from . import jobs, tasks

    authorize(Permission.REPORT_REGULATORY_READ)
    with shared_session() as session, session.begin():
        if not report_is_large(session, tenants):
            return pull_regulatory_report(session, as_of=as_of, tenants=tenants, fmt=fmt), None
        # Unknown banks are refused now, not after a wait (and nothing is queued).
        known = regulatory_report(session, as_of=as_of, tenants=tenants)
        banks = list(known["tenants"]) + known["missing"]
        record_cross_tenant_read("report.regulatory", banks, {"as_of": known["as_of"], "format": fmt,
                                                              "requested_tenants": tenants or "all",
                                                              "asynchronous": True})
        task = tasks.create(session, "regulatory_report", {"as_of": as_of and as_of.isoformat(),
                                                           "tenants": tenants, "format": fmt,
                                                           "banks": banks}, steps=3)
        summary = tasks.as_dict(task)
    with SystemContext(f"regulatory report task {summary['id']} for {summary['parameters']}"):
        jobs.generate_regulatory_report.send(summary["id"])
    return None, summary


def build_report_file(task_id: int) -> None:
    """The job's work: read the snapshots, render the file, keep it in the file store (idempotent: the store is
    content-addressed and the task row is overwritten)."""
    from ..files.store import file_store
    from ..portal.nav import N_
    from . import tasks
    from .models import ConsoleTask

    with shared_session() as session:
        parameters = dict(session.get(ConsoleTask, task_id).parameters)
    tasks.advance(task_id, 1, N_("Reading the stored snapshots."))
    as_of = dt.date.fromisoformat(parameters["as_of"]) if parameters.get("as_of") else None
    with shared_session() as session:
        report = regulatory_report(session, as_of=as_of, tenants=parameters.get("tenants"))
    fmt = parameters["format"]
    tasks.advance(task_id, 2, N_("Writing %(banks)s bank(s) as %(format)s."),
                  args={"banks": len(report["tenants"]), "format": fmt.upper()})
    body = render(report, fmt)
    stored = file_store().put(tasks.FILE_PREFIX, body)
    tasks.advance(task_id, 3, N_("The file is ready."), status="done", result_key=stored.key,
                  result_name=f"regulatory-report-{report['as_of'] or 'none'}.{fmt}")


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "csv":
        return regulatory.to_csv(report)
    if fmt == "xlsx":
        return regulatory.to_xlsx(report)
    return json.dumps(report, default=str, ensure_ascii=False).encode()


def report_task_file(session: Session, task_id: int) -> tuple[bytes, str, str]:
    """The finished file of the current principal's report task: (bytes, download name, format); the handing out
    is recorded like any pull."""
    from ..audit.reads import record_cross_tenant_read
    from ..errors import Conflict
    from ..files.store import file_store
    from . import tasks

    task = tasks.get(session, task_id, "regulatory_report")
    if task.status != "done":
        raise Conflict(f"report task {task_id} is {task.status}; its file is not ready")
    record_cross_tenant_read("report.regulatory", task.parameters["banks"],
                             {"as_of": task.parameters.get("as_of"), "format": task.parameters["format"],
                              "task": task_id})
    return file_store().get(task.result_key), task.result_name, task.parameters["format"]


def benchmark_trends(session: Session, *, metric: str | None = None, tenant: str | None = None,
                     period_kind: str = "day") -> dict[str, dict[str, list[tuple[dt.date, Decimal | None]]]]:
    """Stored snapshots as series, {slug: {metric: [(period start, value), ...]}}, for the console's trend charts
    (head office; audited read)."""
    from ..audit.reads import record_cross_tenant_read

    authorize(Permission.BENCHMARK_READ)
    if period_kind not in ("day", "month"):
        raise DomainError("period must be day or month")
    if metric is not None and metric not in kpis.METRICS:
        raise NotFound(f"no KPI {metric}")
    out: dict[str, dict[str, list[tuple[dt.date, Decimal | None]]]] = {}
    for row in snapshots(session, metric=metric, period_kind=period_kind,
                         tenants=[tenant] if tenant is not None else None):
        out.setdefault(row.tenant_slug, {}).setdefault(row.metric, []).append((row.period_start, row.value))
    record_cross_tenant_read("kpi.benchmark", list(out) or ([tenant] if tenant else []),
                             {"period": period_kind, "metric": metric or "all", "trend": True})
    return out
