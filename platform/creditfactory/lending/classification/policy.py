"""Classification thresholds and provision rates: DOMAIN §3.1 defaults, overridable per tenant parameter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .models import CLASSES

DEFAULTS: dict[str, Any] = {
    # Minimum class when DPD is greater than the figure (DOMAIN §3.1 table).
    "classification.dpd.special_mention": 0,
    "classification.dpd.substandard": 90,
    "classification.dpd.doubtful": 270,
    "classification.dpd.loss": 360,
    # Non-retail debtor: share of its balance at this bank that is NPL above which all its loans are NPL.
    "classification.contagion_share": "0.10",
    # During observation after restructuring: DPD above which the loan is at least doubtful.
    "classification.restructured_relapse_dpd": 90,
    # Non-accrual: interest goes off balance sheet when DPD exceeds this or the class is NPL.
    "classification.non_accrual_dpd": 90,
    # Provision rates by class (贷款损失准备计提指引 general practice).
    "provision.rate.normal": "0.01",
    "provision.rate.special_mention": "0.02",
    "provision.rate.substandard": "0.25",
    "provision.rate.doubtful": "0.50",
    "provision.rate.loss": "1.00",
}


def load(session: Session) -> dict[str, Any]:
    """The tenant's values for every key of :data:`DEFAULTS` (tenant parameters override defaults)."""
    values = dict(DEFAULTS)
    rows = session.execute(text("SELECT key, value FROM tenant_parameter WHERE key LIKE 'classification.%' "
                                "OR key LIKE 'provision.%'")).all()
    for key, value in rows:
        if key in values:
            values[key] = value
    return values


def provision_rates(values: dict[str, Any]) -> dict[str, Decimal]:
    return {c: Decimal(str(values[f"provision.rate.{c}"])) for c in CLASSES}
