"""The signals the platform already holds, per employee and period, each with the evidence behind its value.

Technology: the tenant's audit log (clear personal-data reads ``pii.reveal``, exports, privilege changes of the
employee's login) and the login records (``cf_shared.staff_session``: odd hours in the bank's time zone, devices not
seen before the period). Portfolio risk: the loans whose application names the employee's user as officer (NPL ratio,
first-instalment defaults, balance lent to customers related to one another). Discipline: recorded findings.
Outside signals come from imports (``services.import_signals``), never from here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ...audit.models import AuditEntry
from ...db import TenantRef, shared_session
from ...identity.models import StaffSession, User
from ...lending.classification.models import NPL_CLASSES
from ...tenancy.models import Tenant
from .models import EmployeeRiskFinding

#: Local hours counted as odd for a login: before 07:00 or from 22:00 (in the bank's time zone).
ODD_HOURS = frozenset(range(0, 7)) | frozenset(range(22, 24))
PRIVILEGE_ACTIONS = ("membership.grant", "membership.revoke")
#: How far back a device counts as known, and how far back discipline points accumulate (违规积分 run by year).
DEVICE_MEMORY_DAYS = 180
DISCIPLINE_WINDOW_DAYS = 365
EVIDENCE_ITEMS = 20
RATIO = Decimal("0.0001")


@dataclass
class Signal:
    """One measured value and the items that prove it (truncated to ``EVIDENCE_ITEMS``, the count is kept)."""

    value: Decimal
    source: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        return {"source": self.source, "count": len(self.items), "items": self.items[:EVIDENCE_ITEMS]}


@dataclass(frozen=True)
class Person:
    employee_id: int
    user_id: int | None
    username: str | None


def _window(start: dt.date, end: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The period as instants: from local midnight of ``start`` to local midnight after ``end``."""
    return (dt.datetime.combine(start, dt.time(), zone),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone))


def _audit_items(session: Session, condition, since: dt.datetime, until: dt.datetime) -> dict[str, list[dict]]:
    rows = session.execute(select(AuditEntry.actor, AuditEntry.seq, AuditEntry.at, AuditEntry.action,
                                  AuditEntry.object_type, AuditEntry.object_id)
                           .where(condition, AuditEntry.at >= since, AuditEntry.at < until)
                           .order_by(AuditEntry.seq)).all()
    out: dict[str, list[dict]] = defaultdict(list)
    for actor, seq, at, action, object_type, object_id in rows:
        out[actor].append({"audit_seq": seq, "at": at.isoformat(), "action": action,
                           "object": f"{object_type}:{object_id}"})
    return out


def technology(session: Session, tenant: TenantRef, people: list[Person], start: dt.date,
               end: dt.date) -> dict[int, dict[str, Signal]]:
    zone = ZoneInfo(tenant.timezone)
    since, until = _window(start, end, zone)
    reveals = _audit_items(session, AuditEntry.action == "pii.reveal", since, until)
    # Every export the platform audits is named "<thing>.export…" (tenant.export, report exports).
    exports = _audit_items(session, AuditEntry.action.like("%.export%"), since, until)
    privileges = session.execute(select(AuditEntry.object_id, AuditEntry.seq, AuditEntry.at, AuditEntry.action,
                                        AuditEntry.actor, AuditEntry.after)
                                 .where(AuditEntry.action.in_(PRIVILEGE_ACTIONS), AuditEntry.object_type == "user",
                                        AuditEntry.at >= since, AuditEntry.at < until)
                                 .order_by(AuditEntry.seq)).all()
    granted: dict[str, list[dict]] = defaultdict(list)
    for username, seq, at, action, actor, after in privileges:
        granted[username].append({"audit_seq": seq, "at": at.isoformat(), "action": action, "by": actor,
                                  "after": after})
    logins = _logins(tenant, [p.user_id for p in people if p.user_id], since - dt.timedelta(days=DEVICE_MEMORY_DAYS),
                     until)
    out: dict[int, dict[str, Signal]] = {}
    for person in people:
        actor = str(person.user_id) if person.user_id else None
        odd, new_devices, seen = [], [], set()
        for login in logins.get(person.user_id, []):
            device = login["user_agent"] or "?"
            if login["at"] < since:
                seen.add(device)
                continue
            item = {"session": login["id"], "at": login["at"].isoformat(), "ip": login["ip"], "device": device}
            if login["at"].astimezone(zone).hour in ODD_HOURS:
                odd.append(item)
            if device not in seen:
                seen.add(device)
                new_devices.append(item)
        signals = {
            "tech.odd_hour_logins": Signal(Decimal(len(odd)), "staff_session", odd),
            "tech.new_device_logins": Signal(Decimal(len(new_devices)), "staff_session", new_devices),
            "tech.pii_reveals": Signal(Decimal(len(reveals.get(actor, []))), "audit_log", reveals.get(actor, [])),
            "tech.bulk_exports": Signal(Decimal(len(exports.get(actor, []))), "audit_log", exports.get(actor, [])),
            "tech.privilege_changes": Signal(Decimal(len(granted.get(person.username or "", []))), "audit_log",
                                             granted.get(person.username or "", [])),
        }
        out[person.employee_id] = signals
    return out


def _logins(tenant: TenantRef, user_ids: list[int], since: dt.datetime,
            until: dt.datetime) -> dict[int, list[dict[str, Any]]]:
    if not user_ids:
        return {}
    with shared_session() as shared:
        rows = shared.execute(select(StaffSession.id, StaffSession.user_id, StaffSession.created_at,
                                     StaffSession.ip, StaffSession.user_agent)
                              .join(Tenant, Tenant.id == StaffSession.tenant_id)
                              .where(Tenant.slug == tenant.slug, StaffSession.user_id.in_(user_ids),
                                     StaffSession.created_at >= since, StaffSession.created_at < until)
                              .order_by(StaffSession.created_at)).all()
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for sid, user_id, at, ip, agent in rows:
        out[user_id].append({"id": sid, "at": at, "ip": ip, "user_agent": agent})
    return out


def usernames(user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    with shared_session() as shared:
        return dict(shared.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())


_BOOK = text(f"""
SELECT a.officer_id AS user_id, l.id, l.reference, l.customer_id, l.principal_outstanding AS balance, l.dpd,
       l.risk_class, l.state NOT IN ('settled', 'written_off') AS open,
       EXISTS (SELECT 1 FROM loan_installment i WHERE i.loan_id = l.id AND i.version = 1 AND i.seq = 1
               AND i.due_date < :as_of AND (i.status IN ('overdue', 'partial') OR i.paid_on > i.due_date))
           AS first_default,
       l.risk_class IN ({', '.join(repr(c) for c in NPL_CLASSES)}) AS npl
FROM loan_application a JOIN loan_account l ON l.application_id = a.id
WHERE a.officer_id = ANY(:users)
ORDER BY l.id
""")
#: Pairs of customers linked as related parties (either direction).
_RELATED = text("""
SELECT customer_id, related_customer_id FROM customer_related_party WHERE related_customer_id IS NOT NULL
""")


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(RATIO, ROUND_HALF_UP) if whole else Decimal(0)


def portfolio(session: Session, people: list[Person], as_of: dt.date) -> dict[int, dict[str, Signal]]:
    users = [p.user_id for p in people if p.user_id]
    books: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if users:
        for row in session.execute(_BOOK, {"users": users, "as_of": as_of}).mappings():
            books[row["user_id"]].append(dict(row))
    links: dict[int, set[int]] = defaultdict(set)
    for a, b in session.execute(_RELATED).all():
        links[a].add(b)
        links[b].add(a)
    out: dict[int, dict[str, Signal]] = {}
    for person in people:
        if not person.user_id:
            continue
        book = books.get(person.user_id, [])
        open_loans = [loan for loan in book if loan["open"]]
        balance = sum((Decimal(loan["balance"]) for loan in open_loans), Decimal(0))
        npl = [loan for loan in open_loans if loan["npl"]]
        customers = {loan["customer_id"] for loan in open_loans}
        # Lending to several customers tied to each other concentrates one group's risk on one officer (关联集中).
        related = [loan for loan in open_loans if links.get(loan["customer_id"], set()) & (customers -
                                                                                           {loan["customer_id"]})]
        early = [loan for loan in book if loan["first_default"]]

        def item(loan):
            return {"loan": loan["reference"], "customer_id": loan["customer_id"], "balance": str(loan["balance"]),
                    "dpd": loan["dpd"], "risk_class": loan["risk_class"]}

        out[person.employee_id] = {
            "risk.npl_ratio": Signal(_ratio(sum((Decimal(x["balance"]) for x in npl), Decimal(0)), balance),
                                     "loans", [item(x) for x in npl]),
            "risk.early_defaults": Signal(Decimal(len(early)), "loans", [item(x) for x in early]),
            "risk.related_party_concentration": Signal(
                _ratio(sum((Decimal(x["balance"]) for x in related), Decimal(0)), balance), "loans",
                [item(x) for x in related]),
        }
    return out


def discipline(session: Session, people: list[Person], start: dt.date,
               end: dt.date) -> dict[int, dict[str, Signal]]:
    since = end - dt.timedelta(days=DISCIPLINE_WINDOW_DAYS - 1)
    findings = session.scalars(select(EmployeeRiskFinding).where(EmployeeRiskFinding.found_on >= since,
                                                                 EmployeeRiskFinding.found_on <= end)
                               .order_by(EmployeeRiskFinding.found_on, EmployeeRiskFinding.id)).all()
    by_employee: dict[int, list[EmployeeRiskFinding]] = defaultdict(list)
    for finding in findings:
        by_employee[finding.employee_id].append(finding)
    out = {}
    for person in people:
        mine = by_employee.get(person.employee_id, [])

        def item(f):
            return {"finding": f.id, "kind": f.kind, "found_on": f.found_on.isoformat(), "points": f.points,
                    "reference": f.reference, "description": f.description}

        in_period = [f for f in mine if f.kind == "audit_finding" and start <= f.found_on <= end]
        actions = [f for f in mine if f.kind in ("disciplinary_action", "unauthorised_operation")]
        out[person.employee_id] = {
            "discipline.violation_points": Signal(Decimal(sum(f.points for f in mine)), "findings",
                                                  [item(f) for f in mine if f.points]),
            "discipline.audit_findings": Signal(Decimal(len(in_period)), "findings", [item(f) for f in in_period]),
            "discipline.disciplinary_actions": Signal(Decimal(len(actions)), "findings", [item(f) for f in actions]),
        }
    return out

