"""A village bank's customers, their related parties, documents and consents (DOMAIN §1.1–1.2, §4.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer,
                        Numeric, String, Text, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

_JSONB = JSON().with_variant(JSONB(), "postgresql")

#: Kinds of customer the micro-credit process serves (DOMAIN §4.3).
CUSTOMER_KINDS = ("individual", "household", "micro_enterprise")
#: Kinds that are natural persons (a household is represented by its head).
PERSON_KINDS = ("individual", "household")
MARITAL_STATUSES = ("single", "married", "divorced", "widowed")
GENDERS = ("male", "female")
PARTY_ROLES = ("spouse", "co_borrower", "guarantor", "shareholder", "legal_representative")
DOCUMENT_TYPES = ("id_card", "business_licence", "site_photo", "bank_statement", "contract", "other")
CONSENT_PURPOSES = ("credit_assessment", "bureau_query", "bureau_reporting", "bank_statement_analysis", "marketing",
                    "biometric_verification", "recording", "guarantor_data_sharing")
CONSENT_TYPES = ("general", "separate", "written")
CONSENT_CHANNELS = ("app", "paper_scan", "face_sign", "branch")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Customer(TenantBase):
    """An individual business owner (个体工商户), a household (农户) or a micro enterprise (小微企业).

    Identifiers are stored sealed with the tenant's data key (``*_sealed``) beside their keyed blind index
    (``*_index``), never in clear; see ``creditfactory.privacy``. One ID number / USCC is one customer per bank.
    """

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(_in("kind", CUSTOMER_KINDS), name="kind"),
        CheckConstraint(f"marital_status IS NULL OR {_in('marital_status', MARITAL_STATUSES)}", name="marital_status"),
        CheckConstraint(f"gender IS NULL OR {_in('gender', GENDERS)}", name="gender"),
        CheckConstraint("years_in_business IS NULL OR years_in_business BETWEEN 0 AND 100", name="years_in_business"),
        CheckConstraint("household_members IS NULL OR household_members BETWEEN 1 AND 50", name="household_members"),
        CheckConstraint("(resident_id_sealed IS NULL) = (resident_id_index IS NULL)", name="resident_id_pair"),
        CheckConstraint("(uscc_sealed IS NULL) = (uscc_index IS NULL)", name="uscc_pair"),
        CheckConstraint("(mobile_sealed IS NULL) = (mobile_index IS NULL)", name="mobile_pair"),
        # Duplicate detection's last line: the services refuse with a clear message before these are hit.
        Index("ix_customer_resident_id_index", "resident_id_index", unique=True),
        Index("ix_customer_uscc_index", "uscc_index", unique=True),
        Index("ix_customer_mobile_index", "mobile_index"),
        Index("ix_customer_officer_user_id", "officer_user_id"),
        Index("ix_customer_created_by_user_id", "created_by_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: The person's or enterprise's name as on the ID document or business licence.
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resident_id_sealed: Mapped[str | None] = mapped_column(Text)
    resident_id_index: Mapped[str | None] = mapped_column(String(64))
    uscc_sealed: Mapped[str | None] = mapped_column(Text)
    uscc_index: Mapped[str | None] = mapped_column(String(64))
    mobile_sealed: Mapped[str | None] = mapped_column(Text)
    mobile_index: Mapped[str | None] = mapped_column(String(64))
    #: Derived from the resident ID (GB 11643 digits 7–14 and 17), never typed.
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(10))
    #: Where the customer lives or trades (经营地址); shown masked without pii.read.
    address: Mapped[str | None] = mapped_column(String(300))
    #: Registered address (户籍地址 / 注册地址).
    registered_address: Mapped[str | None] = mapped_column(String(300))
    #: Industry code of GB/T 4754 (国民经济行业分类): a section letter, optionally followed by 2–4 digits.
    sector_code: Mapped[str | None] = mapped_column(String(5))
    years_in_business: Mapped[int | None] = mapped_column(Integer)
    household_members: Mapped[int | None] = mapped_column(Integer)
    marital_status: Mapped[str | None] = mapped_column(String(10))
    #: A micro enterprise's legal representative's name, as on the licence (the person is a related party).
    legal_representative_name: Mapped[str | None] = mapped_column(String(200))
    #: The loan officer the customer is assigned to, and who registered the customer (cf_shared user ids).
    officer_user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by_user_id: Mapped[int | None] = mapped_column(BigInteger)


class RelatedParty(TenantBase):
    """A person or enterprise related to a customer in a typed role: another customer, or a person record."""

    __tablename__ = "customer_related_party"
    __table_args__ = (
        CheckConstraint(_in("role", PARTY_ROLES), name="role"),
        CheckConstraint("(related_customer_id IS NULL) <> (name IS NULL)", name="customer_or_person"),
        CheckConstraint("(resident_id_sealed IS NULL) = (resident_id_index IS NULL)", name="resident_id_pair"),
        CheckConstraint("(mobile_sealed IS NULL) = (mobile_index IS NULL)", name="mobile_pair"),
        CheckConstraint("share_percent IS NULL OR (share_percent > 0 AND share_percent <= 100)", name="share_percent"),
        Index("ix_customer_related_party_customer_id", "customer_id"),
        Index("ix_customer_related_party_related_customer_id", "related_customer_id"),
        Index("ix_customer_related_party_resident_id_index", "resident_id_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(30))
    related_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    #: A person record's name (when the party is not a customer).
    name: Mapped[str | None] = mapped_column(String(200))
    resident_id_sealed: Mapped[str | None] = mapped_column(Text)
    resident_id_index: Mapped[str | None] = mapped_column(String(64))
    mobile_sealed: Mapped[str | None] = mapped_column(Text)
    mobile_index: Mapped[str | None] = mapped_column(String(64))
    #: A shareholder's share of the enterprise, in percent.
    share_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerDocument(TenantBase):
    """A file about a customer, kept in the file store under its SHA-256 (``creditfactory.files``)."""

    __tablename__ = "customer_document"
    __table_args__ = (
        CheckConstraint(_in("doc_type", DOCUMENT_TYPES), name="doc_type"),
        CheckConstraint("size_bytes > 0", name="size_bytes"),
        Index("ix_customer_document_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    doc_type: Mapped[str] = mapped_column(String(30))
    #: The name the file was uploaded with (shown, never used as a path).
    filename: Mapped[str] = mapped_column(String(200))
    #: Sniffed from the content, not taken from the upload's headers.
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Consent(TenantBase):
    """A customer's consent to one purpose of processing (DOMAIN §4.3 ConsentRecord)."""

    __tablename__ = "customer_consent"
    __table_args__ = (
        CheckConstraint(_in("purpose", CONSENT_PURPOSES), name="purpose"),
        CheckConstraint(_in("consent_type", CONSENT_TYPES), name="consent_type"),
        CheckConstraint(_in("channel", CONSENT_CHANNELS), name="channel"),
        CheckConstraint("expires_at IS NULL OR expires_at > granted_at", name="expiry_after_grant"),
        CheckConstraint("evidence_document_id IS NOT NULL OR evidence_signature IS NOT NULL", name="evidence"),
        CheckConstraint("(withdrawn_at IS NULL) = (withdrawal_reason IS NULL)", name="withdrawal_reason"),
        Index("ix_customer_consent_customer_id_purpose", "customer_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    #: What the consent covers, in the customer's words as on the notice (e.g. "征信报告查询，用于本次贷款审批").
    scope: Mapped[str] = mapped_column(String(500))
    data_categories: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_type: Mapped[str] = mapped_column(String(10))
    #: Who receives the data (PIPL art. 23), e.g. a guarantor's name for guarantor data sharing.
    recipients: Mapped[list[str]] = mapped_column(_JSONB, default=list)
    notice_version: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    evidence_document_id: Mapped[int | None] = mapped_column(ForeignKey("customer_document.id"))
    #: A signature record (e-signature id, face-sign session reference) when the evidence is no stored document.
    evidence_signature: Mapped[str | None] = mapped_column(String(300))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    captured_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    captured_by: Mapped[str] = mapped_column(String(100))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
    withdrawal_channel: Mapped[str | None] = mapped_column(String(20))
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}

