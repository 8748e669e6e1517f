"""Regulator reports (DOMAIN §3.2–3.3), per legal entity (tenant) and consolidated, as of a date.

Each tenant's figures are computed with set-based SQL over its own schema by the daily snapshot job and stored
in ``cf_shared.regulatory_snapshot`` (one JSON document per tenant and business date), so a report as of a past
date is the stored one and the consolidated report reads 34 small documents instead of 34 loan books. The
documents hold aggregates only; the one loan-level section the report defines, the largest borrowers (G14), names
borrowers by their internal customer id and kind, never by name or identity number.

Sections (the keys of a document):

``five_tier``       (G11-like) per class: loans, balance.
``ratios``          gross loans, NPL balance and ratio, provisions, provision coverage, loan-provision ratio,
                    each with its limit from the tenant's capital record and a ``breach`` flag.
``concentration``   (G14-like) net capital, the ten largest borrowers' balances and share of net capital, flagged
                    over the single-borrower limit (village banks 5%); top-ten share.
``par_buckets``     DPD buckets 0, 1–30, 31–60, 61–90, 91–180, 181–270, 271–360, >360: loans, balance.
``inclusive``       普惠型小微: borrowers whose total balance ≤ 10M yuan (individuals, households, micro
                    enterprises): borrowers, loans, balance, balance-weighted average rate.
``interest_rates``  annual rate buckets (<6%, 6–10%, 10–15%, 15–20%, 20–24%, ≥24%): loans, balance.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..lending.classification.models import CLASSES, NPL_CLASSES
from ..lending.customers.models import CUSTOMER_KINDS
from .kpis import OPEN_STATES

PAR_BUCKETS = (("0", 0, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91-180", 91, 180),
               ("181-270", 181, 270), ("271-360", 271, 360), (">360", 361, None))
RATE_BUCKETS = (("<6%", None, "0.06"), ("6-10%", "0.06", "0.10"), ("10-15%", "0.10", "0.15"),
                ("15-20%", "0.15", "0.20"), ("20-24%", "0.20", "0.24"), (">=24%", "0.24", None))
INCLUSIVE_CEILING = Decimal("10000000")
#: Every customer kind the platform knows is a person, a household or a micro enterprise: all qualify.
INCLUSIVE_KINDS = CUSTOMER_KINDS
SECTIONS = ("five_tier", "ratios", "concentration", "par_buckets", "inclusive", "interest_rates")


def _q(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _ratio(a, b) -> str | None:
    return None if not b else str((Decimal(a) / Decimal(b)).quantize(Decimal("0.000001")))


def compute(session: Session, capital: dict[str, Any]) -> dict[str, Any]:
    """The regulator document of the session's tenant as its loan book stands now (tenant session)."""
    params = {"open": list(OPEN_STATES)}
    open_loans = "FROM loan_account l WHERE l.state = ANY(CAST(:open AS text[]))"
    by_class = {c: (0, Decimal(0)) for c in CLASSES}
    for cls, n, balance in session.execute(text(
            f"SELECT risk_class, count(*), coalesce(sum(principal_outstanding), 0) {open_loans} GROUP BY risk_class"),
            params):
        by_class[cls] = (n, balance)
    gross = sum((b for _, b in by_class.values()), Decimal(0))
    npl = sum((by_class[c][1] for c in NPL_CLASSES), Decimal(0))
    provisions = session.execute(text(
        "SELECT coalesce(sum(credit - debit), 0) FROM journal_line WHERE account_code = '1304'")).scalar()

    def limit(value: str | None, bound, above: bool) -> dict[str, Any]:
        breach = None if value is None else (Decimal(value) > bound if above else Decimal(value) < bound)
        return {"value": value, "limit": str(bound), "breach": breach}

    ratios = {
        "gross_loans": _q(gross), "npl_balance": _q(npl), "provisions": _q(provisions),
        "npl_ratio": limit(_ratio(npl, gross), capital["npl_ratio_limit"], True),
        "provision_coverage": limit(_ratio(provisions, npl), capital["provision_coverage_min"], False),
        "loan_provision_ratio": limit(_ratio(provisions, gross), capital["loan_provision_ratio_min"], False),
    }

    net_capital = capital["net_capital"]
    single_limit = Decimal(capital["single_borrower_limit"])
    largest = []
    for customer_id, kind, n, balance in session.execute(text(
            f"""SELECT l.customer_id, c.kind, count(*), sum(l.principal_outstanding) AS balance
                {open_loans.replace('FROM loan_account l', 'FROM loan_account l JOIN customer c ON c.id = l.customer_id')}
                GROUP BY l.customer_id, c.kind ORDER BY balance DESC, l.customer_id LIMIT 10"""), params):
        share = _ratio(balance, net_capital) if net_capital else None
        largest.append({"customer_id": customer_id, "customer_kind": kind, "loans": n, "balance": _q(balance),
                        "share_of_net_capital": share,
                        "breach": None if share is None else Decimal(share) > single_limit})
    top10 = sum((Decimal(b["balance"]) for b in largest), Decimal(0))
    concentration = {
        "net_capital": None if net_capital is None else _q(net_capital),
        "single_borrower_limit": str(single_limit), "largest_borrowers": largest,
        "top10_balance": _q(top10), "top10_share_of_net_capital": _ratio(top10, net_capital) if net_capital else None,
        "breaches": sum(1 for b in largest if b["breach"]),
    }

    par_cases = " ".join(
        f"WHEN dpd BETWEEN {lo} AND {hi} THEN '{name}'" if hi is not None else f"WHEN dpd >= {lo} THEN '{name}'"
        for name, lo, hi in PAR_BUCKETS)
    par = {name: {"loans": 0, "balance": "0.00"} for name, _, _ in PAR_BUCKETS}
    for name, n, balance in session.execute(text(
            f"SELECT CASE {par_cases} END AS bucket, count(*), sum(principal_outstanding) {open_loans} GROUP BY 1"),
            params):
        par[name] = {"loans": n, "balance": _q(balance)}

    inclusive = session.execute(text(
        f"""WITH per_borrower AS (
                SELECT l.customer_id, sum(l.principal_outstanding) AS total {open_loans} GROUP BY l.customer_id)
            SELECT count(DISTINCT l.customer_id), count(*), coalesce(sum(l.principal_outstanding), 0),
                   sum(l.annual_rate * l.principal_outstanding) / nullif(sum(l.principal_outstanding), 0)
            FROM loan_account l JOIN customer c ON c.id = l.customer_id
            JOIN per_borrower b ON b.customer_id = l.customer_id
            WHERE l.state = ANY(CAST(:open AS text[])) AND b.total <= :ceiling
              AND c.kind = ANY(CAST(:kinds AS text[]))"""),
        {**params, "ceiling": INCLUSIVE_CEILING, "kinds": list(INCLUSIVE_KINDS)}).one()

    rate_cases = " ".join(
        "WHEN " + " AND ".join(p for p in (lo and f"annual_rate >= {lo}", hi and f"annual_rate < {hi}") if p)
        + f" THEN '{name}'" for name, lo, hi in RATE_BUCKETS)
    rates = {name: {"loans": 0, "balance": "0.00"} for name, _, _ in RATE_BUCKETS}
    for name, n, balance in session.execute(text(
            f"SELECT CASE {rate_cases} END, count(*), sum(principal_outstanding) {open_loans} GROUP BY 1"), params):
        rates[name] = {"loans": n, "balance": _q(balance)}

    return {
        "five_tier": {c: {"loans": n, "balance": _q(b), "share": _ratio(b, gross)} for c, (n, b) in by_class.items()},
        "ratios": ratios,
        "concentration": concentration,
        "par_buckets": par,
        "inclusive": {"borrowers": inclusive[0], "loans": inclusive[1], "balance": _q(inclusive[2]),
                      "average_rate": None if inclusive[3] is None else str(Decimal(inclusive[3]).quantize(
                          Decimal("0.000001")))},
        "interest_rates": rates,
    }


def consolidate(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Management view over several legal entities: sums of counts and balances, ratios recomputed from the sums;
    concentration stays per entity (each bank's own capital), listed by tenant."""
    def add(section: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for doc in documents.values():
            for key, row in doc[section].items():
                acc = out.setdefault(key, {"loans": 0, "balance": Decimal(0)})
                acc["loans"] += row["loans"]
                acc["balance"] += Decimal(row["balance"])
        return {k: {"loans": v["loans"], "balance": _q(v["balance"])} for k, v in out.items()}

    five_tier = add("five_tier")
    gross = sum((Decimal(d["ratios"]["gross_loans"]) for d in documents.values()), Decimal(0))
    npl = sum((Decimal(d["ratios"]["npl_balance"]) for d in documents.values()), Decimal(0))
    provisions = sum((Decimal(d["ratios"]["provisions"]) for d in documents.values()), Decimal(0))
    for row in five_tier.values():
        row["share"] = _ratio(row["balance"], gross)
    inclusive_balance = sum((Decimal(d["inclusive"]["balance"]) for d in documents.values()), Decimal(0))
    weighted = sum((Decimal(d["inclusive"]["average_rate"]) * Decimal(d["inclusive"]["balance"])
                    for d in documents.values() if d["inclusive"]["average_rate"] is not None), Decimal(0))
    return {
        "five_tier": five_tier,
        "ratios": {"gross_loans": _q(gross), "npl_balance": _q(npl), "provisions": _q(provisions),
                   "npl_ratio": _ratio(npl, gross), "provision_coverage": _ratio(provisions, npl),
                   "loan_provision_ratio": _ratio(provisions, gross)},
        "concentration": {slug: {"net_capital": d["concentration"]["net_capital"],
                                 "largest_share": (d["concentration"]["largest_borrowers"] or [{}])[0].get(
                                     "share_of_net_capital"),
                                 "breaches": d["concentration"]["breaches"]}
                          for slug, d in sorted(documents.items())},
        "par_buckets": add("par_buckets"),
        "inclusive": {"borrowers": sum(d["inclusive"]["borrowers"] for d in documents.values()),
                      "loans": sum(d["inclusive"]["loans"] for d in documents.values()),
                      "balance": _q(inclusive_balance),
                      "average_rate": _ratio(weighted, inclusive_balance)},
        "interest_rates": add("interest_rates"),
    }


def flatten(value: Any) -> list[tuple[str, str, str]]:
    """One section's figures as (item, measure, value) rows: nested keys joined with dots, list entries numbered."""
    out: list[tuple[str, str, str]] = []

    def walk(item: str, inner: Any) -> None:
        if isinstance(inner, dict):
            for key, deeper in inner.items():
                walk(f"{item}.{key}" if item else str(key), deeper)
        elif isinstance(inner, list):
            for i, deeper in enumerate(inner, 1):
                walk(f"{item}.{i}", deeper)
        else:
            head, _, measure = item.rpartition(".")
            out.append((head, measure, "" if inner is None else str(inner)))

    walk("", value)
    return out


def rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The report flattened to (section, item, measure, value) rows: the CSV and XLSX layout."""
    out: list[tuple[str, str, str, str]] = []
    for tenant, document in report["tenants"].items():
        for section in SECTIONS:
            out += [(f"{tenant}:{section}", *row) for row in flatten(document[section])]
    for section in SECTIONS:
        out += [(f"consolidated:{section}", *row) for row in flatten(report["consolidated"][section])]
    return out


HEADER = ("section", "item", "measure", "value")


def to_csv(report: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("as_of", report["as_of"], "", ""))
    writer.writerow(HEADER)
    writer.writerows(rows(report))
    return buffer.getvalue().encode("utf-8-sig")  # BOM: spreadsheet programs then read Chinese names right


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("report")
    sheet.append(["as_of", report["as_of"]])
    sheet.append(list(HEADER))
    for row in rows(report):
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


