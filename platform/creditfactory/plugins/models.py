"""Per bank: which plugins are on and their configuration. Shared: plugin failures, for administrators."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..db import SharedBase, TenantBase


class PluginSetting(TenantBase):
    """One plugin's state in one bank: enabled or not, and its configuration (valid against the plugin's schema)."""

    __tablename__ = "plugin_setting"

    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class PluginFailure(SharedBase):
    """A plugin hook call that raised or timed out, kept for the head office's plugin page."""

    __tablename__ = "plugin_failure"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plugin: Mapped[str] = mapped_column(String(100), index=True)
    hook: Mapped[str] = mapped_column(String(100))
    #: Slug of the bank the call was made for; empty at start-up.
    tenant: Mapped[str] = mapped_column(String(31), default="")
    #: "error", "timeout" or "load".
    kind: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
