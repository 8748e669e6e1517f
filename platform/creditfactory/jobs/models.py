"""What the scheduler remembers: the last slot each periodic job was sent for, per tenant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import SharedBase


class JobSchedule(SharedBase):
    """(job, tenant) -> the latest slot sent; tenant is ``""`` for system jobs."""

    __tablename__ = "job_schedule"

    job: Mapped[str] = mapped_column(String(80), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(31), primary_key=True)
    last_slot: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
