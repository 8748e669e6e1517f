"""Decision-table pages (风控规则): rule sets in force, the grid editor of a tenant overlay draft, validation at the
cell, diff, simulation, maker-checker publication; a stored decision's explanation with the human override; the
head office's standard versions.

The grid is a plain HTML form: every edit (a cell, a new row, a removed row, disabling an optional row) posts the
whole grid back, so the page works without JavaScript and the overlay is rebuilt from what the user sees. What an
overlay may do is enforced by the services (``overlay.apply_overlay``); the page only offers it: standard rows'
outputs and locked rows are read-only, only optional rows can be disabled, added rows are fully editable.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import CurrentActor
from ..db import shared_session, tenant_session
from ..errors import DomainError, NotFound
from ..identity import changes
from ..identity.authorization import authorize
from ..identity.errors import AccessDenied
from ..identity.permissions import Permission
from ..identity.portal import permission_required
from ..identity.principal import CurrentPrincipal
from ..portal.account import login_required
from ..portal.i18n import current_language
from ..portal.nav import N_, NavLink, register_nav
from . import services, simulation as simulations
from .engine import RuleSet
from .facts import CATALOGUE
from .models import RuleSetOverlayVersion, StandardRuleSetVersion
from .overlay import apply_overlay, diff

blueprint = Blueprint("decision_pages", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/decisions")

STAGE_LABELS = {"admission": N_("Admission"), "pre_approval": N_("Pre-approval"), "approval": N_("Approval")}
STATUS_LABELS = {"draft": N_("Draft"), "pending": N_("Awaiting approval"), "published": N_("Published")}
OUTCOME_LABELS = {"pass": N_("Pass"), "approve": N_("Approve"), "refer": N_("Refer"), "decline": N_("Decline")}
CHANGE_LABELS = {"added": N_("Added"), "disabled": N_("Disabled"), "tightened": N_("Tightened"),
                 "removed": N_("Removed"), "enabled": N_("Enabled again"), "changed": N_("Changed")}
#: Actions a row may output, in the order the grid's select lists them.
ACTIONS = ("decline", "refer", "approve")


# --- the grid ------------------------------------------------------------------------------------------------------

@dataclass
class GridRow:
    id: str
    cells: dict[str, str]
    outputs: dict[str, str]
    #: From the head office's standard (else added by this overlay).
    standard: bool
    optional: bool = False
    locked: bool = False
    disabled: bool = False
    description: str = ""
    #: For ``priority`` tables: the matching row with the highest priority wins.
    priority: int = 0
    #: Columns whose cell this overlay changed from the standard's.
    changed: set[str] = field(default_factory=set)
    #: Standard rows whose thresholds may be tightened: not locked, and with a direction (decline/refer/approve).
    editable: bool = False


@dataclass
class Grid:
    id: str
    name: str
    hit_policy: str
    inputs: list[dict[str, str]]
    outputs: list[dict[str, str]]
    rows: list[GridRow]


def _unquote(text: Any) -> str:
    return str(text or "").strip().strip("'\"")


def _column(column) -> dict[str, str]:
    fact = CATALOGUE.get(column.field)
    label = ""
    if fact is not None:
        label = fact.label_zh if current_language() == "zh" else fact.label_en
    return {"id": column.id, "field": column.field, "label": label,
            "type": fact.type.value if fact is not None else "", "unit": fact.unit if fact is not None else ""}


def _count(text: str) -> int:
    """The number of added rows the form says it holds (a tampered field counts none, never a server error)."""
    return min(int(text), 1000) if text.strip().isdigit() else 0


def _author(shared: Session, created_by: str) -> str:
    """Who saved a version: the person's name where the audit actor is a user id, else the actor as recorded."""
    from ..identity.models import User

    user = shared.get(User, int(created_by)) if created_by.isdigit() else None
    return f"{user.display_name} ({user.username})" if user is not None else created_by


def build_grids(standard: RuleSet, overlay: dict[str, Any]) -> list[Grid]:
    """The standard's tables with the overlay shown on them, without checking it (so a refused overlay still
    renders, its errors beside the cells)."""
    tighten = overlay.get("tighten", {})
    disabled = set(overlay.get("disable", []))
    grids = []
    for table in standard.tables:
        rows = []
        for row in table.rows:
            cells = dict(row.cells)
            changed = set()
            for column_id, text in tighten.get(row.id, {}).items():
                if cells.get(column_id, "") != text:
                    cells[column_id] = text
                    changed.add(column_id)
            action = _unquote(row.outputs.get("action", ""))
            rows.append(GridRow(row.id, cells, dict(row.outputs), True, row.optional, row.locked,
                                row.id in disabled, row.description, row.priority, changed,
                                editable=not row.locked and action in ACTIONS))
        for data in overlay.get("add_rows", {}).get(table.id, []):
            rows.append(GridRow(str(data.get("id", "")), dict(data.get("cells", {})), dict(data.get("outputs", {})),
                                False, description=str(data.get("description", "")),
                                priority=int(data.get("priority", 0) or 0)))
        grids.append(Grid(table.id, table.name, table.hit_policy, [_column(c) for c in table.inputs],
                          [_column(c) for c in table.outputs], rows))
    return grids


def overlay_from_form(standard: RuleSet, previous: dict[str, Any], form) -> tuple[dict[str, Any], str | None]:
    """The overlay the posted grid describes, and the grid operation asked for (``add:<table index>``,
    ``remove:<table index>:<new row index>``, or None). Entries the grid does not show (added expression rules,
    added tables, reason texts) are kept from ``previous``."""
    op = form.get("op", "")
    overlay: dict[str, Any] = {k: v for k, v in previous.items()
                               if k in ("add_rules", "add_tables", "reasons") and v}
    tighten: dict[str, dict[str, str]] = {}
    disable = [row_id for row_id in form.getlist("disable")]
    add_rows: dict[str, list[dict[str, Any]]] = {}
    for ti, table in enumerate(standard.tables):
        for ri, row in enumerate(table.rows):
            for ci, column in enumerate(table.inputs):
                name = f"c-{ti}-{ri}-{ci}"
                if name not in form:
                    continue
                text = form.get(name, "").strip()
                if text != row.cells.get(column.id, "").strip():
                    tighten.setdefault(row.id, {})[column.id] = text
        count = _count(form.get(f"n-{ti}-count", ""))
        new_rows = []
        for k in range(count):
            if op == f"remove:{ti}:{k}":
                continue
            cells = {column.id: form.get(f"n-{ti}-{k}-c-{ci}", "").strip() for ci, column in enumerate(table.inputs)}
            outputs = {}
            for oi, column in enumerate(table.outputs):
                text = form.get(f"n-{ti}-{k}-o-{oi}", "").strip()
                if column.id == "action" and text:
                    text = f"'{_unquote(text)}'"
                if text:
                    outputs[column.id] = text
            data: dict[str, Any] = {"id": form.get(f"n-{ti}-{k}-id", "").strip(),
                                    "cells": {c: t for c, t in cells.items() if t}, "outputs": outputs}
            description = form.get(f"n-{ti}-{k}-description", "").strip()
            if description:
                data["description"] = description
            if form.get(f"n-{ti}-{k}-priority", "").strip().lstrip("-").isdigit():
                data["priority"] = int(form.get(f"n-{ti}-{k}-priority"))
            new_rows.append(data)
        if op == f"add:{ti}":
            new_rows.append({"id": "", "cells": {}, "outputs": {}})
        if new_rows:
            add_rows[table.id] = new_rows
    if tighten:
        overlay["tighten"] = tighten
    if disable:
        overlay["disable"] = disable
    if add_rows:
        overlay["add_rows"] = add_rows
    return overlay, (op if op.startswith(("add:", "remove:")) else None)


def standard_from_form(base: RuleSet, form) -> tuple[dict[str, Any], str | None]:
    """The standard rule set the posted grid describes (head office: every row, cell and output editable, rows
    added and removed, ``optional``/``locked`` set), and the grid operation asked for, as ``overlay_from_form``."""
    op = form.get("op", "")
    content = base.as_dict()
    for ti, table in enumerate(base.tables):
        count = _count(form.get(f"n-{ti}-count", ""))
        rows = []
        for k in range(count):
            if op == f"remove:{ti}:{k}":
                continue
            outputs = {}
            for oi, column in enumerate(table.outputs):
                text = form.get(f"n-{ti}-{k}-o-{oi}", "").strip()
                if column.id == "action" and text:
                    text = f"'{_unquote(text)}'"
                if text:
                    outputs[column.id] = text
            cells = {column.id: form.get(f"n-{ti}-{k}-c-{ci}", "").strip() for ci, column in enumerate(table.inputs)}
            row: dict[str, Any] = {"id": form.get(f"n-{ti}-{k}-id", "").strip(),
                                   "cells": {c: t for c, t in cells.items() if t}, "outputs": outputs}
            for flag in ("optional", "locked"):
                if form.get(f"n-{ti}-{k}-{flag}"):
                    row[flag] = True
            description = form.get(f"n-{ti}-{k}-description", "").strip()
            if description:
                row["description"] = description
            if form.get(f"n-{ti}-{k}-priority", "").strip().lstrip("-").isdigit():
                row["priority"] = int(form.get(f"n-{ti}-{k}-priority"))
            rows.append(row)
        if op == f"add:{ti}":
            rows.append({"id": "", "cells": {}, "outputs": {}})
        content["tables"][ti]["rows"] = rows
    return content, (op if op.startswith(("add:", "remove:")) else None)


def as_authored(ruleset: RuleSet) -> list[Grid]:
    """Every row of a standard as an editable row (the head office authors the whole table)."""
    grids = build_grids(ruleset, {})
    for grid in grids:
        for row in grid.rows:
            row.standard = False
    return grids


def check_standard(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors that keep this standard from compiling (none: it would be accepted as a draft)."""
    from .engine import CompiledRuleSet
    from .expressions import RuleSyntaxError

    try:
        CompiledRuleSet(RuleSet.from_dict(content))
    except RuleSyntaxError as exc:
        return [{"message": str(exc), "position": exc.position, "where": exc.where, "text": exc.text}]
    except (DomainError, TypeError, ValueError) as exc:
        return [{"message": str(exc), "position": None, "where": None, "text": None}]
    return []


_WHERE = re.compile(r"table (?P<table>\S+?), row (?P<row>\S+?), (?:column|output) (?P<column>\S+)")
_TIGHTEN = re.compile(r"^(?P<row>[\w.-]+?)\.(?P<column>[\w-]+): ")
_QUOTED = re.compile(r"'([^']+)'")


def place_errors(errors: list[dict[str, Any]], grids: list[Grid]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each validation error at its cell: (row id, column id), (row id, "") for a whole row, ("", "") else."""
    rows = {row.id for grid in grids for row in grid.rows}
    placed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for error in errors:
        key = ("", "")
        where = _WHERE.search(error.get("where") or "")
        tightened = _TIGHTEN.match(error.get("message") or "")
        if where and where["row"] in rows:
            key = (where["row"], where["column"])
        elif tightened and tightened["row"] in rows:
            key = (tightened["row"], tightened["column"])
        else:
            named = [q for q in _QUOTED.findall(error.get("message") or "") if q in rows]
            if named:
                key = (named[0], "")
        placed.setdefault(key, []).append(error)
    return placed


# --- what the pages read -------------------------------------------------------------------------------------------

def _latest_standard(shared: Session, code: str) -> StandardRuleSetVersion:
    standard = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == code,
                                                                  StandardRuleSetVersion.status == "published")
                             .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    if standard is None:
        raise DomainError(gettext("No published standard rule set %(code)s.", code=code))
    return standard


def _published_codes(shared: Session) -> list[tuple[str, str]]:
    """(code, stage) of every published standard rule set."""
    rows = shared.execute(select(StandardRuleSetVersion.code, StandardRuleSetVersion.stage)
                          .where(StandardRuleSetVersion.status == "published").distinct()
                          .order_by(StandardRuleSetVersion.stage, StandardRuleSetVersion.code))
    return [(code, stage) for code, stage in rows]


def compare_with_in_force(session: Session, shared: Session, version: RuleSetOverlayVersion,
                          standard: StandardRuleSetVersion) -> list[dict[str, Any]]:
    """What publishing this draft would change in the rule set in force today (the standard alone when the bank
    has no overlay in force): the engine's diff, plus rows the in-force overlay added that the draft drops and
    rows it disabled that the draft enables again."""
    base = RuleSet.from_dict(standard.content)
    current = services.overlay_in_force(session, version.code, dt.date.today())
    against_overlay = current is not None and current.id != version.id
    before = apply_overlay(base, current.content if against_overlay else None)
    after = apply_overlay(base, version.content)
    changes_ = diff(before, after)
    if against_overlay:
        # Against the bank's own overlay a cell may also go back towards the standard: only "changed" is sure.
        for change in changes_:
            if change["change"] == "tightened":
                change["change"] = "changed"
    after_rows = {r.id: r for t in after.tables for r in t.rows}
    for table in before.tables:
        for row in table.rows:
            if row.id not in after_rows:
                changes_.append({"change": "removed", "kind": "row", "table": table.id, "id": row.id})
            elif not row.enabled and after_rows[row.id].enabled:
                changes_.append({"change": "enabled", "kind": "row", "table": table.id, "id": row.id})
    return changes_


def from_simulation_report(report: dict[str, Any]) -> dict[str, Any]:
    """A run of the simulation service (``simulation_status``) in the shape the page shows."""
    results = report["results"]

    def side(figures: dict[str, Any]) -> dict[str, Any]:
        outcomes = figures["outcomes"]
        return {"approval_rate": figures["approval_rate"], "declined": outcomes.get("decline", 0),
                "referred": outcomes.get("refer", 0), "bad_rate": figures["observed"]["bad_rate"],
                "expected_bad_rate": figures["expected_bad_rate"]}

    swaps = [{"record_id": swap["record_id"], "application_id": swap["application_id"], "before": swap["current"],
              "after": swap["draft"], "direction": direction}
             for direction in ("in", "out") for swap in results[f"swap_{direction}"]["applications"]]
    return {"run_id": report["id"], "status": report["status"], "progress": report["progress"],
            "error": report["error"], "n": results["evaluated"], "current": side(results["current"]),
            "draft": side(results["draft"]), "swaps": swaps, "swap_count": results["changed"],
            "swap_in": results["swap_in"]["count"], "swap_out": results["swap_out"]["count"]}


def _may(permission: Permission) -> bool:
    return CurrentPrincipal.get().has(permission)


def _labels() -> dict[str, Any]:
    return {"stage_labels": STAGE_LABELS, "status_labels": STATUS_LABELS, "outcome_labels": OUTCOME_LABELS,
            "change_labels": CHANGE_LABELS, "actions": ACTIONS}


# --- tenant pages --------------------------------------------------------------------------------------------------

@blueprint.get("/rules", endpoint="index")
@permission_required(Permission.RULESET_READ)
def index() -> str:
    """Per stage, the standard version and the bank's overlay in force; every overlay version; a new draft."""
    today = dt.date.today()
    with tenant_session() as session, shared_session() as shared:
        in_force = services.rule_sets_in_force(session, today, shared)
        overlays = services.list_overlays(session)
        codes = _published_codes(shared)
    return render_template("decisions/index.html", in_force=in_force, overlays=overlays, codes=codes,
                           today=today, may_configure=_may(Permission.RULESET_CONFIGURE),
                           error=request.args.get("error"), **_labels())


@blueprint.post("/rules/drafts", endpoint="new_draft")
@permission_required(Permission.RULESET_CONFIGURE)
def new_draft() -> Response | tuple[str, int]:
    """A new overlay draft, starting from the overlay in force on its date (or from the standard alone)."""
    code = request.form.get("code", "")
    try:
        effective_from = dt.date.fromisoformat(request.form.get("effective_from", ""))
    except ValueError:
        return redirect(url_for("decision_pages.index", error=gettext("Choose the date the rules take effect.")))
    try:
        with tenant_session() as session, session.begin(), shared_session() as shared:
            current = services.overlay_in_force(session, code, effective_from)
            version = services.save_overlay_draft(session, shared, code, dict(current.content) if current else {},
                                                  effective_from)
            version_id = version.id
    except DomainError as exc:
        return redirect(url_for("decision_pages.index", error=str(exc)))
    return redirect(url_for("decision_pages.editor", version_id=version_id))


def _editor(version_id: int, *, overlay: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None,
            notice: str | None = None, simulation: dict[str, Any] | None = None, unsaved: bool = False,
            status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, shared_session() as shared:
        version = services.get_overlay(session, version_id)
        standard = _latest_standard(shared, version.code)
        base = RuleSet.from_dict(standard.content)
        shown = version.content if overlay is None else overlay
        grids = build_grids(base, shown)
        try:
            differences = compare_with_in_force(session, shared, version, standard)
        except DomainError:
            differences = None  # a stored draft always applies; kept for a standard that moved under it
        in_force = services.overlay_in_force(session, version.code, dt.date.today())
        author = _author(shared, version.created_by)
        change = None
        if version.change_request_id is not None:
            from ..identity.models import ChangeRequest

            change = session.get(ChangeRequest, version.change_request_id)
        principal = CurrentPrincipal.get()
        maker = change is not None and change.maker_id == principal.user_id
    placed = place_errors(errors or [], grids)
    return render_template(
        "decisions/editor.html", version=version, standard=standard, grids=grids, errors=placed, author=author,
        error_list=errors or [], notice=notice, simulation=simulation, differences=differences, in_force=in_force,
        change=change, maker=maker, unsaved=unsaved, others=[k for k in ("add_rules", "add_tables", "reasons")
                                                             if shown.get(k)],
        editable=version.status == "draft" and _may(Permission.RULESET_CONFIGURE),
        may_approve=version.status == "pending" and _may(Permission.CONFIG_APPROVE) and not maker,
        **_labels()), status


@blueprint.get("/rules/overlays/<int:version_id>", endpoint="editor")
@login_required
def editor(version_id: int) -> tuple[str, int]:
    """The decision-table grid of one overlay version (editable while it is a draft), its diff against the rule
    set in force, and its publication."""
    notices = {"saved": gettext("Saved."), "proposed": gettext("Publication proposed: a second person approves it."),
               "approved": gettext("Approved: the version is published and takes effect on its date."),
               "rejected": gettext("Rejected: the version is a draft again.")}
    simulation = None
    run_id = request.args.get("simulation", type=int)
    if run_id is not None:
        with tenant_session() as session:
            report = simulations.simulation_status(session, run_id)
        if report["draft_version_id"] == version_id:
            simulation = from_simulation_report(report)
    return _editor(version_id, notice=notices.get(request.args.get("done", "")), simulation=simulation)


@blueprint.post("/rules/overlays/<int:version_id>", endpoint="edit")
@login_required
def edit(version_id: int) -> Response | tuple[str, int]:
    """The grid's buttons: add or remove a row (nothing saved yet), validate, save."""
    with tenant_session() as session, shared_session() as shared:
        version = services.get_overlay(session, version_id)
        base = RuleSet.from_dict(_latest_standard(shared, version.code).content)
        overlay, op = overlay_from_form(base, version.content, request.form)
    if op is not None:
        return _editor(version_id, overlay=overlay, unsaved=True)
    with tenant_session() as session, shared_session() as shared:
        result = services.validate_overlay(session, shared, version.code, overlay)
    if not result["valid"]:
        return _editor(version_id, overlay=overlay, errors=result["errors"], unsaved=True, status=422)
    if request.form.get("op") == "validate":
        return _editor(version_id, overlay=overlay, unsaved=overlay != version.content,
                       notice=gettext("Valid: the standard allows every change."))
    try:
        with tenant_session() as session, session.begin(), shared_session() as shared:
            services.update_overlay_draft(session, shared, version_id, overlay)
    except DomainError as exc:
        return _editor(version_id, overlay=overlay, unsaved=True, status=getattr(exc, "status", 422),
                       errors=[{"message": str(exc), "position": getattr(exc, "position", None),
                                "where": getattr(exc, "where", None), "text": getattr(exc, "text", None)}])
    return redirect(url_for("decision_pages.editor", version_id=version_id, done="saved"))


@blueprint.post("/rules/overlays/<int:version_id>/simulation", endpoint="simulate")
@login_required
def simulate(version_id: int) -> Response | tuple[str, int]:
    """The saved draft against the bank's stored decisions, beside the rule set in force: a simulation job whose
    progress the page follows."""
    from ..jobs.actors import BrokerNotConfigured

    try:
        with tenant_session() as session, session.begin():
            run_id = simulations.start_simulation(session, version_id).id
    except DomainError as exc:
        return _editor(version_id, errors=[{"message": str(exc)}], status=getattr(exc, "status", 422))
    except BrokerNotConfigured:
        # This process has no job broker (a deployment without one): say so on the page, not as a server error.
        return _editor(version_id, errors=[{"message": gettext("Simulations run as jobs, and no job broker is "
                                                               "configured here.")}], status=503)
    return redirect(url_for("decision_pages.editor", version_id=version_id, simulation=run_id))


@blueprint.post("/rules/overlays/<int:version_id>/publication", endpoint="propose")
@login_required
def propose(version_id: int) -> Response | tuple[str, int]:
    """Propose publishing the saved draft; a second person approves it (here or on the approvals page)."""
    try:
        with tenant_session() as session, session.begin():
            services.propose_overlay_publication(session, version_id)
    except DomainError as exc:
        return _editor(version_id, errors=[{"message": str(exc)}], status=getattr(exc, "status", 422))
    return redirect(url_for("decision_pages.editor", version_id=version_id, done="proposed"))


@blueprint.post("/rules/overlays/<int:version_id>/decision", endpoint="decide")
@permission_required(Permission.CONFIG_APPROVE)
def decide(version_id: int) -> Response | tuple[str, int]:
    """The checker approves (publishes) or rejects a pending version; never the person who proposed it."""
    decision = request.form.get("decision")
    try:
        with tenant_session() as session, session.begin():
            version = services.get_overlay(session, version_id)
            if version.status != "pending" or version.change_request_id is None:
                raise DomainError(gettext("This version is not awaiting approval."))
            if decision == "approve":
                changes.approve(session, version.change_request_id)
            else:
                changes.reject(session, version.change_request_id, request.form.get("reason", "")[:2000])
    except DomainError as exc:
        return _editor(version_id, errors=[{"message": str(exc)}], status=getattr(exc, "status", 422))
    except AccessDenied as exc:
        return _editor(version_id, errors=[{"message": str(exc)}], status=403)
    return redirect(url_for("decision_pages.editor", version_id=version_id,
                            done="approved" if decision == "approve" else "rejected"))


# --- a stored decision ---------------------------------------------------------------------------------------------

@blueprint.get("/rules/decisions/<int:record_id>", endpoint="decision")
@login_required
def decision(record_id: int) -> tuple[str, int]:
    """Why (PIPL art. 24): outcome, reasons in Chinese and English, fired rules with the values they read, and
    the human override."""
    return _decision(record_id)


def _decision(record_id: int, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with tenant_session() as session, shared_session() as shared:
        staff = {lang: services.explain_decision(session, record_id, lang, "staff", shared=shared)
                 for lang in ("zh", "en")}
        customer = {lang: services.explain_decision(session, record_id, lang, "customer", shared=shared)
                    for lang in ("zh", "en")}
        record = services.get_decision(session, record_id)
        overridden_by = None
        if record.overridden_by is not None:
            from ..identity.models import User

            with shared_session() as users:
                user = users.get(User, record.overridden_by)
                overridden_by = user.display_name if user is not None else str(record.overridden_by)
    language = current_language()
    return render_template("decisions/decision.html", record=record, explanation=staff[language], staff=staff,
                           customer=customer, overridden_by=overridden_by, error=error,
                           may_override=_may(Permission.APPLICATION_APPROVE) and record.override_outcome is None,
                           done=request.args.get("done"), **_labels()), status


@blueprint.post("/rules/decisions/<int:record_id>/override", endpoint="override")
@login_required
def override(record_id: int) -> Response | tuple[str, int]:
    """A person replaces the automated outcome with a justification (audited)."""
    try:
        with tenant_session() as session, session.begin():
            services.override_decision(session, record_id, request.form.get("outcome", ""),
                                       request.form.get("justification", ""))
    except ValueError:
        return _decision(record_id, error=gettext("Choose an outcome."), status=422)
    except DomainError as exc:
        return _decision(record_id, error=str(exc), status=getattr(exc, "status", 422))
    return redirect(url_for("decision_pages.decision", record_id=record_id, done="overridden"))


# --- head office ---------------------------------------------------------------------------------------------------

@blueprint.get("/head-office/rules", endpoint="standards")
@permission_required(Permission.RULESET_TEMPLATE_MANAGE)
def standards() -> str:
    """Every version of every standard rule set; a draft is published by someone other than its author."""
    with shared_session() as shared:
        versions = services.list_standards(shared)
    return render_template("decisions/standards.html", versions=versions, me=CurrentActor.resolve().id,
                           error=request.args.get("error"), done=request.args.get("done"), **_labels())


def _standard_page(version_id: int, *, content: dict[str, Any] | None = None,
                   errors: list[dict[str, Any]] | None = None, notice: str | None = None, editing: bool = False,
                   effective_from: str | None = None, status: int = 200) -> tuple[str, int]:
    authorize(Permission.RULESET_TEMPLATE_MANAGE)
    with shared_session() as shared:
        version = shared.get(StandardRuleSetVersion, version_id)
        if version is None:
            raise NotFound(gettext("No standard rule-set version %(id)s.", id=version_id))
        shown = RuleSet.from_dict(content if content is not None else version.content)
        grids = as_authored(shown) if editing else build_grids(shown, {})
        author = _author(shared, version.created_by)
        changes_ = None
        if content is not None:
            before = RuleSet.from_dict(version.content)
            after_rows = {r.id for t in shown.tables for r in t.rows}
            changes_ = [d for d in diff(before, shown) if d["change"] != "tightened"] + [
                {"change": "removed", "kind": "row", "table": t.id, "id": r.id}
                for t in before.tables for r in t.rows if r.id not in after_rows]
            before_cells = {r.id: r for t in before.tables for r in t.rows}
            for table in shown.tables:
                for row in table.rows:
                    old = before_cells.get(row.id)
                    if old is None:
                        continue
                    for column in table.inputs:
                        if old.cells.get(column.id, "") != row.cells.get(column.id, ""):
                            changes_.append({"change": "changed", "kind": "cell", "table": table.id, "id": row.id,
                                             "column": column.id, "before": old.cells.get(column.id, ""),
                                             "after": row.cells.get(column.id, "")})
    placed = place_errors(errors or [], grids)
    return render_template("decisions/standard.html", version=version, grids=grids, errors=placed, author=author,
                           error_list=errors or [], notice=notice, editing=editing, differences=changes_,
                           effective_from=effective_from or dt.date.today().isoformat(), **_labels()), status


@blueprint.get("/head-office/rules/<int:version_id>", endpoint="standard")
@login_required
def standard(version_id: int) -> tuple[str, int]:
    """One standard version as decision tables; ``?edit=1``: the grid editor of a new draft based on it."""
    notice = gettext("Saved as a new draft; another person publishes it.") if request.args.get("done") else None
    return _standard_page(version_id, editing=bool(request.args.get("edit")), notice=notice)


@blueprint.post("/head-office/rules/<int:version_id>", endpoint="edit_standard")
@permission_required(Permission.RULESET_TEMPLATE_MANAGE)
def edit_standard(version_id: int) -> Response | tuple[str, int]:
    """The head office's grid: add or remove a row, validate, or save as a new draft version of the standard."""
    with shared_session() as shared:
        version = shared.get(StandardRuleSetVersion, version_id)
        if version is None:
            raise NotFound(gettext("No standard rule-set version %(id)s.", id=version_id))
        content, op = standard_from_form(RuleSet.from_dict(version.content), request.form)
    effective_from = request.form.get("effective_from", "")
    page = {"content": content, "editing": True, "effective_from": effective_from}
    if op is not None:
        return _standard_page(version_id, **page)
    errors = check_standard(content)
    if errors:
        return _standard_page(version_id, errors=errors, status=422, **page)
    if request.form.get("op") == "validate":
        return _standard_page(version_id, notice=gettext("Valid: the rule set compiles."), **page)
    try:
        day = dt.date.fromisoformat(effective_from)
    except ValueError:
        return _standard_page(version_id, errors=[{"message": gettext("Choose the date the rules take effect.")}],
                              status=422, **page)
    try:
        with shared_session() as shared, shared.begin():
            new_id = services.save_standard_draft(shared, content, day).id
    except DomainError as exc:
        return _standard_page(version_id, errors=[{"message": str(exc)}], status=getattr(exc, "status", 422), **page)
    return redirect(url_for("decision_pages.standard", version_id=new_id, done="saved"))


@blueprint.post("/head-office/rules/<int:version_id>/publication", endpoint="publish_standard")
@permission_required(Permission.RULESET_TEMPLATE_MANAGE)
def publish_standard(version_id: int) -> Response:
    try:
        with shared_session() as shared, shared.begin():
            services.publish_standard(shared, version_id)
    except DomainError as exc:
        return redirect(url_for("decision_pages.standards", error=str(exc)))
    return redirect(url_for("decision_pages.standards", done="published"))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("decision_pages.index", N_("Risk rules"), Permission.RULESET_READ, order=70))
    register_nav(NavLink("decision_pages.standards", N_("Standard risk rules"), Permission.RULESET_TEMPLATE_MANAGE,
                         order=70))
