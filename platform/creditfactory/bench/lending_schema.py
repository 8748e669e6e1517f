"""A synthetic tenant schema of lending size, for the provisioning and migration benchmarks.

The real lending models are still being written; benchmarking against the two base tables would
measure almost nothing. This module builds, deterministically, a schema shaped like a village bank's
micro-lending database: **63 tables and 322 explicit indexes** (primary keys and unique constraints
not counted), with the column types the architecture prescribes (``Numeric(20, 2)`` amounts,
``Numeric(12, 8)`` rates, dates, status strings with CHECK constraints, JSONB attributes,
``timestamptz`` audit columns, identity primary keys, foreign keys only to earlier tables of the same
schema) and index kinds a real schema has (foreign-key, composite, partial, expression, GIN and
unique indexes).

The result is an ordinary ``MetaData(schema="tenant", naming_convention=NAMING_CONVENTION)``, so it
goes through exactly the code real tenant models go through (``create_script``, ``provision``).

Why the index counts are allocated the way they are: every foreign key column gets its index (as in
any sensibly designed OLTP schema, and needed for cascades), every table gets the basic access paths,
and the rest are handed out round-robin to the tables with the most candidate indexes first, so hub
tables (loan accounts, customers, installments) end up with the most indexes, as in real life.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import (
    BigInteger, CheckConstraint, Column, Date, DateTime, ForeignKey, Identity, Index, Integer, MetaData,
    Numeric, String, Table, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB

from ..db.base import NAMING_CONVENTION, TENANT_SCHEMA_PLACEHOLDER

#: What the generator promises; the benchmarks check the database agrees after provisioning.
TABLE_COUNT = 63
INDEX_COUNT = 322

#: The table and column the throwaway migration of the ``migrations`` benchmark alters.
MIGRATION_TARGET_TABLE = "loan_account"

#: Every table gets at least this many explicit indexes, foreign-key indexes included (fewer only
#: if its candidate list is shorter).
_BASE_INDEXES = 4


@dataclass(frozen=True)
class _Spec:
    """One table of the synthetic schema, in a compact form the generator expands into columns."""

    name: str
    parents: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    #: Allowed status values; the first ones up to ``open_statuses`` are the "open" ones partial indexes cover.
    statuses: tuple[str, ...] = ()
    open_statuses: int = 1
    #: A business reference (contract number, voucher number) that is unique within the tenant.
    reference: bool = False
    #: A human name searched case-insensitively (expression index on lower(name)).
    named: bool = False
    #: A position within the first parent (installment number, line number): unique (parent, seq_no).
    sequenced: bool = False
    rate: bool = False
    remarks: bool = False


_LIFECYCLE = ("active", "inactive")
_APPLICATION = ("draft", "submitted", "under_review", "approved", "rejected", "withdrawn")
_LOAN = ("pending_disbursement", "active", "in_arrears", "restructured", "closed", "written_off")
_CASE = ("open", "promised", "escalated", "resolved", "closed")
_TASK = ("open", "in_progress", "done", "cancelled")
_MESSAGE = ("queued", "sending", "sent", "failed")
_RUN = ("running", "failed", "completed")
_POSTING = ("pending", "posted", "reversed")
_REVIEW = ("pending", "verified", "rejected")
_FIVE_TIER = ("normal", "special_mention", "substandard", "doubtful", "loss")

# In dependency order: each table's parents are defined before it (foreign keys only point backwards).
_TABLES: tuple[_Spec, ...] = (
    # --- organisation and configuration
    _Spec("branch", statuses=_LIFECYCLE, reference=True, named=True, dates=("opened_on",)),
    _Spec("staff", ("branch",), statuses=_LIFECYCLE, reference=True, named=True, dates=("hired_on",)),
    _Spec("product", amounts=("min_amount", "max_amount"), statuses=("draft", "active", "retired"), open_statuses=2,
          reference=True, named=True, rate=True, dates=("valid_from", "valid_to")),
    _Spec("product_fee", ("product",), amounts=("flat_amount",), rate=True, named=True, statuses=_LIFECYCLE),
    _Spec("product_rate_tier", ("product",), amounts=("amount_from", "amount_to"), rate=True, sequenced=True,
          dates=("valid_from",)),
    _Spec("industry_code", reference=True, named=True, statuses=_LIFECYCLE),
    _Spec("region", reference=True, named=True, statuses=_LIFECYCLE),
    # --- customers and their businesses (IPC analysis)
    _Spec("customer", ("branch", "staff", "region", "industry_code"),
          statuses=("prospect", "active", "blacklisted", "closed"),
          open_statuses=2, reference=True, named=True, dates=("date_of_birth", "onboarded_on"), remarks=True),
    _Spec("customer_contact", ("customer",), statuses=_LIFECYCLE, named=True, dates=("verified_on",)),
    _Spec("customer_address", ("customer", "region"), statuses=_LIFECYCLE, dates=("valid_from",), remarks=True),
    _Spec("customer_document", ("customer",), statuses=_REVIEW, reference=True, dates=("issued_on", "expires_on")),
    _Spec("household_member", ("customer",), named=True, amounts=("monthly_income",), dates=("date_of_birth",)),
    _Spec("business_profile", ("customer", "industry_code"), named=True, amounts=("monthly_turnover",),
          statuses=_LIFECYCLE, dates=("started_on",), remarks=True),
    _Spec("business_site_visit", ("business_profile", "staff"), statuses=("planned", "done", "cancelled"),
          dates=("visit_date",), remarks=True),
    _Spec("balance_sheet", ("business_profile", "staff"), amounts=("total_assets", "total_liabilities", "equity"),
          statuses=("draft", "final"), dates=("as_of",)),
    _Spec("balance_sheet_item", ("balance_sheet",), amounts=("amount",), named=True, sequenced=True),
    _Spec("income_statement", ("business_profile", "staff"), amounts=("revenue", "cost_of_sales", "net_income"),
          statuses=("draft", "final"), dates=("period_start", "period_end")),
    _Spec("income_statement_item", ("income_statement",), amounts=("amount",), named=True, sequenced=True),
    _Spec("cash_flow_projection", ("business_profile",), amounts=("inflow", "outflow", "net_flow"), sequenced=True,
          dates=("month",)),
    # --- origination
    _Spec("loan_application", ("customer", "product", "staff", "branch"),
          amounts=("requested_amount", "approved_amount"),
          statuses=_APPLICATION, open_statuses=3, reference=True, rate=True, dates=("applied_on", "decided_on"),
          remarks=True),
    _Spec("application_note", ("loan_application", "staff"), remarks=True, statuses=_LIFECYCLE),
    _Spec("application_document", ("loan_application",), statuses=_REVIEW, reference=True, dates=("received_on",)),
    _Spec("guarantor", ("loan_application", "customer"), amounts=("guaranteed_amount",), statuses=_REVIEW,
          named=True),
    _Spec("collateral", ("loan_application", "customer"), amounts=("declared_value",), statuses=_REVIEW,
          reference=True, dates=("registered_on",), remarks=True),
    _Spec("collateral_valuation", ("collateral", "staff"), amounts=("market_value", "forced_sale_value"),
          dates=("valued_on",), statuses=_REVIEW),
    _Spec("credit_bureau_report", ("customer", "loan_application"), amounts=("total_outstanding",),
          statuses=("requested", "received", "failed"), reference=True, dates=("requested_on",)),
    _Spec("credit_score", ("loan_application",), amounts=("score_value",), rate=True, dates=("scored_on",)),
    _Spec("decision_rule_run", ("loan_application",), statuses=("pass", "refer", "decline"), dates=("run_on",),
          remarks=True),
    _Spec("credit_committee_meeting", ("branch",), statuses=("scheduled", "held", "cancelled"), reference=True,
          dates=("meeting_date",)),
    _Spec("committee_decision", ("credit_committee_meeting", "loan_application", "staff"),
          amounts=("approved_amount",), statuses=("approved", "rejected", "deferred"), rate=True, remarks=True),
    # --- loan servicing
    _Spec("loan_account", ("loan_application", "customer", "product", "branch", "staff"),
          amounts=("principal_amount", "outstanding_principal", "outstanding_interest", "arrears_amount"),
          statuses=_LOAN, open_statuses=4, reference=True, rate=True,
          dates=("disbursed_on", "maturity_date", "next_due_date"), remarks=True),
    _Spec("loan_disbursement", ("loan_account", "staff"), amounts=("amount",), statuses=_POSTING, reference=True,
          dates=("value_date",)),
    _Spec("repayment_schedule", ("loan_account",), amounts=("total_principal", "total_interest"),
          statuses=("current", "superseded"), dates=("generated_on",)),
    _Spec("schedule_installment", ("repayment_schedule",),
          amounts=("principal_due", "interest_due", "principal_paid", "interest_paid"),
          statuses=("due", "partially_paid", "overdue", "paid"), open_statuses=3, sequenced=True,
          dates=("due_date", "paid_on")),
    _Spec("repayment", ("loan_account", "staff"), amounts=("amount",), statuses=_POSTING, reference=True,
          dates=("value_date",)),
    _Spec("repayment_allocation", ("repayment", "schedule_installment"),
          amounts=("principal_amount", "interest_amount", "penalty_amount")),
    _Spec("interest_accrual", ("loan_account",), amounts=("accrued_amount",), rate=True, dates=("accrual_date",),
          statuses=_POSTING),
    _Spec("penalty_accrual", ("loan_account", "schedule_installment"), amounts=("accrued_amount",), rate=True,
          dates=("accrual_date",), statuses=_POSTING),
    _Spec("fee_charge", ("loan_account", "product_fee"), amounts=("amount", "paid_amount"),
          statuses=("due", "paid", "waived"), dates=("due_date",)),
    _Spec("loan_restructuring", ("loan_account", "staff"), amounts=("new_principal",), rate=True,
          statuses=_APPLICATION, open_statuses=3, dates=("effective_on",), remarks=True),
    _Spec("loan_write_off", ("loan_account", "staff"), amounts=("written_off_amount", "recovered_amount"),
          statuses=("proposed", "approved", "posted"), open_statuses=2, dates=("written_off_on",), remarks=True),
    _Spec("loan_classification", ("loan_account",), statuses=_FIVE_TIER, open_statuses=2, dates=("classified_on",),
          remarks=True),
    _Spec("provision_entry", ("loan_account", "loan_classification"), amounts=("provision_amount",), rate=True,
          dates=("as_of",), statuses=_POSTING),
    # --- collections
    _Spec("collection_case", ("loan_account", "staff"), amounts=("overdue_amount",), statuses=_CASE, open_statuses=3,
          reference=True, dates=("opened_on", "closed_on")),
    _Spec("collection_action", ("collection_case", "staff"), statuses=("planned", "done", "failed"),
          dates=("action_date",), remarks=True),
    _Spec("promise_to_pay", ("collection_case",), amounts=("promised_amount",), statuses=("open", "kept", "broken"),
          dates=("promised_for",)),
    _Spec("field_visit", ("collection_case", "staff", "customer"), statuses=("planned", "done", "cancelled"),
          dates=("visit_date",), remarks=True),
    # --- accounting
    _Spec("gl_account", reference=True, named=True, statuses=_LIFECYCLE),
    _Spec("journal_entry", ("branch", "staff"), amounts=("total_amount",), statuses=_POSTING, reference=True,
          dates=("value_date", "booking_date"), remarks=True),
    _Spec("journal_line", ("journal_entry", "gl_account", "loan_account"), amounts=("debit", "credit"),
          sequenced=True),
    _Spec("cash_till", ("branch", "staff"), amounts=("opening_balance", "closing_balance"),
          statuses=("open", "closed"), dates=("business_date",)),
    _Spec("cash_movement", ("cash_till", "journal_entry"), amounts=("amount",), statuses=_POSTING, sequenced=True),
    _Spec("bank_transfer", ("loan_account", "journal_entry"), amounts=("amount",), statuses=_MESSAGE,
          open_statuses=2, reference=True, dates=("value_date",)),
    # --- close of business
    _Spec("business_day", ("branch",), statuses=("open", "closing", "closed"), open_statuses=2,
          dates=("business_date",)),
    _Spec("cob_run", ("business_day",), statuses=_RUN, dates=("business_date",), remarks=True),
    _Spec("cob_step", ("cob_run",), statuses=_RUN, sequenced=True, named=True),
    # --- communication, work and audit
    _Spec("notification", ("customer",), statuses=_MESSAGE, open_statuses=2, dates=("send_on",)),
    _Spec("sms_message", ("notification",), statuses=_MESSAGE, open_statuses=2, reference=True, remarks=True),
    _Spec("task", ("staff", "customer"), statuses=_TASK, open_statuses=2, dates=("due_date",), remarks=True),
    _Spec("audit_event", ("staff",), named=True, remarks=True),
    _Spec("attachment", ("customer",), reference=True, named=True, statuses=_REVIEW),
    # --- reporting
    _Spec("kpi_daily", ("branch", "product"), amounts=("portfolio_outstanding", "par30_amount", "disbursed_amount"),
          dates=("business_date",)),
    _Spec("regulatory_report", ("branch",), statuses=("draft", "submitted", "accepted", "rejected"), open_statuses=2,
          reference=True, dates=("period_end",), remarks=True),
)


def _quoted_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _table(metadata: MetaData, spec: _Spec) -> tuple[Table, list[Callable[[], Index]]]:
    """The table of ``spec`` and its ordered candidate explicit indexes, as factories (nothing attached yet)."""
    columns: list = [Column("id", BigInteger, Identity(), primary_key=True)]
    for position, parent in enumerate(spec.parents):
        # The first parent is the owner (an installment always belongs to a schedule); the others
        # are optional links (an audit event may have no staff member: a system action).
        columns.append(Column(f"{parent}_id", BigInteger,
                              ForeignKey(f"{TENANT_SCHEMA_PLACEHOLDER}.{parent}.id",
                                         ondelete="CASCADE" if position == 0 and spec.sequenced else None),
                              nullable=position != 0, index=True))
    if spec.sequenced:
        columns.append(Column("seq_no", Integer, nullable=False))
    if spec.reference:
        columns.append(Column("reference", String(40), nullable=False))
    if spec.named:
        columns.append(Column("name", String(200), nullable=False))
    if spec.statuses:
        columns.append(Column("status", String(20), nullable=False, server_default=spec.statuses[0]))
    for amount in spec.amounts:
        columns.append(Column(amount, Numeric(20, 2), nullable=False, server_default=text("0")))
    if spec.rate:
        columns.append(Column("rate", Numeric(12, 8), nullable=True))
    for date in spec.dates:
        columns.append(Column(date, Date, nullable=True))
    if spec.remarks:
        columns.append(Column("remarks", Text, nullable=False, server_default=""))
    columns += [
        Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]
    constraints: list = []
    if spec.reference:
        constraints.append(UniqueConstraint("reference"))
    if spec.statuses:
        constraints.append(CheckConstraint(f"status IN ({_quoted_list(spec.statuses)})", name="status"))
    for amount in spec.amounts:
        if amount.startswith(("outstanding", "arrears", "principal", "amount", "total")):
            constraints.append(CheckConstraint(f"{amount} >= 0", name=f"{amount}_not_negative"))
    table = Table(spec.name, metadata, *columns, *constraints)

    # Candidate explicit indexes, most useful first; the allocator keeps a prefix of this list. They
    # are factories because an Index built on a table's columns attaches itself to the table at once.
    c = table.c
    first_date = spec.dates[0] if spec.dates else None
    owner = f"{spec.parents[0]}_id" if spec.parents else None
    candidates: list[Callable[[], Index]] = []
    add = candidates.append
    if spec.sequenced and owner:
        add(lambda: Index(None, c[owner], c.seq_no, unique=True))
    if spec.statuses:
        # Work queues: "open items, oldest first" is the commonest query of every status table.
        add(lambda: Index(None, c.status, c.created_at))
        if first_date:
            open_values = _quoted_list(spec.statuses[:spec.open_statuses])
            add(lambda: Index(f"ix_{spec.name}_open_{first_date}", c[first_date],
                              postgresql_where=text(f"status IN ({open_values})")))
    if owner and first_date:
        add(lambda: Index(None, c[owner], c[first_date]))
    # The mobile field app syncs "changed since": every table is read by updated_at.
    add(lambda: Index(None, c.updated_at))
    if spec.named:
        add(lambda: Index(f"ix_{spec.name}_name_lower", func.lower(c.name)))
    if spec.amounts:
        last_amount = spec.amounts[-1]
        add(lambda: Index(f"ix_{spec.name}_{last_amount}_nonzero", c[last_amount],
                          postgresql_where=text(f"{last_amount} <> 0")))
    add(lambda: Index(None, c.created_at))
    if len(spec.parents) > 1 and spec.statuses:
        add(lambda: Index(None, c[f"{spec.parents[1]}_id"], c.status))
    for date in spec.dates[1:]:
        add(lambda date=date: Index(None, c[date]))
    # Plugins and regional products query the JSONB attributes by containment.
    add(lambda: Index(f"ix_{spec.name}_attributes_gin", c.attributes, postgresql_using="gin",
                      postgresql_ops={"attributes": "jsonb_path_ops"}))
    if spec.reference and spec.statuses:
        add(lambda: Index(None, c.reference, c.status))
    if spec.rate:
        add(lambda: Index(None, c.rate))
    return table, candidates


def _allocate(candidate_counts: list[int], fk_counts: list[int], total: int) -> list[int]:
    """How many candidates each table keeps so that foreign-key plus explicit indexes sum to ``total``."""
    taken = [min(n, max(0, _BASE_INDEXES - fk)) for n, fk in zip(candidate_counts, fk_counts)]
    remaining = total - sum(taken) - sum(fk_counts)
    if remaining < 0:
        raise ValueError(f"the base allocation already exceeds {total} indexes")
    # Round-robin, tables with the most spare candidates first (ties: schema order), one index per pass.
    order = sorted(range(len(taken)), key=lambda i: (-(candidate_counts[i] - taken[i]), i))
    while remaining:
        progressed = False
        for i in order:
            if remaining and taken[i] < candidate_counts[i]:
                taken[i] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise ValueError(f"not enough candidate indexes to reach {total}")
    return taken


@functools.lru_cache(maxsize=1)
def lending_metadata() -> MetaData:
    """The synthetic lending schema: 63 tables, 322 explicit indexes, schema placeholder ``tenant``.

    Cached: one MetaData per process, so ``create_script``'s per-MetaData compile cache is hit too.
    Treat it as read-only.
    """
    metadata = MetaData(schema=TENANT_SCHEMA_PLACEHOLDER, naming_convention=NAMING_CONVENTION)
    built = [_table(metadata, spec) for spec in _TABLES]
    fk_counts = [len(spec.parents) for spec in _TABLES]
    keep = _allocate([len(candidates) for _, candidates in built], fk_counts, INDEX_COUNT)
    for (table, candidates), count in zip(built, keep):
        for make_index in candidates[:count]:
            make_index()  # attaches itself to the table
    tables, indexes = explicit_counts(metadata)
    if (tables, indexes) != (TABLE_COUNT, INDEX_COUNT):  # a broken edit of _TABLES must not skew the bench
        raise AssertionError(f"synthetic schema has {tables} tables / {indexes} indexes, "
                             f"expected {TABLE_COUNT} / {INDEX_COUNT}")
    return metadata


def explicit_counts(metadata: MetaData) -> tuple[int, int]:
    """(tables, explicit indexes) of ``metadata``.

    Explicit indexes are ``Index`` objects and ``index=True`` columns; primary keys and unique
    constraints (which PostgreSQL also backs with indexes) are not counted.
    """
    return len(metadata.tables), sum(len(table.indexes) for table in metadata.tables.values())


__all__ = ["INDEX_COUNT", "MIGRATION_TARGET_TABLE", "TABLE_COUNT", "explicit_counts", "lending_metadata"]
