"""Collections and post-loan settings: DOMAIN §2.7–2.8 defaults, overridable per tenant parameter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

DEFAULTS: dict[str, Any] = {
    # Stage by DPD (DOMAIN §2.8): early (M1) 1..mid, mid (M2–M3) mid+1..late, late / NPL above late.
    "collections.stage.mid_dpd": 30,
    "collections.stage.late_dpd": 90,
    # Actions expected in each stage (the work list shows them; the actions log records what was done).
    "collections.actions.early": ["call", "visit"],
    "collections.actions.mid": ["visit", "guarantor_contact", "notice"],
    "collections.actions.late": ["legal", "notice"],
    # Pre-due reminder: this many days before the due date (DOMAIN: −3 to 0).
    "collections.reminder_days": 3,
    # Post-loan inspections (DOMAIN §2.7 suggested defaults): first check within 15 days of disbursement;
    # routine every 90 days for normal loans, 30 for special mention and NPL (with a recovery plan).
    "inspection.first_check_days": 15,
    "inspection.interval_days.normal": 90,
    "inspection.interval_days.special_mention": 30,
    "inspection.interval_days.substandard": 30,
    "inspection.interval_days.doubtful": 30,
    "inspection.interval_days.loss": 30,
    # Early-warning signal that triggers an inspection: DPD above this (DOMAIN §2.7 "DPD > 0").
    "inspection.trigger_dpd": 0,
}


def load(session: Session) -> dict[str, Any]:
    values = dict(DEFAULTS)
    rows = session.execute(text("SELECT key, value FROM tenant_parameter WHERE key LIKE 'collections.%' "
                                "OR key LIKE 'inspection.%'")).all()
    for key, value in rows:
        if key in values:
            values[key] = value
    return values


def stage_for(dpd: int, values: dict[str, Any]) -> str | None:
    if dpd <= 0:
        return None
    if dpd > int(values["collections.stage.late_dpd"]):
        return "late"
    if dpd > int(values["collections.stage.mid_dpd"]):
        return "mid"
    return "early"
