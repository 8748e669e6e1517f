"""E-contracts, their parties and signatures, the tenant's platform signing key, and recording sessions (双录)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text,
    UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ...db import TenantBase

CONTRACT_STATUSES = ("DRAFT", "SENT", "PARTIALLY_SIGNED", "SIGNED", "VOIDED")
PARTY_ROLES = ("borrower", "co_borrower", "guarantor", "spouse", "lender")
SIGNATURE_METHODS = ("face_signing", "e_signature")
RECORDING_SUBJECTS = ("LOAN_SIGNING", "PRODUCT_SALE")
QC_STATUSES = ("PENDING", "PASSED", "FAILED")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SigningKey(TenantBase):
    """The tenant's platform signing key (Ed25519): the private key sealed with the tenant's data key."""

    __tablename__ = "contract_signing_key"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        Index("uq_contract_signing_key_active", "status", unique=True, postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(20))
    public_key_pem: Mapped[str] = mapped_column(Text)
    #: ``nonce || AES-GCM(data key, raw private key)``, bound to the tenant and this purpose.
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_key.id"))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RecordingSession(TenantBase):
    """A face-signing / dual-recording session (DOMAIN §2.3 ``RecordingSession``)."""

    __tablename__ = "recording_session"
    __table_args__ = (
        CheckConstraint(_in("subject_type", RECORDING_SUBJECTS), name="subject_type"),
        CheckConstraint(_in("qc_status", QC_STATUSES), name="qc_status"),
        CheckConstraint("qc_status = 'PENDING' OR qc_reviewer_id IS NOT NULL", name="qc_reviewer"),
        Index("ix_recording_session_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    staff_ids: Mapped[list[int]] = mapped_column(JSONB)
    customer_ids: Mapped[list[int]] = mapped_column(JSONB)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    media_key: Mapped[str] = mapped_column(String(200))
    media_sha256: Mapped[str] = mapped_column(String(64))
    media_content_type: Mapped[str] = mapped_column(String(60))
    script_version: Mapped[str] = mapped_column(String(40))
    risk_disclosures_read: Mapped[list[str]] = mapped_column(JSONB)
    customer_confirmations: Mapped[list[str]] = mapped_column(JSONB)
    location: Mapped[str] = mapped_column(String(200), server_default="")
    device_id: Mapped[str] = mapped_column(String(100), server_default="")
    recorded_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    qc_status: Mapped[str] = mapped_column(String(10), server_default="PENDING")
    qc_reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    qc_note: Mapped[str] = mapped_column(Text, server_default="")
    qc_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retention_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EContract(TenantBase):
    """A rendered loan contract (DOMAIN §2.3 ``EContract``): the PDF in the file store and its SHA-256."""

    __tablename__ = "e_contract"
    __table_args__ = (
        CheckConstraint(_in("status", CONTRACT_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        # One live contract per application; a voided one may be replaced.
        Index("uq_e_contract_application_live", "application_id", unique=True,
              postgresql_where=text("status <> 'VOIDED'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_application.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(80))
    template_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    term_months: Mapped[int] = mapped_column(Integer)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    repayment_method: Mapped[str] = mapped_column(String(30))
    start_date: Mapped[dt.date] = mapped_column(Date)
    #: The calculator's schedule as signed (``Schedule.as_dict()``): what the loan is opened with.
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    file_key: Mapped[str] = mapped_column(String(200))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), server_default="DRAFT")
    recording_session_id: Mapped[int | None] = mapped_column(ForeignKey("recording_session.id"), nullable=True)
    prepared_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ContractParty(TenantBase):
    """Who signs: the borrower and related parties that are customers (``customer_id``), related persons without a
    customer record (``related_party_id``: a spouse or a natural-person guarantor), and the bank as lender."""

    __tablename__ = "contract_party"
    __table_args__ = (
        CheckConstraint(_in("role", PARTY_ROLES), name="role"),
        CheckConstraint("(role = 'lender') = (customer_id IS NULL AND related_party_id IS NULL)",
                        name="lender_is_the_bank"),
        CheckConstraint("customer_id IS NULL OR related_party_id IS NULL", name="customer_or_person"),
        UniqueConstraint("contract_id", "role", "customer_id"),
        UniqueConstraint("contract_id", "role", "related_party_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("e_contract.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    related_party_id: Mapped[int | None] = mapped_column(ForeignKey("customer_related_party.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))


class ContractSignature(TenantBase):
    """One party's signature: the signer's statement over the contract's SHA-256, signed by a signer provider."""

    __tablename__ = "contract_signature"
    __table_args__ = (
        CheckConstraint(_in("method", SIGNATURE_METHODS), name="method"),
        UniqueConstraint("party_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("e_contract.id", ondelete="CASCADE"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("contract_party.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(20))
    ca_provider: Mapped[str] = mapped_column(String(40))
    cert_serial: Mapped[str] = mapped_column(String(100))
    signed_hash: Mapped[str] = mapped_column(String(64))
    #: The exact bytes signed (canonical JSON: contract, party, hash, time, method, witness).
    statement: Mapped[str] = mapped_column(Text)
    signature_value: Mapped[str] = mapped_column(Text)
    timestamp_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(100))
