"""Rule-set versions, publication, the effective rule set of a tenant, and decisions stored for replay.

The process calls :func:`evaluate_stage` (admission at intake, pre-approval after the investigation, approval
at review). Everything else here is governance: head-office standard versions (``cf_shared``), tenant overlay
drafts published by maker-checker (change kind ``decisions.overlay.publish``), effective dates, immutable
published versions, human overrides with a justification.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

from sqlalchemy import ColumnElement, Row, Select, bindparam, insert, select, true
from sqlalchemy.orm import Session, defer

from .. import audit
from ..audit import CurrentActor
from ..db.session import reaches_shared
from ..errors import Conflict, DomainError, NotFound
from ..identity import changes
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal
from .engine import CompiledRuleSet, Decision, Outcome, RuleSet, Stage
from .models import DecisionRecord, RuleSetOverlayVersion, StandardRuleSetVersion
from .overlay import apply_overlay, diff, overlay_hash
from .shadow import challengers, record_shadow

PUBLISH_OVERLAY = "decisions.overlay.publish"


class RuleSetError(DomainError):
    """A rule set or overlay is refused; nothing was changed."""


# --- head-office standard ------------------------------------------------------------------------------

def standard_directory() -> pathlib.Path:
    from .. import settings as settings_module

    return pathlib.Path(settings_module.get().tenants_dir) / "_standard" / "rules"


def load_standard_files(directory: pathlib.Path | None = None) -> list[RuleSet]:
    """The head office's standard rule sets as files (reviewed in git), each checked by compiling it."""
    directory = directory or standard_directory()
    rulesets = []
    for path in sorted(directory.glob("*.json")):
        ruleset = RuleSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
        CompiledRuleSet(ruleset)
        rulesets.append(ruleset)
    return rulesets


def _next_version(session: Session, model, code: str) -> int:
    latest = session.scalar(select(model.version).where(model.code == code).order_by(model.version.desc()).limit(1))
    return (latest or 0) + 1


def save_standard_draft(shared: Session, ruleset: dict[str, Any] | RuleSet, effective_from: dt.date
                        ) -> StandardRuleSetVersion:
    """A new draft version of a standard rule set (checked by compiling it; unknown facts refused)."""
    authorize(Permission.RULESET_TEMPLATE_MANAGE, allow_system=True)
    rs = ruleset if isinstance(ruleset, RuleSet) else RuleSet.from_dict(ruleset)
    CompiledRuleSet(rs)
    version = StandardRuleSetVersion(code=rs.code, stage=rs.stage.value, version=_next_version(shared, StandardRuleSetVersion, rs.code),
                                     status="draft", content=rs.as_dict(), content_hash=rs.content_hash(),
                                     effective_from=effective_from, created_by=CurrentActor.resolve().id)
    shared.add(version)
    shared.flush()
    audit.record(shared, "ruleset.standard.draft", object_type="standard_rule_set_version", object_id=version.id,
                 after={"code": version.code, "version": version.version, "hash": version.content_hash})
    return version


def publish_standard(shared: Session, version_id: int) -> StandardRuleSetVersion:
    """Publish a standard draft; a second person (not its author) must do it, or the files sync (system)."""
    authorize(Permission.RULESET_TEMPLATE_MANAGE, allow_system=True)
    version = shared.get(StandardRuleSetVersion, version_id)
    if version is None:
        raise NotFound(f"no standard rule-set version {version_id}")
    if version.status == "published":
        raise Conflict(f"{version.code} v{version.version} is already published")
    actor = CurrentActor.resolve().id
    if CurrentPrincipal.get_or_none() is not None and actor == version.created_by:
        raise Conflict("the author of a standard rule set cannot also publish it (maker-checker)")
    version.status = "published"
    version.published_at = dt.datetime.now(dt.timezone.utc)
    shared.flush()
    audit.record(shared, "ruleset.standard.publish", object_type="standard_rule_set_version", object_id=version.id,
                 before={"status": "draft"}, after={"status": "published", "hash": version.content_hash})
    return version


def sync_standard(shared: Session, effective_from: dt.date, directory: pathlib.Path | None = None
                  ) -> list[StandardRuleSetVersion]:
    """Publish each standard file whose content differs from its latest version (tenants as code)."""
    published = []
    for rs in load_standard_files(directory):
        latest = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == rs.code)
                               .order_by(StandardRuleSetVersion.version.desc()).limit(1))
        if latest is not None and latest.content_hash == rs.content_hash():
            continue
        version = save_standard_draft(shared, rs, effective_from)
        version.status = "published"
        version.published_at = dt.datetime.now(dt.timezone.utc)
        shared.flush()
        audit.record(shared, "ruleset.standard.publish", object_type="standard_rule_set_version",
                     object_id=version.id, after={"status": "published", "hash": version.content_hash,
                                                  "source": "files"})
        published.append(version)
    return published


def standard_in_force(shared: Session, stage: Stage, on: dt.date) -> StandardRuleSetVersion:
    version = shared.scalar(_STANDARD_IN_FORCE_WITH_CONTENT, {"stage": stage.value, "on": on})
    if version is None:
        raise RuleSetError(f"no published standard {stage.value} rule set is in force on {on}")
    return version


# --- tenant overlays -----------------------------------------------------------------------------------

def save_overlay_draft(session: Session, shared: Session, code: str, overlay: dict[str, Any],
                       effective_from: dt.date) -> RuleSetOverlayVersion:
    """A draft overlay on standard rule set ``code``; checked against the latest published standard now."""
    authorize(Permission.RULESET_CONFIGURE)
    standard = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == code,
                                                                  StandardRuleSetVersion.status == "published")
                             .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    if standard is None:
        raise NotFound(f"no published standard rule set {code!r}")
    CompiledRuleSet(apply_overlay(RuleSet.from_dict(standard.content), overlay))
    version = RuleSetOverlayVersion(code=code, stage=standard.stage,
                                    version=_next_version(session, RuleSetOverlayVersion, code), status="draft",
                                    content=overlay, content_hash=overlay_hash(overlay),
                                    effective_from=effective_from, created_by=CurrentActor.resolve().id)
    session.add(version)
    session.flush()
    audit.record(session, "ruleset.overlay.draft", object_type="rule_set_overlay_version", object_id=version.id,
                 after={"code": code, "version": version.version, "overlay": overlay})
    return version


def update_overlay_draft(session: Session, shared: Session, version_id: int, overlay: dict[str, Any]
                         ) -> RuleSetOverlayVersion:
    authorize(Permission.RULESET_CONFIGURE)
    version = _overlay(session, version_id)
    if version.status != "draft":
        raise Conflict(f"overlay {version.code} v{version.version} is {version.status}: published versions "
                       "never change; save a new draft")
    standard = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == version.code,
                                                                  StandardRuleSetVersion.status == "published")
                             .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    CompiledRuleSet(apply_overlay(RuleSet.from_dict(standard.content), overlay))
    before = version.content
    version.content, version.content_hash = overlay, overlay_hash(overlay)
    session.flush()
    audit.record(session, "ruleset.overlay.update", object_type="rule_set_overlay_version", object_id=version.id,
                 before=before, after=overlay)
    return version


def _latest_standard(shared: Session, code: str) -> StandardRuleSetVersion:
    standard = shared.scalar(select(StandardRuleSetVersion).where(StandardRuleSetVersion.code == code,
                                                                  StandardRuleSetVersion.status == "published")
                             .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    if standard is None:
        raise NotFound(f"no published standard rule set {code!r}")
    return standard


def list_overlays(session: Session) -> list[RuleSetOverlayVersion]:
    authorize(Permission.RULESET_READ)
    return list(session.scalars(select(RuleSetOverlayVersion)
                                .order_by(RuleSetOverlayVersion.code, RuleSetOverlayVersion.version.desc())))


def get_overlay(session: Session, version_id: int) -> RuleSetOverlayVersion:
    authorize(Permission.RULESET_READ)
    return _overlay(session, version_id)


def validate_overlay(session: Session, shared: Session, code: str, overlay: dict[str, Any]) -> dict[str, Any]:
    """Would this overlay be accepted? Errors name the rule or cell and the 1-based position in its text."""
    authorize(Permission.RULESET_CONFIGURE)
    from .expressions import RuleSyntaxError

    standard = _latest_standard(shared, code)
    try:
        CompiledRuleSet(apply_overlay(RuleSet.from_dict(standard.content), overlay))
    except RuleSyntaxError as exc:
        return {"valid": False, "errors": [{"message": str(exc), "position": exc.position, "where": exc.where,
                                            "text": exc.text}]}
    except DomainError as exc:
        return {"valid": False, "errors": [{"message": str(exc), "position": None, "where": None, "text": None}]}
    return {"valid": True, "errors": []}


def overlay_diff(session: Session, shared: Session, version_id: int) -> dict[str, Any]:
    """What an overlay version (draft or published) changes in the latest published standard of its code."""
    authorize(Permission.RULESET_READ)
    version = _overlay(session, version_id)
    standard = _latest_standard(shared, version.code)
    base = RuleSet.from_dict(standard.content)
    differences = diff(base, apply_overlay(base, version.content))
    return {"version_id": version.id, "differences": differences,
            "standard": {"id": standard.id, "code": standard.code, "version": standard.version,
                         "content_hash": standard.content_hash, "effective_from": standard.effective_from}}


def list_standards(shared: Session) -> list[StandardRuleSetVersion]:
    authorize(Permission.RULESET_TEMPLATE_MANAGE)
    return list(shared.scalars(select(StandardRuleSetVersion)
                               .order_by(StandardRuleSetVersion.code, StandardRuleSetVersion.version.desc())))


def get_decision(session: Session, record_id: int) -> DecisionRecord:
    authorize(Permission.RULESET_READ)
    record = session.get(DecisionRecord, record_id)
    if record is None:
        raise NotFound(f"no decision {record_id}")
    return record


def _overlay(session: Session, version_id: int) -> RuleSetOverlayVersion:
    version = session.get(RuleSetOverlayVersion, version_id)
    if version is None:
        raise NotFound(f"no rule-set overlay version {version_id}")
    return version


def propose_overlay_publication(session: Session, version_id: int):
    """Ask a second person to publish an overlay draft (maker-checker); nothing is in force until approved."""
    version = _overlay(session, version_id)
    if version.status != "draft":
        raise Conflict(f"overlay {version.code} v{version.version} is {version.status}")
    request = changes.propose(session, PUBLISH_OVERLAY, f"overlay:{version.id}",
                              {"version_id": version.id, "content_hash": version.content_hash})
    version.change_request_id = request.id
    session.flush()
    return request


def _validate_publication(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    if set(payload) != {"version_id", "content_hash"} or target != f"overlay:{payload['version_id']}":
        raise changes.ChangeRequestError("a publication names one overlay version and its content hash")
    return payload


def _prepare_publication(session: Session, target: str, payload: dict[str, Any]) -> None:
    version = _overlay(session, payload["version_id"])
    version.status = "pending"


def _apply_publication(session: Session, target: str, payload: dict[str, Any]) -> None:
    version = _overlay(session, payload["version_id"])
    if version.content_hash != payload["content_hash"]:
        raise changes.ChangeRequestError("the overlay changed after it was proposed; propose it again")
    version.status = "published"
    version.published_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    audit.record(session, "ruleset.overlay.publish", object_type="rule_set_overlay_version", object_id=version.id,
                 before={"status": "pending"}, after={"status": "published", "hash": version.content_hash,
                                                      "effective_from": version.effective_from})


def _discard_publication(session: Session, target: str) -> None:
    version = _overlay(session, int(target.split(":", 1)[1]))
    if version.status == "pending":
        version.status = "draft"


changes.register_change_kind(changes.ChangeKind(PUBLISH_OVERLAY, Permission.RULESET_CONFIGURE, _validate_publication,
                                                _apply_publication, _prepare_publication, _discard_publication))


def overlay_in_force(session: Session, code: str, on: dt.date) -> RuleSetOverlayVersion | None:
    return session.scalar(_OVERLAY_IN_FORCE_WITH_CONTENT, {"code": code, "on": on})


# --- the effective rule set, cached per pair of versions -----------------------------------------------

class _CompiledCache:
    """Compiled effective rule sets by (standard hash, overlay hash): versions never change, so never stale."""

    def __init__(self, size: int = 64):
        self.size = size
        self.entries: OrderedDict[tuple[str, str], tuple[CompiledRuleSet, RuleSet]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, standard: StandardRuleSetVersion, overlay: RuleSetOverlayVersion | None
            ) -> tuple[CompiledRuleSet, RuleSet]:
        key = (standard.content_hash, overlay.content_hash if overlay else NO_OVERLAY)
        hit = self.lookup(*key)
        if hit is not None:
            return hit
        base = RuleSet.from_dict(standard.content)
        effective = apply_overlay(base, overlay.content if overlay else None)
        entry = (CompiledRuleSet(effective), base)
        with self.lock:
            self.entries[key] = entry
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return entry

    def lookup(self, standard_hash: str, overlay_hash_: str) -> tuple[CompiledRuleSet, RuleSet] | None:
        """The compiled set for this pair of content hashes where this process compiled it already, else None."""
        key = (standard_hash, overlay_hash_)
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
            return hit


CACHE = _CompiledCache()
#: The overlay hash of a bank that has no overlay in force.
NO_OVERLAY = overlay_hash(None)


@dataclass(frozen=True)
class VersionsInForce:
    """The rule-set versions in force for a stage, as a decision records them: read by the caller's own statement
    (:func:`with_versions_in_force`), so that a decision on a hot path needs no statement of its own to find them."""

    standard_id: int
    standard_hash: str
    overlay_id: int | None
    overlay_hash: str  #: ``NO_OVERLAY`` where the bank has no overlay in force

    @classmethod
    def of(cls, standard: StandardRuleSetVersion, overlay: RuleSetOverlayVersion | None) -> VersionsInForce:
        return cls(standard.id, standard.content_hash, overlay.id if overlay else None,
                   overlay.content_hash if overlay else NO_OVERLAY)


def with_versions_in_force(query: Select, stage: Stage, on: ColumnElement[dt.date]) -> Select:
    """``query`` also naming the versions of ``stage`` in force on ``on`` (a date, or an expression such as the
    bank's business date), for :func:`versions_in_force_of` to read from its row. Only for a tenant session that
    reaches the head-office tables (:func:`creditfactory.db.session.reaches_shared`)."""
    standard = (select(StandardRuleSetVersion.id, StandardRuleSetVersion.code, StandardRuleSetVersion.content_hash)
                .where(StandardRuleSetVersion.stage == stage.value, StandardRuleSetVersion.status == "published",
                       StandardRuleSetVersion.effective_from <= on)
                .order_by(StandardRuleSetVersion.effective_from.desc(), StandardRuleSetVersion.version.desc())
                .limit(1).lateral("standard_in_force"))
    overlay = (select(RuleSetOverlayVersion.id, RuleSetOverlayVersion.content_hash)
               .where(RuleSetOverlayVersion.code == standard.c.code, RuleSetOverlayVersion.status == "published",
                      RuleSetOverlayVersion.effective_from <= on)
               .order_by(RuleSetOverlayVersion.effective_from.desc(), RuleSetOverlayVersion.version.desc())
               .limit(1).lateral("overlay_in_force"))
    return (query.outerjoin(standard, true()).outerjoin(overlay, true())
            .add_columns(standard.c.id.label("in_force_standard_id"),
                         standard.c.content_hash.label("in_force_standard_hash"),
                         overlay.c.id.label("in_force_overlay_id"),
                         overlay.c.content_hash.label("in_force_overlay_hash")))


def versions_in_force_of(row: Row) -> VersionsInForce | None:
    """The versions a :func:`with_versions_in_force` statement read; None where no standard is in force."""
    values = row._mapping
    if values["in_force_standard_id"] is None:
        return None
    return VersionsInForce(values["in_force_standard_id"], values["in_force_standard_hash"],
                           values["in_force_overlay_id"], values["in_force_overlay_hash"] or NO_OVERLAY)


@contextmanager
def _shared(shared: Session | None) -> Iterator[Session]:
    if shared is not None:
        yield shared
        return
    from ..db import shared_session

    s = shared_session()
    try:
        yield s
    finally:
        s.close()


def effective_rule_set(session: Session, stage: Stage, on: dt.date, shared: Session | None = None):
    """(compiled effective set, standard version, overlay version or None, standard RuleSet) in force on ``on``.

    Runs on every decision, so it reads only which versions are in force (their rule content, large, is loaded on
    a cache miss alone), both in one statement over the tenant session where the head-office table is reachable
    from it (:func:`creditfactory.db.session.reaches_shared`), else the standard through ``shared`` or its own
    session.
    """
    values = {"stage": stage.value, "on": on}
    if shared is None and reaches_shared(session):
        row = session.execute(_VERSIONS_IN_FORCE, values).one_or_none()
        return _compiled(stage, on, *(row if row is not None else (None, None)))
    with _shared(shared) as source:  # still open while a cache miss loads the standard's content
        standard = source.scalar(_STANDARD_IN_FORCE, values)
        overlay = None if standard is None else session.scalar(_OVERLAY_IN_FORCE, {**values, "code": standard.code})
        return _compiled(stage, on, standard, overlay)


def _compiled(stage: Stage, on: dt.date, standard: StandardRuleSetVersion | None,
              overlay: RuleSetOverlayVersion | None):
    if standard is None:
        raise RuleSetError(f"no published standard {stage.value} rule set is in force on {on}")
    compiled, base = CACHE.get(standard, overlay)
    return compiled, standard, overlay, base


def _in_force(model, which, *, content: bool = False):
    """The newest published version of ``model`` matching ``which`` in force on ``:on``; its (large) rule
    content only with ``content``."""
    query = (select(model).where(which, model.status == "published", model.effective_from <= bindparam("on"))
             .order_by(model.effective_from.desc(), model.version.desc()).limit(1))
    return query if content else query.options(defer(model.content))


# Built once: a statement object reused keeps its cache key, which SQLAlchemy would otherwise compute per call.
_STANDARD_IN_FORCE = _in_force(StandardRuleSetVersion, StandardRuleSetVersion.stage == bindparam("stage"))
_OVERLAY_IN_FORCE = _in_force(RuleSetOverlayVersion, RuleSetOverlayVersion.code == bindparam("code"))
_STANDARD_IN_FORCE_WITH_CONTENT = _in_force(StandardRuleSetVersion,
                                            StandardRuleSetVersion.stage == bindparam("stage"), content=True)
_OVERLAY_IN_FORCE_WITH_CONTENT = _in_force(RuleSetOverlayVersion, RuleSetOverlayVersion.code == bindparam("code"),
                                           content=True)
_overlay_id = (select(RuleSetOverlayVersion.id)
               .where(RuleSetOverlayVersion.code == StandardRuleSetVersion.code,
                      RuleSetOverlayVersion.status == "published",
                      RuleSetOverlayVersion.effective_from <= bindparam("on"))
               .order_by(RuleSetOverlayVersion.effective_from.desc(), RuleSetOverlayVersion.version.desc())
               .limit(1).correlate(StandardRuleSetVersion).scalar_subquery())
_VERSIONS_IN_FORCE = (
    select(StandardRuleSetVersion, RuleSetOverlayVersion)
    .outerjoin(RuleSetOverlayVersion, RuleSetOverlayVersion.id == _overlay_id)
    .where(StandardRuleSetVersion.stage == bindparam("stage"), StandardRuleSetVersion.status == "published",
           StandardRuleSetVersion.effective_from <= bindparam("on"))
    .order_by(StandardRuleSetVersion.effective_from.desc(), StandardRuleSetVersion.version.desc()).limit(1)
    .options(defer(StandardRuleSetVersion.content), defer(RuleSetOverlayVersion.content)))


def effective_diff(session: Session, stage: Stage, on: dt.date, shared: Session | None = None) -> list[dict]:
    """How this tenant's effective rule set differs from the head-office standard."""
    authorize(Permission.RULESET_READ)
    compiled, _, _, base = effective_rule_set(session, stage, on, shared)
    return diff(base, compiled.ruleset)


def rule_sets_in_force(session: Session, on: dt.date, shared: Session | None = None) -> list[dict[str, Any]]:
    """Per stage: the standard version and this tenant's overlay in force on ``on`` (None where none is)."""
    authorize(Permission.RULESET_READ)
    result = []
    with _shared(shared) as s:
        for stage in Stage:
            try:
                standard = standard_in_force(s, stage, on)
            except RuleSetError:
                result.append({"stage": stage.value, "standard": None, "overlay": None})
                continue
            overlay = overlay_in_force(session, standard.code, on)
            result.append({"stage": stage.value,
                           "standard": {"id": standard.id, "code": standard.code, "version": standard.version,
                                        "content_hash": standard.content_hash,
                                        "effective_from": standard.effective_from},
                           "overlay": None if overlay is None else {
                               "id": overlay.id, "code": overlay.code, "version": overlay.version,
                               "content_hash": overlay.content_hash, "effective_from": overlay.effective_from}})
    return result


# --- decisions -----------------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def evaluate_stage(session: Session, stage: Stage | str, facts: dict[str, Any], *, on: dt.date | None = None,
                   application_id: int | None = None, shared: Session | None = None,
                   explain: bool = True, in_force: VersionsInForce | None = None) -> Decision:
    """Decide one stage for the current tenant and store the decision (replayable); returns the Decision.

    ``facts``: dotted fact names (see the catalogue) to Python values (numbers, str, bool, ``datetime.date``);
    use :func:`creditfactory.decisions.engine.coerce_facts` for JSON. ``on``: the date that picks the rule-set
    versions in force (default: ``application.date`` among the facts, else today). ``in_force``: those versions,
    when the caller read them on that date (:func:`with_versions_in_force`). The decision's ``record_id``
    attribute names the stored :class:`DecisionRecord`.
    """
    stage = Stage(stage)
    on = on or facts.get("application.date") or dt.date.today()
    standard = None
    # The versions the caller read serve where this process compiled them already and no challenger shadows the
    # stage (a challenger is compared against the standard's own content); otherwise they are read here.
    hit = (CACHE.lookup(in_force.standard_hash, in_force.overlay_hash)
           if in_force is not None and stage.value not in challengers(session) else None)
    if hit is not None:
        compiled = hit[0]
    else:
        compiled, standard, overlay, _ = effective_rule_set(session, stage, on, shared)
        in_force = VersionsInForce.of(standard, overlay)
    decision = compiled.evaluate(facts, explain=explain)
    # Written with a plain insert, not through the unit of work: nothing here needs the record as an object, and
    # every decision pays for it.
    record_id = session.execute(_INSERT_RECORD, dict(
        application_id=application_id, stage=stage.value, outcome=decision.outcome.value,
        reason_codes=decision.reason_codes,
        fired=[{k: (_jsonable_dict(v) if isinstance(v, dict) else v) for k, v in f.as_dict().items()}
               for f in decision.fired],
        outputs=_jsonable_dict(decision.outputs), facts=_jsonable_dict(facts),
        standard_version_id=in_force.standard_id, standard_hash=in_force.standard_hash,
        overlay_version_id=in_force.overlay_id, overlay_hash=in_force.overlay_hash, effective_hash=compiled.hash,
        elapsed_ms=decision.elapsed_ms)).scalar_one()
    decision.record_id = record_id  # type: ignore[attr-defined]
    if standard is not None:
        # Champion/challenger: the challenger's outcome is stored beside this one and changes nothing here.
        record_shadow(session, stage.value, standard, facts, record_id, application_id, CACHE)
    return decision


_INSERT_RECORD = insert(DecisionRecord.__table__).returning(DecisionRecord.__table__.c.id)


def _jsonable_dict(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in values.items()}


def replay(session: Session, record_id: int, shared: Session | None = None) -> Decision:
    """Evaluate a stored decision again with its own facts and rule-set versions; it must give the same result."""
    authorize(Permission.RULESET_READ)
    from .engine import coerce_facts

    record = session.get(DecisionRecord, record_id)
    if record is None:
        raise NotFound(f"no decision {record_id}")
    with _shared(shared) as s:
        standard = s.get(StandardRuleSetVersion, record.standard_version_id)
    overlay = session.get(RuleSetOverlayVersion, record.overlay_version_id) if record.overlay_version_id else None
    compiled, _ = CACHE.get(standard, overlay)
    return compiled.evaluate(coerce_facts(record.facts), explain=True)


def explain_decision(session: Session, record_id: int, locale: str = "zh", audience: str = "customer",
                     shared: Session | None = None) -> dict[str, Any]:
    """What a borrower (PIPL art. 24) or a reviewer reads: outcome, reasons in words, and the rules that fired."""
    authorize(Permission.RULESET_READ)
    record = session.get(DecisionRecord, record_id)
    if record is None:
        raise NotFound(f"no decision {record_id}")
    with _shared(shared) as s:
        standard = s.get(StandardRuleSetVersion, record.standard_version_id)
    overlay = session.get(RuleSetOverlayVersion, record.overlay_version_id) if record.overlay_version_id else None
    compiled, _ = CACHE.get(standard, overlay)
    decision = Decision(Stage(record.stage), Outcome(record.outcome), list(record.reason_codes), [], record.outputs,
                        record.effective_hash)
    result = {"id": record.id, "stage": record.stage, "outcome": record.override_outcome or record.outcome,
              "automated_outcome": record.outcome, "reasons": compiled.explain(decision, locale, audience),
              "overridden": record.override_outcome is not None}
    if audience == "staff":
        result["fired"] = record.fired
        result["override_justification"] = record.override_justification
    return result


def override_decision(session: Session, record_id: int, outcome: Outcome | str, justification: str
                      ) -> DecisionRecord:
    """A person replaces an automated outcome (PIPL art. 24: the right to a human decision); audited."""
    authorize(Permission.APPLICATION_APPROVE)
    outcome = Outcome(outcome)
    if not justification or len(justification.strip()) < 10:
        raise RuleSetError("an override needs a justification of at least 10 characters")
    record = session.get(DecisionRecord, record_id)
    if record is None:
        raise NotFound(f"no decision {record_id}")
    if record.override_outcome is not None:
        raise Conflict(f"decision {record_id} was already overridden")
    before = {"outcome": record.outcome}
    record.override_outcome = outcome.value
    record.override_justification = justification.strip()
    record.overridden_by = CurrentPrincipal.get().user_id
    record.overridden_at = dt.datetime.now(dt.timezone.utc)
    session.flush()
    audit.record(session, "decision.override", object_type="decision_record", object_id=record.id, before=before,
                 after={"outcome": outcome.value, "justification": record.override_justification})
    return record


__all__ = ["CACHE", "PUBLISH_OVERLAY", "RuleSetError", "effective_diff", "effective_rule_set", "evaluate_stage",
           "explain_decision", "load_standard_files", "override_decision", "propose_overlay_publication",
           "publish_standard", "replay", "save_overlay_draft", "save_standard_draft", "sync_standard",
           "update_overlay_draft"]
