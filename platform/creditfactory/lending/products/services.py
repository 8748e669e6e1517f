"""Loan products: head-office templates, a village bank's adopted versions, maker-checker changes, the terms API.

Public building blocks other steps call (applications, the repayment calculator, servicing):

- :func:`terms_of` ``(session, product_id) -> ProductTerms``: the typed terms of one product version.
- :func:`check_application_terms` ``(terms, amount, term_months, repayment_method, sector)``: raises
  ``ApplicationOutOfTerms`` (a ``DomainError``, HTTP 422 / exit 2) naming each field out of range.

Head-office templates live in ``cf_shared.product_template`` (one immutable row per published version). A bank's
products live in its own ``product`` table (one immutable row per version); every change is a new version made
by an approved change request (kinds ``product.adopt``, ``product.update``, ``product.regional``) or, for the
tenants-as-code files, by the operator's audited system path (:mod:`.declared`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Mapping

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, attributes

from ...audit import record
from ...db import shared_session
from ...errors import Conflict, DomainError, NotFound
from ...identity import changes
from ...identity.authorization import authorize
from ...identity.errors import AccessDenied
from ...identity.models import ChangeRequest, ChangeStatus
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from .models import Product, ProductStatus, ProductTemplate
from .terms import (ApplicationOutOfTerms, Difference, ProductTerms, TermsError, apply_overrides,
                    check_application_terms, check_regulatory_floor, diff_terms, normalise, parse_terms,
                    terms_document)

__all__ = ["terms_of", "check_application_terms", "ApplicationOutOfTerms", "ProductTerms", "TermsError"]

ADOPT, UPDATE, REGIONAL = "product.adopt", "product.update", "product.regional"
_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class ProductError(DomainError):
    """A product or template request that cannot be done as asked; nothing was changed."""


def _check_code(code: str, what: str = "product code") -> str:
    code = (code or "").strip()
    if not code or len(code) > 40 or not set(code) <= _CODE_CHARS or not code[0].isalpha():
        raise ProductError(f"{what} {code!r} must be 1–40 characters of a–z, 0–9 and _, starting with a letter")
    return code


def _check_names(name_zh: Any, name_en: Any) -> tuple[str, str]:
    names = (str(name_zh or "").strip(), str(name_en or "").strip())
    for key, name in zip(("name_zh", "name_en"), names):
        if not name or len(name) > 100:
            raise ProductError(f"{key} is required (at most 100 characters)")
    return names


# --- head-office templates (cf_shared) --------------------------------------------------------------------------


def _authorize_template_read() -> None:
    # Head-office product owners manage templates; a bank's staff read them to adopt one.
    principal = CurrentPrincipal.get_or_none()
    if principal is not None and principal.has(Permission.PRODUCT_TEMPLATE_MANAGE):
        authorize(Permission.PRODUCT_TEMPLATE_MANAGE)
    else:
        authorize(Permission.PRODUCT_READ, allow_system=True)


def template_snapshot(template: ProductTemplate) -> dict[str, Any]:
    return {"code": template.code, "version": template.version, "name_zh": template.name_zh,
            "name_en": template.name_en, "terms": template.terms, "source": template.source,
            "published_at": template.published_at}


def publish_template(session: Session, code: str, version: int, name_zh: str, name_en: str,
                     terms: Mapping[str, Any], source: str) -> tuple[ProductTemplate, bool]:
    """Publish version ``version`` of head-office template ``code``: ``(template, created)``.

    Published versions never change: publishing the same content again is a no-op (``created`` False), different
    content under a published version is a ``Conflict``; a new version must be the next number.
    """
    authorize(Permission.PRODUCT_TEMPLATE_MANAGE, allow_system=True)
    code = _check_code(code, "template code")
    name_zh, name_en = _check_names(name_zh, name_en)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProductError("version must be a whole number from 1")
    document = normalise(terms)
    existing = session.scalars(select(ProductTemplate).where(ProductTemplate.code == code)
                               .order_by(ProductTemplate.version)).all()
    same = next((t for t in existing if t.version == version), None)
    if same is not None:
        if (same.terms, same.name_zh, same.name_en) == (document, name_zh, name_en):
            return same, False
        raise Conflict(f"template {code} v{version} is published and immutable; publish the change as "
                       f"v{existing[-1].version + 1}")
    expected = existing[-1].version + 1 if existing else 1
    if version != expected:
        raise ProductError(f"template {code}: the next version is v{expected}, not v{version}")
    template = ProductTemplate(code=code, version=version, name_zh=name_zh, name_en=name_en, terms=document,
                               source=source[:200])
    session.add(template)
    session.flush()
    record(session, "product_template.publish", object_type="product_template", object_id=f"{code}@{version}",
           after=template_snapshot(template))
    return template, True


def list_templates(session: Session, *, latest_only: bool = False) -> list[ProductTemplate]:
    _authorize_template_read()
    rows = session.scalars(select(ProductTemplate).order_by(ProductTemplate.code, ProductTemplate.version)).all()
    if latest_only:
        latest: dict[str, ProductTemplate] = {}
        for row in rows:
            latest[row.code] = row
        rows = list(latest.values())
    return list(rows)


def get_template(session: Session, code: str, version: int | None = None) -> ProductTemplate:
    _authorize_template_read()
    query = select(ProductTemplate).where(ProductTemplate.code == code)
    query = query.where(ProductTemplate.version == version) if version else \
        query.order_by(ProductTemplate.version.desc()).limit(1)
    template = session.scalars(query).first()
    if template is None:
        raise NotFound(f"no product template {code}" + (f" v{version}" if version else ""))
    return template


def _template_terms(code: str, version: int) -> dict[str, Any]:
    # Templates are committed head-office data in cf_shared; a bank's session never writes them.
    with shared_session() as shared:
        template = shared.scalars(select(ProductTemplate).where(ProductTemplate.code == code,
                                                                ProductTemplate.version == version)).first()
        if template is None:
            raise ProductError(f"no product template {code} v{version}")
        return template.terms


# --- a bank's products (tenant schema) --------------------------------------------------------------------------


@event.listens_for(Product, "before_update")
def _versions_are_immutable(mapper, connection, target: Product) -> None:
    # Applications point at a version: what it allowed must stay what it was. Only the status moves.
    for column in mapper.columns:
        if column.key != "status" and attributes.get_history(target, column.key).has_changes():
            raise Conflict(f"product {target.code} v{target.version} is immutable ({column.key}); "
                           f"change it by a new version")


def product_snapshot(product: Product | None) -> dict[str, Any] | None:
    if product is None:
        return None
    return {"id": product.id, "code": product.code, "version": product.version, "name_zh": product.name_zh,
            "name_en": product.name_en, "status": product.status, "template_code": product.template_code,
            "template_version": product.template_version, "overrides": product.overrides, "terms": product.terms}


def list_products(session: Session, *, include_superseded: bool = False) -> list[Product]:
    authorize(Permission.PRODUCT_READ, allow_system=True)
    query = select(Product).order_by(Product.code, Product.version)
    if not include_superseded:
        query = query.where(Product.status == ProductStatus.ACTIVE.value)
    return list(session.scalars(query).all())


def get_product(session: Session, code: str, version: int | None = None) -> Product:
    """Version ``version`` of product ``code``, or its active version."""
    authorize(Permission.PRODUCT_READ, allow_system=True)
    product = _find(session, code, version)
    if product is None:
        raise NotFound(f"no product {code}" + (f" v{version}" if version else ""))
    return product


def product_versions(session: Session, code: str) -> list[Product]:
    authorize(Permission.PRODUCT_READ, allow_system=True)
    rows = session.scalars(select(Product).where(Product.code == code).order_by(Product.version)).all()
    if not rows:
        raise NotFound(f"no product {code}")
    return list(rows)


def _find(session: Session, code: str, version: int | None = None) -> Product | None:
    query = select(Product).where(Product.code == code)
    if version:
        query = query.where(Product.version == version)
    else:
        query = query.order_by((Product.status == ProductStatus.ACTIVE.value).desc(), Product.version.desc())
    return session.scalars(query.limit(1)).first()


def terms_of(session: Session, product_id: int) -> ProductTerms:
    """The typed terms of product version ``product_id`` (``NotFound`` if the bank has no such version).

    A building block for services that already authorized their own operation (applications, calculator,
    servicing, jobs): it checks no permission itself.
    """
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product version {product_id}")
    if not product.terms:
        raise ProductError(f"product {product.code} v{product.version} has no terms (made before terms existed)")
    # A version never changes once written, so its terms are parsed once per process, not on every intake. The
    # key names the bank's schema and the row's creation time too: a bank provisioned again under an old slug
    # starts its ids afresh.
    tenant = session.info.get("tenant")
    if tenant is None:  # a session bound by hand (tests): nothing names the schema, so nothing is kept
        return parse_terms(product.terms)
    key = (tenant.schema, product.id, product.created_at)
    terms = _PARSED_TERMS.get(key)
    if terms is None:
        terms = parse_terms(product.terms)
        with _PARSED_TERMS_LOCK:
            _PARSED_TERMS[key] = terms
            while len(_PARSED_TERMS) > _PARSED_TERMS_SIZE:
                _PARSED_TERMS.popitem(last=False)
    return terms


#: (schema, product id, created at) -> the version's parsed terms; the oldest entry goes first when full.
_PARSED_TERMS: OrderedDict[tuple[str, int, Any], ProductTerms] = OrderedDict()
_PARSED_TERMS_LOCK = threading.Lock()
_PARSED_TERMS_SIZE = 4096


def diff_against_template(session: Session, code: str, version: int | None = None) -> dict[str, Any]:
    """What version ``version`` (default: active) of ``code`` changes from its template: ``{template, differences}``.

    A tenant-only regional product has no template: ``template`` is None and the differences are empty.
    """
    product = get_product(session, code, version)
    if product.template_code is None:
        return {"product": product, "template": None, "differences": []}
    template_terms = _template_terms(product.template_code, product.template_version)
    differences: list[Difference] = diff_terms(parse_terms(template_terms), parse_terms(product.terms))
    return {"product": product, "template": {"code": product.template_code, "version": product.template_version},
            "differences": differences}


# --- proposing changes (maker) ----------------------------------------------------------------------------------


def _maker() -> None:
    authorize(Permission.PRODUCT_CONFIGURE)
    if CurrentPrincipal.get().user_id is None:
        # The change request names the person who proposed it; a checker must be able to ask them why.
        raise AccessDenied("a product change is proposed by a person (maker-checker 双人复核); machine clients "
                           "may read products, not propose changes")


def propose_adoption(session: Session, code: str, template_code: str, template_version: int,
                     overrides: Mapping[str, Any] | None = None, name_zh: str | None = None,
                     name_en: str | None = None) -> ChangeRequest:
    """Propose adopting ``template_code`` v``template_version`` as product ``code`` (new, or its next version)."""
    _maker()
    current = _find(session, code)
    if current is not None and current.template_code != template_code:
        raise Conflict(f"product {code} is " + (f"based on template {current.template_code}" if current.template_code
                                                 else "a tenant-only product") + f", not on {template_code}")
    template = get_template_for_adoption(template_code, template_version)
    payload = {"template_code": template_code, "template_version": template_version, "overrides": overrides or {},
               "name_zh": name_zh or (current.name_zh if current else template["name_zh"]),
               "name_en": name_en or (current.name_en if current else template["name_en"])}
    return _propose(session, ADOPT, code, payload, current)


def propose_update(session: Session, code: str, overrides: Mapping[str, Any] | None = None,
                   name_zh: str | None = None, name_en: str | None = None,
                   terms: Mapping[str, Any] | None = None) -> ChangeRequest:
    """Propose a new version of ``code``: new overrides (adopted product) or new terms (tenant-only product)."""
    _maker()
    current = _find(session, code)
    if current is None:
        raise NotFound(f"no product {code}")
    names = {"name_zh": name_zh or current.name_zh, "name_en": name_en or current.name_en}
    if current.template_code is None:
        if terms is None:
            raise ProductError("a tenant-only product changes by its full terms (field terms)")
        return _propose(session, REGIONAL, code, {**names, "terms": dict(terms)}, current)
    if terms is not None:
        raise ProductError(f"product {code} follows template {current.template_code}: change it by overrides")
    payload = {"template_code": current.template_code, "template_version": current.template_version,
               "overrides": dict(overrides if overrides is not None else current.overrides), **names}
    return _propose(session, UPDATE, code, payload, current)


def propose_regional(session: Session, code: str, name_zh: str, name_en: str,
                     terms: Mapping[str, Any]) -> ChangeRequest:
    """Propose a new tenant-only (regional) product, e.g. Yunnan 草贷, with terms of its own."""
    _maker()
    current = _find(session, code)
    if current is not None and current.template_code is not None:
        raise Conflict(f"product {code} follows template {current.template_code}")
    return _propose(session, REGIONAL, code, {"name_zh": name_zh, "name_en": name_en, "terms": dict(terms)},
                    current)


def plugin_templates() -> dict[str, Any]:
    """The regional product templates the acting bank's enabled plugins offer, by code (first plugin wins)."""
    from ...plugins import get_host

    offered: dict[str, Any] = {}
    for template in get_host().collect("register_product_templates"):
        offered.setdefault(template.code, template)
    return offered


def plugin_template_payload(template_code: str) -> dict[str, Any]:
    """Names and terms of plugin template ``template_code`` as a regional product payload (validated)."""
    template = plugin_templates().get(template_code)
    if template is None:
        raise NotFound(f"no enabled plugin of this bank offers a product template {template_code!r}")
    return validate_regional(template.code, {"name_zh": template.name_zh, "name_en": template.name_en,
                                             "terms": dict(template.terms)})


def propose_from_plugin(session: Session, code: str, template_code: str) -> ChangeRequest:
    """Propose a regional product with the terms a plugin's template gives (maker-checker like any change)."""
    _maker()
    payload = plugin_template_payload(template_code)
    return propose_regional(session, code, payload["name_zh"], payload["name_en"], payload["terms"])


def get_template_for_adoption(code: str, version: int) -> dict[str, Any]:
    with shared_session() as shared:
        template = shared.scalars(select(ProductTemplate).where(ProductTemplate.code == code,
                                                                ProductTemplate.version == version)).first()
        if template is None:
            raise NotFound(f"no product template {code} v{version}")
        return template_snapshot(template)


def _propose(session: Session, kind: str, code: str, payload: dict[str, Any], current: Product | None):
    request = changes.propose(session, kind, code, payload)
    record(session, "product.change.propose", object_type="product", object_id=code,
           before=product_snapshot(current), after={"change_request": request.id, "kind": kind, **request.payload})
    return request


def pending_changes(session: Session, code: str | None = None) -> list[ChangeRequest]:
    authorize(Permission.PRODUCT_READ)
    query = select(ChangeRequest).where(ChangeRequest.kind.in_((ADOPT, UPDATE, REGIONAL)),
                                        ChangeRequest.status == ChangeStatus.PENDING.value)
    if code:
        query = query.where(ChangeRequest.target == code)
    return list(session.scalars(query.order_by(ChangeRequest.id)).all())


# --- change kinds (validate at proposal and approval; apply on approval) ----------------------------------------


def validate_adoption(code: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The normalised payload of ``product.adopt`` / ``product.update``; refuses any loosening, naming the field."""
    code = _check_code(code)
    unknown = sorted(set(payload) - {"template_code", "template_version", "overrides", "name_zh", "name_en"})
    if unknown:
        raise ProductError(f"unknown fields: {', '.join(unknown)}")
    template_code = _check_code(str(payload.get("template_code") or ""), "template code")
    version = payload.get("template_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProductError("template_version must be a whole number")
    overrides = payload.get("overrides") or {}
    apply_overrides(_template_terms(template_code, version), overrides)
    name_zh, name_en = _check_names(payload.get("name_zh"), payload.get("name_en"))
    return {"template_code": template_code, "template_version": version, "overrides": overrides,
            "name_zh": name_zh, "name_en": name_en}


def validate_regional(code: str, payload: dict[str, Any]) -> dict[str, Any]:
    code = _check_code(code)
    unknown = sorted(set(payload) - {"terms", "name_zh", "name_en"})
    if unknown:
        raise ProductError(f"unknown fields: {', '.join(unknown)}")
    terms = parse_terms(payload.get("terms") or {})
    check_regulatory_floor(terms)
    name_zh, name_en = _check_names(payload.get("name_zh"), payload.get("name_en"))
    return {"terms": terms_document(terms), "name_zh": name_zh, "name_en": name_en}


def write_version(session: Session, code: str, action: str, *, name_zh: str, name_en: str,
                  template_code: str | None, template_version: int | None, overrides: dict[str, Any],
                  terms: dict[str, Any], change_request_id: int | None) -> Product:
    """Add the next version of ``code`` as the active one, supersede the previous, audit before/after."""
    previous = _find(session, code)
    if previous is not None and previous.template_code != template_code:
        raise Conflict(f"product {code} cannot switch from template {previous.template_code} to {template_code}")
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"product:{code}"))))
    number = session.scalar(select(func.max(Product.version)).where(Product.code == code)) or 0
    if previous is not None and previous.status == ProductStatus.ACTIVE.value:
        previous.status = ProductStatus.SUPERSEDED.value
    product = Product(code=code, version=number + 1, name_zh=name_zh, name_en=name_en,
                      template_code=template_code, template_version=template_version, overrides=overrides,
                      terms=terms, status=ProductStatus.ACTIVE.value, change_request_id=change_request_id)
    session.add(product)
    session.flush()
    record(session, action, object_type="product", object_id=f"{code}@{product.version}",
           before=product_snapshot(previous), after=product_snapshot(product))
    return product


def _approved_request_id(session: Session, kind: str, code: str) -> int | None:
    # changes.approve closes the request (status approved) before it applies it, in the same transaction.
    return session.scalar(select(ChangeRequest.id).where(
        ChangeRequest.kind == kind, ChangeRequest.target == code,
        ChangeRequest.status == ChangeStatus.APPROVED.value).order_by(ChangeRequest.checked_at.desc()).limit(1))


def _apply_adoption(kind: str):
    def apply(session: Session, code: str, payload: dict[str, Any]) -> None:
        if kind == UPDATE and _find(session, code) is None:
            raise NotFound(f"no product {code} to update")
        terms = apply_overrides(_template_terms(payload["template_code"], payload["template_version"]),
                                payload["overrides"])
        write_version(session, code, kind, name_zh=payload["name_zh"], name_en=payload["name_en"],
                      template_code=payload["template_code"], template_version=payload["template_version"],
                      overrides=payload["overrides"], terms=terms_document(terms),
                      change_request_id=_approved_request_id(session, kind, code))
    return apply


def _apply_regional(session: Session, code: str, payload: dict[str, Any]) -> None:
    write_version(session, code, REGIONAL, name_zh=payload["name_zh"], name_en=payload["name_en"],
                  template_code=None, template_version=None, overrides={}, terms=payload["terms"],
                  change_request_id=_approved_request_id(session, REGIONAL, code))


for _kind, _validate, _apply in ((ADOPT, validate_adoption, _apply_adoption(ADOPT)),
                                 (UPDATE, validate_adoption, _apply_adoption(UPDATE)),
                                 (REGIONAL, validate_regional, _apply_regional)):
    if _kind not in changes.change_kinds():
        changes.register_change_kind(changes.ChangeKind(_kind, Permission.PRODUCT_CONFIGURE, _validate, _apply))
