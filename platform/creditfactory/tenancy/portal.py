"""Head-office console pages for the village banks (法人机构): the list with each bank's health, provisioning from
a form or a pasted declaration (a job with a progress page), suspend and resume.

Pages need a head-office permission (``permission_required``); the lifecycle services audit every change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select, text

from ..db import engine_for, shared_session
from ..errors import NotFound
from ..identity.permissions import Permission
from ..identity.portal import permission_required
from ..portal.nav import N_, NavLink, register_nav
from ..reporting import tasks
from ..web.errors import abort_problem
from . import console, services
from .models import STATUSES_WITH_SCHEMA, TenantMigration
from .schema import head, quote_schema

blueprint = Blueprint("tenant_console", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/tenancy")

#: Form fields of a declaration, in the form's order (the rest of a spec comes from a pasted YAML).
FORM_FIELDS = ("slug", "name_zh", "name_en", "legal_entity_code", "province", "city", "county", "business_date")
#: A COB older than this (from now) marks the bank's health as late.
COB_LATE_AFTER = dt.timedelta(hours=36)


def _books(tenants) -> dict[str, tuple[dt.date | None, dt.datetime | None]]:
    """Each bank's servicing business date and last finished COB step, one query per database cluster."""
    out: dict[str, tuple[dt.date | None, dt.datetime | None]] = {}
    by_cluster: dict[str, list[Any]] = {}
    for tenant in tenants:
        if tenant.status in {s.value for s in STATUSES_WITH_SCHEMA}:
            by_cluster.setdefault(tenant.cluster, []).append(tenant)
    for cluster, members in by_cluster.items():
        query = " UNION ALL ".join(
            f"SELECT '{t.slug}', (SELECT business_date FROM {quote_schema(t.schema_name)}.cob_state WHERE id = 1), "
            f"(SELECT max(done_at) FROM {quote_schema(t.schema_name)}.cob_step)" for t in members)
        try:
            with engine_for(cluster).connect() as conn:
                out.update({slug: (day, done) for slug, day, done in conn.execute(text(query))})
        except Exception:  # noqa: BLE001 - a cluster that cannot answer shows as unknown, the list still renders
            out.update({t.slug: (None, None) for t in members})
    return out


def _health(tenant, revision: str | None, last_error: str, last_cob: dt.datetime | None, at_head: str) -> str:
    if tenant.status == "failed":
        return N_("failed")
    if tenant.status not in {s.value for s in STATUSES_WITH_SCHEMA}:
        return N_("no schema")
    if last_error:
        return N_("migration error")
    if revision != at_head:
        return N_("schema behind")
    if tenant.status != "active":
        return N_("not serving")
    if last_cob is None:
        return N_("no COB yet")
    if dt.datetime.now(dt.timezone.utc) - last_cob > COB_LATE_AFTER:
        return N_("COB late")
    return N_("ok")


def tenant_rows() -> list[dict[str, Any]]:
    with shared_session() as session:
        tenants = services.list_tenants(session)
        migrations = {m.tenant_id: m for m in session.scalars(select(TenantMigration))}
        for tenant in tenants:
            session.expunge(tenant)
    books = _books(tenants)
    at_head = head("tenant")
    rows = []
    for tenant in tenants:
        migration = migrations.get(tenant.id)
        revision = migration.revision if migration else None
        last_error = migration.last_error if migration else ""
        business_day, last_cob = books.get(tenant.slug, (None, None))
        rows.append({"tenant": tenant, "revision": revision or "—", "business_date": business_day or tenant.business_date,
                     "last_cob": last_cob, "health": _health(tenant, revision, last_error, last_cob, at_head)})
    return rows


@blueprint.get("/head-office/tenants", endpoint="tenants")
@permission_required(Permission.TENANT_READ)
def tenants_page() -> str:
    """Every village bank: status, schema version, business date, last COB and health."""
    return render_template("tenancy/tenants.html", rows=tenant_rows(), done=request.args.get("done", ""))


def _spec_from_form(form) -> dict[str, Any]:
    pasted = form.get("spec", "").strip()
    if pasted:
        try:
            spec = yaml.safe_load(pasted)
        except yaml.YAMLError as exc:
            raise services.TenantSpecError("", {"spec": f"not YAML: {exc}".splitlines()[0]}) from None
        if not isinstance(spec, dict):
            raise services.TenantSpecError("", {"spec": "a mapping of fields, as in tenants/<slug>.yaml"})
        return spec
    return {key: form.get(key, "").strip()[:200] for key in FORM_FIELDS if form.get(key, "").strip()}


@blueprint.route("/head-office/tenants/new", methods=["GET", "POST"], endpoint="new_tenant")
@permission_required(Permission.TENANT_PROVISION)
def new_tenant_page() -> Response | tuple[str, int]:
    """Provision a village bank from the form or a pasted declaration; the work runs as a job."""
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        net_capital = request.form.get("net_capital", "").replace(",", "").strip() or None
        try:
            if net_capital is not None and not net_capital.replace(".", "", 1).isdigit():
                raise services.TenantSpecError("", {"net_capital": gettext("an amount in yuan, e.g. 300000000")})
            task_id = console.queue_provisioning(_spec_from_form(request.form), net_capital)
        except services.TenantSpecError as bad:
            errors = bad.errors
        else:
            return redirect(url_for("tenant_console.provisioning", id=task_id), code=303)
    return render_template("tenancy/new_tenant.html", form=form, errors=errors,
                           fields=FORM_FIELDS), (422 if errors else 200)


@blueprint.get("/head-office/tenants/provisioning", endpoint="provisioning")
@permission_required(Permission.TENANT_PROVISION)
def provisioning_page() -> str:
    """A provisioning's progress (the page reloads itself until it is done), or the latest provisionings."""
    raw = request.args.get("id", "")
    with shared_session() as session:
        if not raw.isdigit():
            return render_template("tenancy/provisioning.html", task=None,
                                   recent=[tasks.as_dict(t) for t in tasks.recent(session, "provision")])
        try:
            task = tasks.as_dict(tasks.get(session, int(raw), "provision"))
        except NotFound as missing:
            abort_problem(404, str(missing))
    return render_template("tenancy/provisioning.html", task=task, recent=[])


@blueprint.post("/head-office/tenants/<slug>/suspension", endpoint="suspend")
@permission_required(Permission.TENANT_SUSPEND)
def suspend(slug: str) -> Response | tuple[str, int]:
    """Suspend a bank (its requests and jobs are refused; data kept), with the reason recorded."""
    try:
        services.suspend(slug, request.form.get("reason", "").strip()[:500])
    except services.TenantError as refused:
        return render_template("tenancy/tenants.html", rows=tenant_rows(), done="", error=str(refused)), 422
    return redirect(url_for("tenant_console.tenants", done=f"suspended:{slug}"), code=303)


@blueprint.post("/head-office/tenants/<slug>/resumption", endpoint="resume")
@permission_required(Permission.TENANT_SUSPEND)
def resume(slug: str) -> Response | tuple[str, int]:
    """Serve a suspended bank again."""
    try:
        services.resume(slug)
    except services.TenantError as refused:
        return render_template("tenancy/tenants.html", rows=tenant_rows(), done="", error=str(refused)), 422
    return redirect(url_for("tenant_console.tenants", done=f"resumed:{slug}"), code=303)


def _template_page(*, published: list[str] | None = None, error: str | None = None, status: int = 200
                   ) -> tuple[str, int]:
    from ..lending.products import declared, services as products
    from ..settings import get

    with shared_session() as session:
        templates = products.list_templates(session)
        try:
            waiting, changed = declared.compare_with_published(session, declared.load_folder(get().tenants_dir))
        except declared.DeclaredProductsError as broken:
            waiting, changed, error = [], [], error or str(broken)
    return render_template("tenancy/templates.html", templates=templates, waiting=waiting, changed=changed,
                           published=published, error=error), status


@blueprint.get("/head-office/templates", endpoint="templates")
@permission_required(Permission.PRODUCT_TEMPLATE_MANAGE)
def templates_page() -> tuple[str, int]:
    """The head office's standard product templates: every published version, and the files in
    ``tenants/_standard/products`` waiting to be published."""
    return _template_page(published=[v for v in request.args.getlist("published") if v][:50])


@blueprint.post("/head-office/templates/publication", endpoint="publish_templates")
@permission_required(Permission.PRODUCT_TEMPLATE_MANAGE)
def publish_templates() -> Response | tuple[str, int]:
    """Publish every waiting template file (versions are immutable; banks adopt them through maker-checker)."""
    from ..errors import DomainError
    from ..lending.products import declared
    from ..settings import get

    root = Path(get().tenants_dir)
    try:
        with shared_session() as session, session.begin():
            done = declared.publish_files(session, declared.load_folder(root), root)
    except DomainError as refused:
        return _template_page(error=str(refused), status=getattr(refused, "status", 422))
    return redirect(url_for("tenant_console.templates", published=[f"{t.code} v{t.version}" for t in done]),
                    code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("tenant_console.tenants", N_("Village banks"), Permission.TENANT_READ, order=600))
    register_nav(NavLink("tenant_console.new_tenant", N_("New village bank"), Permission.TENANT_PROVISION, order=601))
    register_nav(NavLink("tenant_console.templates", N_("Product templates"), Permission.PRODUCT_TEMPLATE_MANAGE,
                         order=602))
