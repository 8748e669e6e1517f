"""Investigation services: record visits and photos, analyse worksheets live, save worksheet versions.

Functions take a tenant ``Session``, check permissions themselves, ``flush`` and leave the commit to the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ... import audit
from ...errors import Conflict, DomainError, NotFound
from ...identity.authorization import authorize
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ..applications.models import LoanApplication
from .analysis import Analysis, AnalysisParameters, analyse, is_complete, worksheet_from_dict
from .models import InvestigationAnalysis, InvestigationPhoto, InvestigationVisit, InvestigationWorksheet
from .questionnaire import DEFAULT_QUESTIONNAIRE, Questionnaire

#: The application state in which officers investigate (DOMAIN §2.2); saving is refused in any other.
INVESTIGATING = "INVESTIGATING"
PHOTO_SUBJECTS = ("premises", "stock", "household", "document", "other")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: Called with (session, application) after a complete worksheet was saved: the applications capability's
#: INVESTIGATING → ANALYSED transition, wired by whoever calls :func:`save_worksheet`.
AdvanceApplication = Callable[[Session, LoanApplication], None]


class InvestigationError(DomainError):
    """Bad input to an investigation operation."""


@dataclasses.dataclass(frozen=True)
class SavedWorksheet:
    worksheet: InvestigationWorksheet
    snapshot: InvestigationAnalysis
    analysis: Analysis
    #: Whether ``advance`` was called (the worksheet was complete).
    advanced: bool


def parameters_as_dict(params: AnalysisParameters) -> dict[str, Any]:
    """The parameters a snapshot was computed with, JSON-ready."""
    return {"tolerances": {k.value: str(v) for k, v in params.tolerances.items()},
            **{f.name: (str(getattr(params, f.name)) if isinstance(getattr(params, f.name), Decimal)
                        else getattr(params, f.name))
               for f in dataclasses.fields(params) if f.name != "tolerances"}}


def _application(session: Session, application_id: int, *, for_update: bool = False) -> LoanApplication:
    query = select(LoanApplication).where(LoanApplication.id == application_id)
    if for_update:
        query = query.with_for_update()
    application = session.scalar(query)
    if application is None:
        raise NotFound(f"loan application {application_id} does not exist")
    return application


def analyse_live(data: Mapping[str, Any], *, visit_date: dt.date, parameters: AnalysisParameters | None = None,
                 questionnaire: Questionnaire = DEFAULT_QUESTIONNAIRE) -> Analysis:
    """The analysis of an unsaved worksheet, for live feedback while the officer types; changes nothing."""
    authorize(Permission.APPLICATION_INVESTIGATE)
    return analyse(worksheet_from_dict(data), parameters, visit_date=visit_date, questionnaire=questionnaire)


def latest_worksheet(session: Session, application_id: int) -> tuple[InvestigationWorksheet, InvestigationAnalysis] | None:
    """The newest saved worksheet version of an application and its analysis snapshot, or None."""
    authorize(Permission.APPLICATION_READ)
    _application(session, application_id)
    row = session.execute(
        select(InvestigationWorksheet, InvestigationAnalysis)
        .join(InvestigationAnalysis, InvestigationAnalysis.worksheet_id == InvestigationWorksheet.id)
        .where(InvestigationWorksheet.application_id == application_id)
        .order_by(InvestigationWorksheet.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def save_worksheet(session: Session, application_id: int, data: Mapping[str, Any], *, visit_date: dt.date,
                   base_version: int | None = None, parameters: AnalysisParameters | None = None,
                   questionnaire: Questionnaire = DEFAULT_QUESTIONNAIRE,
                   advance: AdvanceApplication | None = None) -> SavedWorksheet:
    """Save the next version of an application's worksheet with its analysis snapshot; the investigator is the
    acting principal.

    - Refused unless the application is INVESTIGATING, and (``Conflict``) when ``base_version`` is given and is
      not the latest saved version (someone else saved in between).
    - ``parameters`` carry the product's tolerances and thresholds (DOMAIN defaults when None).
    - When the worksheet is complete (``analysis.is_complete``), ``advance(session, application)`` is called in
      the same transaction: pass the applications capability's INVESTIGATING → ANALYSED transition there.
    """
    authorize(Permission.APPLICATION_INVESTIGATE)
    parameters = parameters or AnalysisParameters()
    worksheet = worksheet_from_dict(data)
    result = analyse(worksheet, parameters, visit_date=visit_date, questionnaire=questionnaire)
    application = _application(session, application_id, for_update=True)
    if application.state != INVESTIGATING:
        raise Conflict(f"application {application.reference} is {application.state}, not {INVESTIGATING}: "
                       f"its worksheet cannot change now")
    latest = session.scalar(select(func.max(InvestigationWorksheet.version))
                            .where(InvestigationWorksheet.application_id == application_id)) or 0
    if base_version is not None and base_version != latest:
        raise Conflict(f"the worksheet was saved as version {latest} since version {base_version} was loaded; "
                       f"reload it and apply your changes again")
    principal = CurrentPrincipal.get()
    complete = is_complete(worksheet, result, questionnaire)
    row = InvestigationWorksheet(application_id=application_id, version=latest + 1, data=dict(data),
                                 complete=complete, investigator_id=principal.user_id,
                                 investigator=principal.username)
    session.add(row)
    session.flush()
    snapshot = InvestigationAnalysis(worksheet_id=row.id, parameters=parameters_as_dict(parameters),
                                     result=result.as_dict(), max_loan=result.max_loan, escalate=result.escalate)
    session.add(snapshot)
    session.flush()
    audit.record(session, "investigation.worksheet_save", object_type="loan_application", object_id=application_id,
                 after={"version": row.version, "complete": complete, "max_loan": result.max_loan,
                        "escalate": result.escalate})
    advanced = False
    if complete and advance is not None:
        advance(session, application)
        advanced = True
    return SavedWorksheet(row, snapshot, result, advanced)


def _coordinate(value: Decimal | None, limit: int, name: str) -> Decimal | None:
    if value is not None and not -limit <= value <= limit:
        raise InvestigationError(f"{name} must be between -{limit} and {limit}, not {value}")
    return value


def record_visit(session: Session, application_id: int, *, visited_at: dt.datetime, notes: str = "",
                 latitude: Decimal | None = None, longitude: Decimal | None = None,
                 location_accuracy_m: int | None = None, second_officer: str | None = None,
                 second_officer_id: int | None = None) -> InvestigationVisit:
    """Record an on-site visit led by the acting officer (a second officer, as practice often requires, optional)."""
    authorize(Permission.APPLICATION_INVESTIGATE)
    _application(session, application_id)
    if visited_at.tzinfo is None:
        raise InvestigationError("visited_at needs a time zone offset")
    if (latitude is None) != (longitude is None):
        raise InvestigationError("a location needs both latitude and longitude")
    principal = CurrentPrincipal.get()
    if second_officer is not None and second_officer == principal.username:
        raise InvestigationError("the second officer must be someone else")
    visit = InvestigationVisit(
        application_id=application_id, officer_id=principal.user_id, officer=principal.username,
        second_officer=second_officer, second_officer_id=second_officer_id, visited_at=visited_at,
        latitude=_coordinate(latitude, 90, "latitude"), longitude=_coordinate(longitude, 180, "longitude"),
        location_accuracy_m=location_accuracy_m, notes=notes, recorded_by=principal.username)
    session.add(visit)
    session.flush()
    audit.record(session, "investigation.visit_record", object_type="investigation_visit", object_id=visit.id,
                 after={"application_id": application_id, "visited_at": visited_at,
                        "second_officer": second_officer})
    return visit


def list_visits(session: Session, application_id: int) -> list[InvestigationVisit]:
    authorize(Permission.APPLICATION_READ)
    _application(session, application_id)
    return list(session.scalars(select(InvestigationVisit).where(InvestigationVisit.application_id == application_id)
                                .order_by(InvestigationVisit.visited_at, InvestigationVisit.id)))


def add_photo(session: Session, visit_id: int, *, sha256: str, content_type: str, size_bytes: int,
              subject: str, caption: str = "", taken_at: dt.datetime | None = None,
              latitude: Decimal | None = None, longitude: Decimal | None = None) -> InvestigationPhoto:
    """Attach a photo already in the file store (named by its SHA-256 key) to a visit; idempotent per file."""
    authorize(Permission.APPLICATION_INVESTIGATE)
    visit = session.get(InvestigationVisit, visit_id)
    if visit is None:
        raise NotFound(f"investigation visit {visit_id} does not exist")
    if not _SHA256.match(sha256 or ""):
        raise InvestigationError("sha256 must be 64 lowercase hexadecimal characters (the file store's key)")
    if not content_type.startswith("image/"):
        raise InvestigationError(f"a photo must be an image, not {content_type}")
    if size_bytes <= 0:
        raise InvestigationError("size_bytes must be positive")
    if subject not in PHOTO_SUBJECTS:
        raise InvestigationError(f"subject must be one of {', '.join(PHOTO_SUBJECTS)}, not {subject!r}")
    existing = session.scalar(select(InvestigationPhoto).where(InvestigationPhoto.visit_id == visit_id,
                                                               InvestigationPhoto.sha256 == sha256))
    if existing is not None:
        # A retried upload from a phone on a weak connection: the same file is already attached; nothing changes.
        return existing
    photo = InvestigationPhoto(visit_id=visit_id, sha256=sha256, content_type=content_type, size_bytes=size_bytes,
                               subject=subject, caption=caption, taken_at=taken_at,
                               latitude=_coordinate(latitude, 90, "latitude"),
                               longitude=_coordinate(longitude, 180, "longitude"))
    session.add(photo)
    session.flush()
    audit.record(session, "investigation.photo_add", object_type="investigation_visit", object_id=visit_id,
                 after={"sha256": sha256, "subject": subject})
    return photo


def photos_of(session: Session, visit_id: int) -> list[InvestigationPhoto]:
    authorize(Permission.APPLICATION_READ)
    if session.get(InvestigationVisit, visit_id) is None:
        raise NotFound(f"investigation visit {visit_id} does not exist")
    return list(session.scalars(select(InvestigationPhoto).where(InvestigationPhoto.visit_id == visit_id)
                                .order_by(InvestigationPhoto.id)))
