"""Product pages: the bank's products, a product with its diff against the template, proposing an override, and
approving or rejecting a pending product change (the second person of maker-checker)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import gettext

from ...db import tenant_session
from ...errors import DomainError
from ...identity import changes
from ...identity.errors import AccessDenied
from ...identity.permissions import Permission
from ...identity.principal import CurrentPrincipal
from ...portal.account import login_required
from ...portal.nav import N_, NavLink, register_nav
from . import services
from .terms import REPAYMENT_METHODS, flatten

blueprint = Blueprint("product_pages", __name__, template_folder="templates")

#: Labels of the repayment methods (DOMAIN §2.5), translated in the page.
METHOD_LABELS = {
    "equal_installment": N_("Equal instalments"),
    "equal_principal": N_("Equal principal"),
    "interest_only": N_("Monthly interest, principal at maturity"),
    "bullet": N_("Principal and interest at maturity"),
    "balloon": N_("Balloon"),
    "revolving": N_("Revolving line"),
}
assert set(METHOD_LABELS) == set(REPAYMENT_METHODS)

#: Form fields of the override form: (name, path in the terms document).
OVERRIDE_FIELDS = (
    ("amount_min", ("amount", "min")), ("amount_max", ("amount", "max")),
    ("term_min", ("term_months", "min")), ("term_max", ("term_months", "max")),
    ("rate_min", ("annual_rate", "min")), ("rate_max", ("annual_rate", "max")),
    ("entrusted_threshold", ("regulatory", "entrusted_payment.personal_business_threshold")),
)


@blueprint.get("/products")
@login_required
def product_list() -> str:
    """The bank's active products."""
    with tenant_session() as session, session.begin():
        products = services.list_products(session)
        pending = services.pending_changes(session) if _may(Permission.PRODUCT_READ) else []
    return render_template("products/list.html", products=products, pending=pending, labels=METHOD_LABELS)


@blueprint.get("/products/<code>")
@login_required
def product_detail(code: str) -> str:
    """One product: its terms, what it changes from its template, its versions and pending changes."""
    with tenant_session() as session, session.begin():
        diff = services.diff_against_template(session, code)
        versions = services.product_versions(session, code)
        pending = services.pending_changes(session, code)
    proposed = {change.id: sorted(flatten(change.payload.get("overrides", change.payload.get("terms")) or {}).items())
                for change in pending}
    return render_template("products/detail.html", product=diff["product"], diff=diff, versions=versions,
                           pending=pending, proposed=proposed, labels=METHOD_LABELS, may_propose=_may(Permission.PRODUCT_CONFIGURE),
                           may_approve=_may(Permission.CONFIG_APPROVE), me=CurrentPrincipal.get().user_id)


@blueprint.route("/products/<code>/propose", methods=["GET", "POST"])
@login_required
def propose_override(code: str) -> str | Response | tuple[str, int]:
    """Propose new overrides of an adopted product; a second person approves them."""
    with tenant_session() as session, session.begin():
        product = services.get_product(session, code)
    error = None
    values = {name: request.form.get(name, "").strip() for name, _ in OVERRIDE_FIELDS}
    if request.method == "POST":
        try:
            overrides = _overrides(product.overrides, values)
            with tenant_session() as session, session.begin():
                services.propose_update(session, code, overrides)
            return redirect(url_for("product_pages.product_detail", code=code, proposed=1))
        except (DomainError, AccessDenied) as exc:
            error = str(exc)
    else:
        values = {name: _lookup(product.terms, path) for name, path in OVERRIDE_FIELDS}
    return render_template("products/propose.html", product=product, values=values, error=error,
                           may_propose=_may(Permission.PRODUCT_CONFIGURE)), (422 if error else 200)


@blueprint.post("/products/changes/<int:request_id>/decision")
@login_required
def decide_change(request_id: int) -> Response | tuple[str, int]:
    """Approve or reject a pending product change (never one's own)."""
    code = request.form.get("code", "")
    try:
        with tenant_session() as session, session.begin():
            if request.form.get("decision") == "approve":
                changes.approve(session, request_id)
            else:
                changes.reject(session, request_id, request.form.get("reason", "") or gettext("Rejected"))
    except (DomainError, AccessDenied) as exc:
        return render_template("products/refused.html", message=str(exc), code=code), getattr(exc, "status", 422)
    target = url_for("product_pages.product_detail", code=code) if code else url_for("product_pages.product_list")
    return redirect(target)


def _may(permission: Permission) -> bool:
    return CurrentPrincipal.get().has(permission)


def _lookup(document: dict[str, Any], path: tuple[str, str]) -> str:
    value = (document.get(path[0]) or {}).get(path[1])
    return "" if value is None else str(value)


def _overrides(current: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The product's overrides with the form's fields set (a blank field keeps what there is)."""
    overrides = {key: dict(value) if isinstance(value, dict) else value for key, value in current.items()}
    for name, (section, key) in OVERRIDE_FIELDS:
        raw = values.get(name, "")
        if not raw:
            continue
        try:
            number: Any = int(raw) if section == "term_months" else str(Decimal(raw))
        except (InvalidOperation, ValueError):
            raise DomainError(f"{section}.{key}: not a number: {raw!r}") from None
        overrides.setdefault(section, {})[key] = number
    return overrides


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_nav(NavLink("product_pages.product_list", N_("Products"), Permission.PRODUCT_READ, order=40))
