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
    # Ten-grade sub-classification (十级分类, DOMAIN §3.1): off unless the bank switches it on. It refines the
    # five-tier class, never changes it: provisions, ratios and reports stay on the five tiers.
    "classification.ten_grade.enabled": False,
    # Normal 1-3: how often the loan fell overdue (active -> overdue events) in the last ``lookback_days``.
    "classification.ten_grade.lookback_days": 365,
    "classification.ten_grade.normal_2_overdue_events": 1,
    "classification.ten_grade.normal_3_overdue_events": 3,
    # Special mention 1-3 and substandard 1-2: today's DPD above the figure.
    "classification.ten_grade.special_mention_2_dpd": 30,
    "classification.ten_grade.special_mention_3_dpd": 60,
    "classification.ten_grade.substandard_2_dpd": 180,
}

#: The ten grades in order of severity, each with the five-tier class it refines.
TEN_GRADES = ("normal_1", "normal_2", "normal_3", "special_mention_1", "special_mention_2", "special_mention_3",
              "substandard_1", "substandard_2", "doubtful", "loss")


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


def ten_grade(risk_class: str, dpd: int, overdue_events: int, values: dict[str, Any]) -> str:
    """The ten-grade sub-class (正常1–3, 关注1–3, 次级1–2, 可疑, 损失) of a loan in five-tier ``risk_class``.

    Normal loans are graded by their repayment record: ``overdue_events`` (times they fell overdue in the
    look-back window) at or above ``normal_2`` / ``normal_3`` events. Special mention and substandard loans by
    today's DPD above the configured figures (a loan held in its class by restructuring or a manual floor with
    DPD 0 is the first grade). Doubtful and loss have one grade each.
    """
    def figure(name: str) -> int:
        return int(values[f"classification.ten_grade.{name}"])

    if risk_class == "normal":
        if overdue_events >= figure("normal_3_overdue_events"):
            return "normal_3"
        return "normal_2" if overdue_events >= figure("normal_2_overdue_events") else "normal_1"
    if risk_class == "special_mention":
        if dpd > figure("special_mention_3_dpd"):
            return "special_mention_3"
        return "special_mention_2" if dpd > figure("special_mention_2_dpd") else "special_mention_1"
    if risk_class == "substandard":
        return "substandard_2" if dpd > figure("substandard_2_dpd") else "substandard_1"
    if risk_class in ("doubtful", "loss"):
        return risk_class
    raise ValueError(f"not a risk class: {risk_class!r}")
