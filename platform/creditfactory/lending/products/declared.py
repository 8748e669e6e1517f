"""Products as code: ``tenants/_standard/products/*.yaml`` (head-office templates) and the ``products:`` list of each
``tenants/<slug>.yaml`` (what the bank adopts, and its tenant-only regional products), applied by
``creditfactory tenants apply`` and ``up --demo``.

Why this path skips maker-checker: a change request needs a person in the bank as maker and another as checker,
and the files are changed by the head office's operators, reviewed in the repository (the four-eyes step of
tenants as code) and applied from the console. The same validation runs as for a change request (templates are
immutable; overrides may only tighten; regional products may not be looser than the regulatory defaults), and
every new version is audited with before/after under the operator's actor (``cli:<user>``) as ``product.declare``.
Applying is idempotent: a product whose active version already says what the file says is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from sqlalchemy.orm import Session

from ...db import CurrentTenant, SystemContext, shared_session, tenant_session
from ...errors import DomainError
from ...tenancy.registry import directory
from . import services
from .terms import apply_overrides, normalise, terms_document

PRODUCTS_DIR = Path("_standard") / "products"


class DeclaredProductsError(DomainError):
    """The product files cannot be read as a whole; nothing was applied."""


@dataclass(frozen=True)
class TemplateFile:
    path: Path
    code: str
    version: int
    name_zh: str
    name_en: str
    terms: dict[str, Any]


@dataclass
class Catalogue:
    templates: list[TemplateFile] = field(default_factory=list)
    #: ``slug -> [entry, ...]`` from each tenant file's ``products:`` list.
    products: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeclaredProductsError(f"{path}: not valid YAML: {exc}") from exc


def load_folder(tenants_dir: str | Path) -> Catalogue:
    """Read and validate every template and every tenant's ``products:`` list; all errors at once."""
    root = Path(tenants_dir)
    catalogue, errors = Catalogue(), []
    for path in sorted((root / PRODUCTS_DIR).glob("*.yaml")):
        data = _yaml(path)
        try:
            if not isinstance(data, dict) or set(data) - {"code", "version", "name_zh", "name_en", "terms"}:
                raise DeclaredProductsError("must hold code, version, name_zh, name_en and terms only")
            version = data.get("version")
            if not isinstance(version, int):
                raise DeclaredProductsError("version must be a whole number")
            if path.stem != f"{data.get('code')}.v{version}":
                raise DeclaredProductsError(f"file name must be {data.get('code')}.v{version}.yaml")
            catalogue.templates.append(TemplateFile(path, str(data["code"]), version, str(data.get("name_zh", "")),
                                                    str(data.get("name_en", "")), normalise(data.get("terms"))))
        except DomainError as exc:
            errors.append(f"{path.relative_to(root)}: {exc}")
    known = {(t.code, t.version): t for t in catalogue.templates}
    for path in sorted(root.glob("*.yaml")):
        data = _yaml(path)
        entries = (data or {}).get("products") if isinstance(data, dict) else None
        if entries is None:
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            errors.append(f"{path.name}: products must be a list of mappings")
            continue
        for entry in entries:
            try:
                _check_entry(entry, known)
            except DomainError as exc:
                errors.append(f"{path.name}: product {entry.get('code')!r}: {exc}")
        catalogue.products[path.stem] = entries
    if errors:
        raise DeclaredProductsError("\n".join(errors))
    return catalogue


def _check_entry(entry: dict[str, Any], templates: dict[tuple[str, int], TemplateFile]) -> None:
    if "template" in entry:
        unknown = set(entry) - {"code", "template", "template_version", "overrides", "name_zh", "name_en"}
        if unknown:
            raise DeclaredProductsError(f"unknown fields {', '.join(sorted(unknown))}")
        template = templates.get((entry["template"], entry.get("template_version")))
        if template is None:
            raise DeclaredProductsError(f"no template file {entry['template']}.v{entry.get('template_version')}.yaml")
        apply_overrides(template.terms, entry.get("overrides") or {})
    elif "plugin_template" in entry:
        # Checked when applied: the plugin answers only once the bank has enabled it.
        unknown = set(entry) - {"code", "plugin_template"}
        if unknown:
            raise DeclaredProductsError(f"unknown fields {', '.join(sorted(unknown))}")
    else:
        unknown = set(entry) - {"code", "terms", "name_zh", "name_en"}
        if unknown:
            raise DeclaredProductsError(f"unknown fields {', '.join(sorted(unknown))}")
        services.validate_regional(str(entry.get("code") or ""), {k: v for k, v in entry.items() if k != "code"})


def publish_templates(catalogue: Catalogue, source_root: Path) -> list[str]:
    """Publish the template files not yet in ``cf_shared``; lines saying what was done."""
    with SystemContext("tenants apply: product templates"), shared_session() as session, session.begin():
        published = publish_files(session, catalogue, source_root)
    return [f"published template {template.code} v{template.version}" for template in published]


def publish_files(session: Session, catalogue: Catalogue, source_root: Path) -> list[TemplateFile]:
    """Publish, in ``session`` and as its actor, the catalogue's template files not yet published; those published.

    Published versions are immutable: a file whose content differs from its published version is a ``Conflict``.
    """
    published = []
    for template in sorted(catalogue.templates, key=lambda t: (t.code, t.version)):
        _, created = services.publish_template(
            session, template.code, template.version, template.name_zh, template.name_en, template.terms,
            source=f"file:{template.path.relative_to(source_root)}")
        if created:
            published.append(template)
    return published


def compare_with_published(session: Session, catalogue: Catalogue) -> tuple[list[TemplateFile], list[TemplateFile]]:
    """The catalogue's template files ``(waiting, changed)``: versions not in ``cf_shared`` yet, and published
    versions whose file now says something else (refused on publication: a change is the next version)."""
    published = {(t.code, t.version): (t.name_zh, t.name_en, t.terms) for t in services.list_templates(session)}
    waiting, changed = [], []
    for template in sorted(catalogue.templates, key=lambda t: (t.code, t.version)):
        stored = published.get((template.code, template.version))
        if stored is None:
            waiting.append(template)
        elif stored != (template.name_zh, template.name_en, template.terms):
            changed.append(template)
    return waiting, changed


def _desired(session: Session, entry: dict[str, Any]) -> dict[str, Any]:
    if "template" in entry:
        template_terms = services._template_terms(entry["template"], entry["template_version"])
        template = services.get_template_for_adoption(entry["template"], entry["template_version"])
        overrides = entry.get("overrides") or {}
        return {"template_code": entry["template"], "template_version": entry["template_version"],
                "overrides": overrides, "terms": terms_document(apply_overrides(template_terms, overrides)),
                "name_zh": entry.get("name_zh") or template["name_zh"],
                "name_en": entry.get("name_en") or template["name_en"]}
    if "plugin_template" in entry:
        payload = services.plugin_template_payload(entry["plugin_template"])
    else:
        payload = services.validate_regional(entry["code"], {k: v for k, v in entry.items() if k != "code"})
    return {"template_code": None, "template_version": None, "overrides": {}, **payload}


def apply_tenant_products(slug: str, entries: list[dict[str, Any]]) -> list[str]:
    """Bring one bank's products in line with its file's entries (new versions only where they differ)."""
    lines = []
    tenant = directory.get(slug)
    # The bank is bound so its enabled plugins can offer their templates (plugin_template entries).
    with SystemContext(f"tenants apply: products of {slug}"), CurrentTenant.bind(tenant), \
            tenant_session(tenant) as session, session.begin():
        for entry in entries:
            code = entry["code"]
            desired = _desired(session, entry)
            current = services._find(session, code)
            if current is not None and all(getattr(current, key) == value for key, value in desired.items()) \
                    and current.status == "active":
                continue
            product = services.write_version(session, code, "product.declare", change_request_id=None, **desired)
            lines.append(f"product {slug}/{code} v{product.version}")
    return lines


def apply_folder(tenants_dir: str | Path, *, only: set[str] | None = None,
                 on_step: Callable[[str], None] = lambda line: None) -> list[str]:
    """Publish the templates, then each registered bank's declared products; returns errors (one per bank)."""
    root = Path(tenants_dir)
    catalogue = load_folder(root)
    for line in publish_templates(catalogue, root):
        on_step(line)
    errors = []
    for slug, entries in sorted(catalogue.products.items()):
        if only is not None and slug not in only:
            continue
        tenant = directory.lookup(slug)
        if tenant is None or tenant.status not in ("active", "suspended"):
            # Not provisioned (its error is reported by the registry step) or on its way out: nothing to write.
            on_step(f"skipped products of {slug}: tenant is {tenant.status if tenant else 'not registered'}")
            continue
        try:
            for line in apply_tenant_products(slug, entries):
                on_step(line)
        except (DomainError, LookupError) as exc:
            errors.append(f"{slug}: products: {exc}")
    return errors
