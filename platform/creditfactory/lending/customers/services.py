"""Customers: KYC with sealed identifiers, related parties, documents and PIPL consents.

Every function takes the tenant session, flushes and leaves the commit to the caller. Permissions are checked
here, below the web layer: ``customer.read`` to read, ``customer.manage`` to change; identifiers are shown in clear
only to holders of ``pii.read``, each clear read audited (``privacy.access.reveal``).
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import nullcontext
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum.cn import ric

from ...audit import Actor, ActorKind, CurrentActor, record
from ...db import SystemContext
from ...errors import Conflict, DomainError, NotFound
from ...files.sniff import ALLOWED_CONTENT_TYPES, sniff
from ...files.store import file_store
from ...identity import clock
from ...identity.authorization import authorize, requires
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ...privacy import access
from ...privacy.fields import PiiField, blind_index, seal
from ...privacy.identifiers import IdentifierKind, InvalidIdentifier, mask, normalise
from ... import settings as settings_module
from .models import (CONSENT_CHANNELS, CONSENT_PURPOSES, CONSENT_TYPES, CUSTOMER_KINDS, DOCUMENT_TYPES,
                     MARITAL_STATUSES, PARTY_ROLES, PERSON_KINDS, Consent, Customer, CustomerDocument, RelatedParty)

RESIDENT_ID = PiiField(IdentifierKind.RESIDENT_ID, "customer.resident_id")
USCC = PiiField(IdentifierKind.USCC, "customer.uscc")
MOBILE = PiiField(IdentifierKind.MOBILE, "customer.mobile")
PARTY_RESIDENT_ID = PiiField(IdentifierKind.RESIDENT_ID, "customer_related_party.resident_id")
PARTY_MOBILE = PiiField(IdentifierKind.MOBILE, "customer_related_party.mobile")

#: GB/T 4754-2017 industry code: section letter A–T, optionally a 2-digit division and 1–2 more digits.
SECTOR_RE = re.compile(r"^[A-T](\d{2}(\d{1,2})?)?$")
#: Document types that show identity numbers or account data: downloading them needs ``pii.read`` too.
SENSITIVE_DOCUMENT_TYPES = frozenset({"id_card", "bank_statement"})
#: Purposes whose data is sensitive personal information (PIPL art. 28): separate or written consent only.
SENSITIVE_PURPOSES = frozenset({"bank_statement_analysis", "biometric_verification"})

_PROFILE_FIELDS = ("name", "address", "registered_address", "sector_code", "years_in_business", "household_members",
                   "marital_status", "legal_representative_name", "officer_user_id")
_IDENTIFIERS = {"resident_id": RESIDENT_ID, "uscc": USCC, "mobile": MOBILE}


class CustomerInvalid(DomainError):
    """Customer data that fails validation; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


class DuplicateCustomer(Conflict):
    """The identifier already belongs to another customer of this bank."""


class ConsentMissing(DomainError):
    """No active consent of the customer covers the purpose (none, expired or withdrawn)."""


# --- helpers -----------------------------------------------------------------------------------------------------


def _who() -> tuple[int | None, str]:
    principal = CurrentPrincipal.get_or_none()
    if principal is not None:
        return principal.user_id, principal.username
    return None, f"system:{SystemContext.active() or 'unknown'}"


def _clean_text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text or None


def mask_address(value: str | None) -> str | None:
    """An address with only its first six characters (province and city, usually) in clear."""
    if not value:
        return value
    return value[:6] + "*" * max(4, len(value) - 6)


def get_customer_row(session: Session, customer_id: int, *, for_update: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == customer_id)
    if for_update:
        query = query.with_for_update()
    customer = session.scalar(query)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


def _validate_profile(kind: str, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for field, limit in (("name", 200), ("address", 300), ("registered_address", 300),
                         ("legal_representative_name", 200)):
        if field in values:
            try:
                clean[field] = _clean_text(values[field], limit)
            except ValueError as exc:
                errors[field] = str(exc)
    if "name" in values and not clean.get("name") and "name" not in errors:
        errors["name"] = "is required"
    if "sector_code" in values:
        code = (values["sector_code"] or "").strip().upper() or None
        if code is not None and not SECTOR_RE.match(code):
            errors["sector_code"] = "must be a GB/T 4754 industry code: a letter A–T, optionally 2–4 digits (e.g. F5221)"
        clean["sector_code"] = code
    for field, low, high in (("years_in_business", 0, 100), ("household_members", 1, 50)):
        if field in values and values[field] is not None:
            try:
                number = int(values[field])
                if isinstance(values[field], bool) or not low <= number <= high:
                    raise ValueError
                clean[field] = number
            except (TypeError, ValueError):
                errors[field] = f"must be a whole number from {low} to {high}"
        elif field in values:
            clean[field] = None
    if "marital_status" in values:
        status = values["marital_status"] or None
        if status is not None and status not in MARITAL_STATUSES:
            errors["marital_status"] = f"must be one of {', '.join(MARITAL_STATUSES)}"
        clean["marital_status"] = status
    if "officer_user_id" in values:
        clean["officer_user_id"] = values["officer_user_id"]
    # Fields that do not fit the kind of customer are refused rather than silently kept.
    if kind == "micro_enterprise":
        for field in ("marital_status", "household_members"):
            if clean.get(field) is not None:
                errors[field] = "does not apply to a micro enterprise"
    elif clean.get("legal_representative_name"):
        errors["legal_representative_name"] = "applies to micro enterprises only"
    return clean


def _check_identifiers(kind: str, current: dict[str, Any], errors: dict[str, str]) -> None:
    """Which identifiers each kind must and may have (after the change is applied)."""
    if kind in PERSON_KINDS and not current.get("resident_id"):
        errors.setdefault("resident_id", "is required for an individual or a household (the person's ID number)")
    if kind == "micro_enterprise":
        if not current.get("uscc"):
            errors.setdefault("uscc", "is required for a micro enterprise (from its business licence)")
        if current.get("resident_id"):
            errors.setdefault("resident_id", "an enterprise has no resident ID: record its legal representative "
                                             "as a related party")
    if kind == "household" and current.get("uscc"):
        errors.setdefault("uscc", "a household has no unified social credit code; register an individual business "
                                  "owner (个体工商户) instead")


def _snapshot(customer: Customer, identifiers: dict[str, str | None]) -> dict[str, Any]:
    """What the audit log keeps of a customer: profile fields, identifiers masked, never in clear."""
    shot = {field: getattr(customer, field) for field in _PROFILE_FIELDS}
    shot["address"] = mask_address(shot["address"])
    shot["registered_address"] = mask_address(shot["registered_address"])
    for name, field in _IDENTIFIERS.items():
        shot[name] = mask(field.kind, identifiers[name]) if identifiers.get(name) else None
    shot["kind"] = customer.kind
    return shot


def _duplicate_of(session: Session, column, index: str, exclude: int | None) -> int | None:
    query = select(Customer.id).where(column == index)
    if exclude is not None:
        query = query.where(Customer.id != exclude)
    return session.scalar(query)


def _apply_identifiers(session: Session, customer: Customer, values: dict[str, str | None],
                       errors: dict[str, str]) -> dict[str, str | None]:
    """Validate, duplicate-check and seal the identifiers in ``values``; the normalised clear values by name."""
    clear: dict[str, str | None] = {}
    for name, field in _IDENTIFIERS.items():
        if name not in values:
            continue
        raw = values[name]
        if raw is None or not str(raw).strip():
            clear[name] = None
            continue
        try:
            clear[name] = normalise(field.kind, raw)
        except InvalidIdentifier as exc:
            errors[name] = exc.reason
    if errors:
        return clear
    for name, value in clear.items():
        field = _IDENTIFIERS[name]
        if value is None:
            setattr(customer, f"{name}_sealed", None)
            setattr(customer, f"{name}_index", None)
            continue
        sealed = seal(session, field, value)
        if name in ("resident_id", "uscc"):
            other = _duplicate_of(session, getattr(Customer, f"{name}_index"), sealed.blind_index, customer.id)
            if other is not None:
                raise DuplicateCustomer(f"a customer with this {field.kind.label_en} ({field.kind.label_zh}) already "
                                        f"exists: customer {other}")
        setattr(customer, f"{name}_sealed", sealed.value)
        setattr(customer, f"{name}_index", sealed.blind_index)
    if "resident_id" in clear:
        number = clear["resident_id"]
        customer.birth_date = ric.get_birth_date(number) if number else None
        customer.gender = (("male" if int(number[16]) % 2 else "female") if number else None)
    return clear


def _flush_unique(session: Session) -> None:
    # Two officers registering the same person at once: the unique index decides, with the same clear error.
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if "ix_customer_resident_id_index" in str(exc.orig) or "ix_customer_uscc_index" in str(exc.orig):
            raise DuplicateCustomer("a customer with this identifier already exists") from None
        raise


def _current_identifiers(session: Session, customer: Customer) -> dict[str, str | None]:
    from ...privacy.fields import unseal
    return {name: (unseal(session, field, getattr(customer, f"{name}_sealed"))
                   if getattr(customer, f"{name}_sealed") else None)
            for name, field in _IDENTIFIERS.items()}


# --- customers ---------------------------------------------------------------------------------------------------


@requires(Permission.CUSTOMER_MANAGE)
def create_customer(session: Session, *, kind: str, **values: Any) -> Customer:
    """Register a customer. ``values``: name, resident_id, uscc, mobile and the profile fields.

    ``CustomerInvalid`` lists every invalid field at once; ``DuplicateCustomer`` when the ID number or USCC is
    already a customer of this bank (found by blind index, so without decrypting anyone).
    """
    errors: dict[str, str] = {}
    if kind not in CUSTOMER_KINDS:
        raise CustomerInvalid({"kind": f"must be one of {', '.join(CUSTOMER_KINDS)}"})
    unknown = set(values) - set(_PROFILE_FIELDS) - set(_IDENTIFIERS)
    if unknown:
        raise CustomerInvalid({name: "is not a customer field" for name in sorted(unknown)})
    values.setdefault("name", None)
    profile = _validate_profile(kind, values, errors)
    _check_identifiers(kind, {name: values.get(name) for name in _IDENTIFIERS}, errors)
    user_id, _ = _who()
    customer = Customer(kind=kind, created_by_user_id=user_id)
    if "officer_user_id" not in values or values.get("officer_user_id") is None:
        profile["officer_user_id"] = user_id
    identifiers = _apply_identifiers(session, customer, {name: values.get(name) for name in _IDENTIFIERS}, errors)
    if errors:
        raise CustomerInvalid(errors)
    for field, value in profile.items():
        setattr(customer, field, value)
    session.add(customer)
    _flush_unique(session)
    record(session, "customer.create", object_type="customer", object_id=customer.id,
           after=_snapshot(customer, identifiers))
    return customer


@requires(Permission.CUSTOMER_MANAGE)
def update_customer(session: Session, customer_id: int, **changes: Any) -> Customer:
    """Change profile fields or identifiers (re-sealed and re-checked for duplicates); the kind never changes."""
    if "kind" in changes:
        raise CustomerInvalid({"kind": "cannot change; register a new customer of the other kind"})
    unknown = set(changes) - set(_PROFILE_FIELDS) - set(_IDENTIFIERS)
    if unknown:
        raise CustomerInvalid({name: "is not a customer field" for name in sorted(unknown)})
    customer = get_customer_row(session, customer_id, for_update=True)
    before_ids = _current_identifiers(session, customer)
    before = _snapshot(customer, before_ids)
    errors: dict[str, str] = {}
    profile = _validate_profile(customer.kind, changes, errors)
    if customer.kind != "micro_enterprise" and "legal_representative_name" not in changes:
        profile.pop("legal_representative_name", None)
    # Kind rules judged on the record as it will be, not just on the fields sent.
    merged = {**{f: getattr(customer, f) for f in ("marital_status", "household_members")}, **profile}
    if customer.kind == "micro_enterprise":
        for field in ("marital_status", "household_members"):
            if merged.get(field) is not None:
                errors[field] = "does not apply to a micro enterprise"
    after_ids = {**before_ids, **{k: v for k, v in changes.items() if k in _IDENTIFIERS}}
    _check_identifiers(customer.kind, after_ids, errors)
    identifiers = _apply_identifiers(session, customer, {k: v for k, v in changes.items() if k in _IDENTIFIERS},
                                     errors)
    if errors:
        session.expire(customer)
        raise CustomerInvalid(errors)
    if profile.get("marital_status", "married") != "married" and session.scalar(select(RelatedParty.id).where(
            RelatedParty.customer_id == customer.id, RelatedParty.role == "spouse")):
        session.expire(customer)
        raise Conflict("the customer has a spouse recorded: remove the spouse before changing the marital status")
    for field, value in profile.items():
        setattr(customer, field, value)
    customer.updated_at = clock.now()
    _flush_unique(session)
    record(session, "customer.update", object_type="customer", object_id=customer.id, before=before,
           after=_snapshot(customer, {**before_ids, **identifiers}))
    return customer


@requires(Permission.CUSTOMER_READ)
def get_customer(session: Session, customer_id: int) -> Customer:
    return get_customer_row(session, customer_id)


def _reveal_text(session: Session, customer: Customer, column: str) -> str | None:
    value = getattr(customer, column)
    if not value:
        return value
    if not access.may_read_clear(session):
        return mask_address(value)
    _record_reveal(session, "customer", customer.id, f"customer.{column}", "address")
    return value


def _record_reveal(session: Session, object_type: str, object_id: int, column: str, kind: str) -> None:
    principal = CurrentPrincipal.get()
    attribution = (nullcontext() if CurrentActor.get_or_none() is not None else
                   CurrentActor.bind(Actor(id=str(principal.user_id), kind=ActorKind.USER, display=principal.username)))
    with attribution:
        record(session, access.REVEAL_ACTION, object_type=object_type, object_id=object_id,
               after={"field": column, "kind": kind})


def customer_view(session: Session, customer: Customer, *, masked: bool = False) -> dict[str, Any]:
    """The customer as shown to the current principal: identifiers and addresses masked without ``pii.read``;
    each value shown in clear is audited as ``pii.reveal``. Birth date only in clear (masked: the year).

    ``masked``: masked whoever asks, for overviews (a list of customers) that need no identifier in clear.
    """
    if masked:
        return _masked_view(session, customer)
    clear = access.may_read_clear(session)
    view: dict[str, Any] = {field: getattr(customer, field) for field in (
        "id", "kind", "name", "sector_code", "years_in_business", "household_members", "marital_status",
        "legal_representative_name", "officer_user_id", "created_by_user_id", "gender", "created_at", "updated_at")}
    for name, field in _IDENTIFIERS.items():
        sealed = getattr(customer, f"{name}_sealed")
        view[name] = access.reveal(session, field, sealed, object_type="customer", object_id=customer.id) \
            if sealed else None
    view["address"] = _reveal_text(session, customer, "address")
    view["registered_address"] = _reveal_text(session, customer, "registered_address")
    view["birth_date"] = customer.birth_date.isoformat() if clear and customer.birth_date else (
        f"{customer.birth_date.year}-**-**" if customer.birth_date else None)
    view["pii_clear"] = clear
    return view


def _masked_view(session: Session, customer: Customer) -> dict[str, Any]:
    from ...privacy.fields import unseal
    view = {field: getattr(customer, field) for field in (
        "id", "kind", "name", "sector_code", "years_in_business", "household_members", "marital_status",
        "legal_representative_name", "officer_user_id", "created_by_user_id", "gender", "created_at", "updated_at")}
    for name, field in _IDENTIFIERS.items():
        sealed = getattr(customer, f"{name}_sealed")
        view[name] = mask(field.kind, unseal(session, field, sealed)) if sealed else None
    view["address"] = mask_address(customer.address)
    view["registered_address"] = mask_address(customer.registered_address)
    view["birth_date"] = f"{customer.birth_date.year}-**-**" if customer.birth_date else None
    view["pii_clear"] = False
    return view


def _name_filter(name: str):
    pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Customer.name.ilike(f"%{pattern}%", escape="\\")


@requires(Permission.CUSTOMER_READ)
def list_customers(session: Session, *, mine: bool = False, name: str | None = None, kind: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[Customer]:
    """Customers newest first; ``mine``: those the current user registered or is assigned to."""
    query = select(Customer).order_by(Customer.id.desc()).limit(min(max(limit, 1), 200)).offset(max(offset, 0))
    if mine:
        principal = CurrentPrincipal.get_or_none()
        if principal is None or principal.user_id is None:
            raise DomainError("'my customers' needs a person logged in, not a machine client")
        query = query.where(or_(Customer.created_by_user_id == principal.user_id,
                                Customer.officer_user_id == principal.user_id))
    if name:
        query = query.where(_name_filter(name.strip()))
    if kind:
        query = query.where(Customer.kind == kind)
    return list(session.scalars(query))


@requires(Permission.CUSTOMER_READ)
def search_customers(session: Session, *, name: str | None = None, resident_id: str | None = None,
                     uscc: str | None = None, mobile: str | None = None, limit: int = 50) -> list[Customer]:
    """Find customers by name (contains) and/or by identifier through its blind index (exact match)."""
    query = select(Customer).order_by(Customer.id.desc()).limit(min(max(limit, 1), 200))
    given = False
    if name and name.strip():
        query, given = query.where(_name_filter(name.strip())), True
    for value, field in ((resident_id, RESIDENT_ID), (uscc, USCC), (mobile, MOBILE)):
        if value and str(value).strip():
            try:
                index = blind_index(session, field.kind, value)
            except InvalidIdentifier as exc:
                raise CustomerInvalid({field.column.split(".")[1]: exc.reason}) from None
            query, given = query.where(getattr(Customer, f"{field.column.split('.')[1]}_index") == index), True
    if not given:
        raise CustomerInvalid({"query": "give a name, an ID number, a USCC or a mobile number"})
    return list(session.scalars(query))


# --- related parties ---------------------------------------------------------------------------------------------


@requires(Permission.CUSTOMER_MANAGE)
def add_related_party(session: Session, customer_id: int, *, role: str, related_customer_id: int | None = None,
                      name: str | None = None, resident_id: str | None = None, mobile: str | None = None,
                      share_percent: Decimal | str | None = None, note: str | None = None) -> RelatedParty:
    """Link a party in ``role``: another customer (``related_customer_id``) or a person record (``name`` and
    optionally sealed ``resident_id`` / ``mobile``). Inconsistent roles are refused (a spouse of an enterprise,
    a shareholder of a household, a second spouse, a party that is the customer itself...)."""
    customer = get_customer_row(session, customer_id, for_update=True)
    errors: dict[str, str] = {}
    if role not in PARTY_ROLES:
        raise CustomerInvalid({"role": f"must be one of {', '.join(PARTY_ROLES)}"})
    if (related_customer_id is None) == (not (name and name.strip())):
        raise CustomerInvalid({"related_customer_id": "give either a related customer or a person's name, not both"
                               if related_customer_id is not None else "give a related customer or a person's name"})
    related = None
    if related_customer_id is not None:
        if resident_id or mobile:
            errors["resident_id"] = "a related customer's identifiers are on the customer's own record"
        related = get_customer_row(session, related_customer_id)
        if related.id == customer.id:
            raise Conflict("a customer cannot be its own related party")
    person_kind = related.kind if related is not None else "individual"
    if role == "spouse":
        if customer.kind not in PERSON_KINDS:
            raise Conflict("a spouse can only be recorded for an individual or a household, not an enterprise")
        if person_kind not in PERSON_KINDS:
            raise Conflict("a spouse must be a person, not an enterprise")
        if customer.marital_status not in (None, "married"):
            raise Conflict(f"the customer's marital status is {customer.marital_status}: a spouse needs 'married'")
        if session.scalar(select(RelatedParty.id).where(RelatedParty.customer_id == customer.id,
                                                        RelatedParty.role == "spouse")):
            raise Conflict("the customer already has a spouse recorded")
    if role in ("shareholder", "legal_representative") and customer.kind != "micro_enterprise":
        raise Conflict(f"a {role.replace('_', ' ')} can only be recorded for a micro enterprise")
    if role == "legal_representative":
        if person_kind not in PERSON_KINDS:
            raise Conflict("a legal representative must be a person, not an enterprise")
        if session.scalar(select(RelatedParty.id).where(RelatedParty.customer_id == customer.id,
                                                        RelatedParty.role == "legal_representative")):
            raise Conflict("the enterprise already has a legal representative recorded")
    share: Decimal | None = None
    if share_percent is not None and str(share_percent).strip() != "":
        if role != "shareholder":
            errors["share_percent"] = "applies to shareholders only"
        else:
            try:
                share = Decimal(str(share_percent))
                if not Decimal(0) < share <= Decimal(100) or share != share.quantize(Decimal("0.0001")):
                    raise InvalidOperation
            except InvalidOperation:
                errors["share_percent"] = "must be a percentage above 0 and at most 100 (4 decimals at most)"
    if share is not None and not errors:
        held = session.scalar(select(func.coalesce(func.sum(RelatedParty.share_percent), 0)).where(
            RelatedParty.customer_id == customer.id, RelatedParty.role == "shareholder")) or Decimal(0)
        if held + share > 100:
            raise Conflict(f"shares would total {held + share}%: more than 100%")
    party = RelatedParty(customer_id=customer.id, role=role, related_customer_id=related_customer_id,
                         share_percent=share, created_by_user_id=_who()[0])
    try:
        party.name = _clean_text(name, 200) if related is None else None
        party.note = _clean_text(note, 500)
    except ValueError as exc:
        errors["name"] = str(exc)
    clear: dict[str, str | None] = {}
    for key, field, value in (("resident_id", PARTY_RESIDENT_ID, resident_id), ("mobile", PARTY_MOBILE, mobile)):
        if related is None and value and str(value).strip():
            try:
                sealed = seal(session, field, value)
            except InvalidIdentifier as exc:
                errors[key] = exc.reason
                continue
            setattr(party, f"{key}_sealed", sealed.value)
            setattr(party, f"{key}_index", sealed.blind_index)
            clear[key] = normalise(field.kind, value)
    if errors:
        raise CustomerInvalid(errors)
    # The same party twice in one role is one party.
    same = select(RelatedParty.id).where(RelatedParty.customer_id == customer.id, RelatedParty.role == role)
    if related is not None and session.scalar(same.where(RelatedParty.related_customer_id == related.id)):
        raise Conflict(f"customer {related.id} is already recorded as {role.replace('_', ' ')}")
    if party.resident_id_index and session.scalar(same.where(RelatedParty.resident_id_index == party.resident_id_index)):
        raise Conflict(f"this person is already recorded as {role.replace('_', ' ')}")
    if party.resident_id_index and customer.resident_id_index == party.resident_id_index:
        raise Conflict("a customer cannot be its own related party")
    session.add(party)
    session.flush()
    record(session, "customer.party.add", object_type="customer", object_id=customer.id,
           after={"party_id": party.id, "role": role, "related_customer_id": related_customer_id,
                  "name": party.name, "share_percent": share,
                  "resident_id": mask(IdentifierKind.RESIDENT_ID, clear["resident_id"]) if clear.get("resident_id")
                  else None})
    return party


@requires(Permission.CUSTOMER_MANAGE)
def remove_related_party(session: Session, customer_id: int, party_id: int) -> None:
    party = session.scalar(select(RelatedParty).where(RelatedParty.id == party_id,
                                                      RelatedParty.customer_id == customer_id))
    if party is None:
        raise NotFound(f"customer {customer_id} has no related party {party_id}")
    record(session, "customer.party.remove", object_type="customer", object_id=customer_id,
           before={"party_id": party.id, "role": party.role, "related_customer_id": party.related_customer_id,
                   "name": party.name})
    session.delete(party)
    session.flush()


@requires(Permission.CUSTOMER_READ)
def list_related_parties(session: Session, customer_id: int) -> list[RelatedParty]:
    get_customer_row(session, customer_id)
    return list(session.scalars(select(RelatedParty).where(RelatedParty.customer_id == customer_id)
                                .order_by(RelatedParty.id)))


def party_view(session: Session, party: RelatedParty) -> dict[str, Any]:
    view: dict[str, Any] = {"id": party.id, "customer_id": party.customer_id, "role": party.role,
                            "related_customer_id": party.related_customer_id, "name": party.name,
                            "share_percent": party.share_percent, "note": party.note,
                            "created_at": party.created_at, "related_customer_kind": None}
    if party.related_customer_id is not None:
        related = session.get(Customer, party.related_customer_id)
        view["name"], view["related_customer_kind"] = related.name, related.kind
    view["resident_id"] = access.reveal(session, PARTY_RESIDENT_ID, party.resident_id_sealed,
                                        object_type="customer_related_party", object_id=party.id) \
        if party.resident_id_sealed else None
    view["mobile"] = access.reveal(session, PARTY_MOBILE, party.mobile_sealed,
                                   object_type="customer_related_party", object_id=party.id) \
        if party.mobile_sealed else None
    return view


# --- documents ---------------------------------------------------------------------------------------------------


@requires(Permission.CUSTOMER_MANAGE)
def upload_document(session: Session, customer_id: int, *, doc_type: str, filename: str | None,
                    data: bytes) -> CustomerDocument:
    """Store ``data`` in the file store and record it as the customer's document of ``doc_type``.

    The type of file is sniffed from its bytes (JPEG, PNG, WebP, HEIC photos; PDF): what the browser claims is
    ignored. Larger than ``upload_max_bytes``, empty, or of another type: refused, nothing stored.
    """
    customer = get_customer_row(session, customer_id)
    if doc_type not in DOCUMENT_TYPES:
        raise CustomerInvalid({"doc_type": f"must be one of {', '.join(DOCUMENT_TYPES)}"})
    limit = settings_module.get().upload_max_bytes
    if not data:
        raise CustomerInvalid({"file": "is empty"})
    if len(data) > limit:
        raise CustomerInvalid({"file": f"is {len(data)} bytes; the limit is {limit} bytes"})
    content_type = sniff(data)
    if content_type is None:
        raise CustomerInvalid({"file": "is not a photo or PDF (accepted: "
                                       f"{', '.join(sorted(ALLOWED_CONTENT_TYPES))})"})
    clean_name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", (filename or "").strip())[-200:] or f"{doc_type}"
    stored = file_store().put(session.info["tenant"].slug, data)
    user_id, username = _who()
    document = CustomerDocument(customer_id=customer.id, doc_type=doc_type, filename=clean_name,
                                content_type=content_type, size_bytes=stored.size, sha256=stored.sha256,
                                storage_key=stored.key, uploaded_by_user_id=user_id, uploaded_by=username)
    session.add(document)
    session.flush()
    record(session, "customer.document.upload", object_type="customer", object_id=customer.id,
           after={"document_id": document.id, "doc_type": doc_type, "content_type": content_type,
                  "size_bytes": stored.size, "sha256": stored.sha256})
    return document


@requires(Permission.CUSTOMER_READ)
def list_documents(session: Session, customer_id: int) -> list[CustomerDocument]:
    get_customer_row(session, customer_id)
    return list(session.scalars(select(CustomerDocument).where(CustomerDocument.customer_id == customer_id)
                                .order_by(CustomerDocument.id)))


@requires(Permission.CUSTOMER_READ)
def read_document(session: Session, customer_id: int, document_id: int) -> tuple[CustomerDocument, bytes]:
    """The document and its bytes; ID card copies and bank statements need ``pii.read`` as well. Every download
    is audited (``customer.document.download``) in the caller's transaction: commit before sending the bytes."""
    document = session.scalar(select(CustomerDocument).where(CustomerDocument.id == document_id,
                                                             CustomerDocument.customer_id == customer_id))
    if document is None:
        raise NotFound(f"customer {customer_id} has no document {document_id}")
    if document.doc_type in SENSITIVE_DOCUMENT_TYPES:
        authorize(Permission.PII_READ)
    data = file_store().get(document.storage_key)
    record(session, "customer.document.download", object_type="customer", object_id=customer_id,
           after={"document_id": document.id, "doc_type": document.doc_type, "sha256": document.sha256})
    return document, data


# --- consents ----------------------------------------------------------------------------------------------------


def _aware(value: dt.datetime | None, field: str, errors: dict[str, str]) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        errors[field] = "must carry a time zone"
        return None
    return value


@requires(Permission.CUSTOMER_MANAGE)
def grant_consent(session: Session, customer_id: int, *, purpose: str, scope: str, consent_type: str,
                  channel: str, granted_at: dt.datetime | None = None, expires_at: dt.datetime | None = None,
                  data_categories: Iterable[str] = (), sensitive: bool = False, recipients: Iterable[str] = (),
                  notice_version: str | None = None, evidence_document_id: int | None = None,
                  evidence_signature: str | None = None) -> Consent:
    """Record the customer's consent to ``purpose`` (DOMAIN §4.3), with its evidence and who captured it.

    Refused: a bureau query without a written consent (征信业管理条例 art. 18); sensitive data (bank statements,
    biometrics, or ``sensitive``) without a separate or written one (PIPL art. 29); guarantor data sharing
    without recipients (art. 23); no evidence; an expiry not after the grant; a grant in the future.
    """
    customer = get_customer_row(session, customer_id)
    errors: dict[str, str] = {}
    now = clock.now()
    if purpose not in CONSENT_PURPOSES:
        errors["purpose"] = f"must be one of {', '.join(CONSENT_PURPOSES)}"
    if consent_type not in CONSENT_TYPES:
        errors["consent_type"] = f"must be one of {', '.join(CONSENT_TYPES)}"
    if channel not in CONSENT_CHANNELS:
        errors["channel"] = f"must be one of {', '.join(CONSENT_CHANNELS)}"
    try:
        clean_scope = _clean_text(scope, 500)
    except ValueError as exc:
        errors["scope"] = str(exc)
        clean_scope = None
    if not clean_scope and "scope" not in errors:
        errors["scope"] = "is required: what the customer agreed to, as on the notice"
    granted_at = _aware(granted_at, "granted_at", errors) or now
    expires_at = _aware(expires_at, "expires_at", errors)
    if granted_at > now + dt.timedelta(minutes=5):
        errors["granted_at"] = "is in the future"
    if expires_at is not None and expires_at <= max(granted_at, now):
        errors["expires_at"] = "must be after the grant and in the future"
    sensitive = bool(sensitive) or purpose in SENSITIVE_PURPOSES
    if purpose == "bureau_query" and consent_type != "written":
        errors["consent_type"] = "a credit-bureau query needs a written consent (书面授权)"
    elif sensitive and consent_type == "general":
        errors["consent_type"] = "sensitive personal information needs a separate (单独) or written consent"
    recipients = [r for r in (" ".join(str(r).split()) for r in recipients) if r]
    if purpose == "guarantor_data_sharing" and not recipients:
        errors["recipients"] = "name who receives the data (PIPL art. 23)"
    categories = [c for c in (" ".join(str(c).split()) for c in data_categories) if c]
    signature = (evidence_signature or "").strip() or None
    if evidence_document_id is None and signature is None:
        errors["evidence"] = "attach the signed form (a stored document) or a signature record"
    if evidence_document_id is not None and session.scalar(select(CustomerDocument.id).where(
            CustomerDocument.id == evidence_document_id, CustomerDocument.customer_id == customer.id)) is None:
        errors["evidence_document_id"] = f"customer {customer.id} has no document {evidence_document_id}"
    if errors:
        raise CustomerInvalid(errors)
    user_id, username = _who()
    consent = Consent(customer_id=customer.id, purpose=purpose, scope=clean_scope, consent_type=consent_type,
                      channel=channel, granted_at=granted_at, expires_at=expires_at, data_categories=categories,
                      sensitive=sensitive, recipients=recipients, notice_version=(notice_version or None),
                      evidence_document_id=evidence_document_id, evidence_signature=signature,
                      captured_by_user_id=user_id, captured_by=username)
    session.add(consent)
    session.flush()
    record(session, "customer.consent.grant", object_type="customer", object_id=customer.id,
           after={"consent_id": consent.id, "purpose": purpose, "consent_type": consent_type, "channel": channel,
                  "granted_at": granted_at, "expires_at": expires_at, "sensitive": sensitive,
                  "evidence_document_id": evidence_document_id, "evidence_signature": signature})
    return consent


@requires(Permission.CUSTOMER_MANAGE)
def withdraw_consent(session: Session, customer_id: int, consent_id: int, *, reason: str,
                     channel: str | None = None) -> Consent:
    """Withdraw a consent now (PIPL art. 15): from this moment ``require_consent`` refuses it."""
    consent = session.scalar(select(Consent).where(Consent.id == consent_id, Consent.customer_id == customer_id)
                             .with_for_update())
    if consent is None:
        raise NotFound(f"customer {customer_id} has no consent {consent_id}")
    try:
        clean_reason = _clean_text(reason, 500)
    except ValueError as exc:
        raise CustomerInvalid({"reason": str(exc)}) from None
    if not clean_reason:
        raise CustomerInvalid({"reason": "is required"})
    if channel is not None and channel not in CONSENT_CHANNELS:
        raise CustomerInvalid({"channel": f"must be one of {', '.join(CONSENT_CHANNELS)}"})
    if consent.withdrawn_at is not None:
        raise Conflict(f"consent {consent.id} was already withdrawn at {consent.withdrawn_at.isoformat()}")
    consent.withdrawn_at = clock.now()
    consent.withdrawal_reason = clean_reason
    consent.withdrawal_channel = channel
    consent.withdrawn_by = _who()[1]
    session.flush()
    record(session, "customer.consent.withdraw", object_type="customer", object_id=customer_id,
           before={"consent_id": consent.id, "purpose": consent.purpose, "withdrawn_at": None},
           after={"consent_id": consent.id, "purpose": consent.purpose, "withdrawn_at": consent.withdrawn_at,
                  "reason": clean_reason, "channel": channel})
    return consent


@requires(Permission.CUSTOMER_READ)
def list_consents(session: Session, customer_id: int) -> list[Consent]:
    get_customer_row(session, customer_id)
    return list(session.scalars(select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.id)))


def consent_status(consent: Consent, at: dt.datetime) -> str:
    """``active``, ``withdrawn``, ``expired`` or ``pending`` (granted later than ``at``)."""
    if consent.withdrawn_at is not None:
        return "withdrawn"
    if consent.expires_at is not None and at >= consent.expires_at:
        return "expired"
    if consent.granted_at > at:
        return "pending"
    return "active"


def require_consent(session: Session, customer_id: int, purpose: str, at: dt.datetime) -> Consent:
    """The customer's consent covering ``purpose`` at ``at``; ``ConsentMissing`` when there is none, it expired,
    or it was withdrawn. Call it before any credit-bureau query or bank-statement use.

    A withdrawn consent never passes, whatever ``at``: withdrawal is immediate and final, so a check made after
    it cannot be satisfied by asking about an earlier time. No permission is checked here: the calling service
    checks its own, and a missing consent is refused whoever asks.
    """
    if purpose not in CONSENT_PURPOSES:
        raise DomainError(f"unknown consent purpose {purpose!r}; one of {', '.join(CONSENT_PURPOSES)}")
    if at.tzinfo is None:
        raise DomainError("require_consent: 'at' must carry a time zone")
    consents = list(session.scalars(select(Consent).where(Consent.customer_id == customer_id,
                                                          Consent.purpose == purpose)
                                    .order_by(Consent.granted_at.desc())))
    for consent in consents:
        if consent_status(consent, at) == "active":
            return consent
    if not consents:
        raise ConsentMissing(f"customer {customer_id} has given no consent for {purpose}")
    latest = consents[0]
    status = consent_status(latest, at)
    if status == "withdrawn":
        raise ConsentMissing(f"customer {customer_id} withdrew consent for {purpose} at "
                             f"{latest.withdrawn_at.isoformat()}")
    if status == "expired":
        raise ConsentMissing(f"customer {customer_id}'s consent for {purpose} expired at "
                             f"{latest.expires_at.isoformat()}")
    raise ConsentMissing(f"customer {customer_id}'s consent for {purpose} is granted only from "
                         f"{latest.granted_at.isoformat()}")
