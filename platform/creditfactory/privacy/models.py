"""Each village bank's data keys (数据密钥), stored only wrapped by the platform's master key."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import TenantBase


class DataKeyStatus(str, enum.Enum):
    #: Seals new values; at most one per tenant.
    ACTIVE = "active"
    #: Opens values sealed earlier, seals nothing new.
    RETIRED = "retired"


class DataKey(TenantBase):
    """A tenant's AES-256 data key, as ``AES-GCM(master key, key)`` bound to the tenant's slug."""

    __tablename__ = "data_key"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        # One active key per tenant: concurrent first uses race on this index and all end with the same key.
        Index("ix_data_key_one_active", "status", unique=True, postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: 12-byte nonce followed by the AES-GCM ciphertext and tag of the 32-byte key.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default=DataKeyStatus.ACTIVE.value)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
