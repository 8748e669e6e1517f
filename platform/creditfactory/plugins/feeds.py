"""Industry feeds: reading a feed file, storing its points per bank, and the daily refresh (public plugin API).

The documented feed format, for CSV and XLSX alike (a bank uploads the file or points to it by URL):

=========  ============================================================
column     meaning
=========  ============================================================
``date``   the day the value refers to, ISO ``YYYY-MM-DD`` (XLSX: a date cell also works)
``value``  the observation, a decimal number (``.`` as decimal separator, no thousands separator)
``series`` optional: the series code, when one file carries several feeds
=========  ============================================================

The first row names the columns (any order, case-insensitive); blank lines are skipped; a bad row is refused with
its row number. Plugins call :func:`read_points` from their feed's ``fetch`` and :func:`latest_vs_mean` from facts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Date, DateTime, Numeric, String, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import TenantBase
from ..errors import DomainError
from .types import FeedPoint

log = logging.getLogger(__name__)

#: Largest feed file read, in bytes.
MAX_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 20


class FeedFormatError(DomainError):
    """A feed file does not follow the documented format; the message names the row and the problem."""


class FeedPointRow(TenantBase):
    """One stored observation of one feed in one bank."""

    __tablename__ = "feed_point"

    feed: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    plugin: Mapped[str] = mapped_column(String(100))
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def load_source(source: str | Path | bytes) -> tuple[bytes, str]:
    """(content, name) of a feed given as bytes, a local path, or an ``https://`` / ``http://`` URL."""
    if isinstance(source, bytes):
        return source[:MAX_BYTES + 1], "upload"
    text = str(source)
    scheme = urllib.parse.urlsplit(text).scheme
    if scheme in ("http", "https"):
        with urllib.request.urlopen(text, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - scheme checked above
            return response.read(MAX_BYTES + 1), urllib.parse.urlsplit(text).path
    if scheme not in ("", "file"):
        raise FeedFormatError(f"feed source {text!r}: only https://, http:// or a file path")
    path = Path(urllib.parse.urlsplit(text).path if scheme == "file" else text)
    return path.read_bytes()[:MAX_BYTES + 1], path.name


def read_points(source: str | Path | bytes, *, series: str | None = None) -> list[FeedPoint]:
    """The points of a feed file (CSV or XLSX, by content); with ``series``, only that series' rows."""
    content, name = load_source(source)
    if len(content) > MAX_BYTES:
        raise FeedFormatError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    rows = _xlsx_rows(content) if content[:4] == b"PK\x03\x04" else _csv_rows(content, name)
    try:
        header = [str(cell or "").strip().lower() for cell in next(rows)]
    except StopIteration:
        raise FeedFormatError(f"{name}: empty") from None
    missing = {"date", "value"} - set(header)
    if missing:
        raise FeedFormatError(f"{name}: the first row must name the columns date and value (missing {sorted(missing)})")
    points = []
    for number, row in enumerate(rows, start=2):
        cells = dict(zip(header, row))
        if all(cell in (None, "") for cell in cells.values()):
            continue
        if series is not None and str(cells.get("series") or "").strip() != series:
            continue
        points.append(FeedPoint(_day(cells["date"], name, number), _value(cells["value"], name, number)))
    return sorted(points, key=lambda point: point.day)


def _csv_rows(content: bytes, name: str):
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedFormatError(f"{name}: CSV must be UTF-8") from None
    return iter(csv.reader(io.StringIO(text)))


def _xlsx_rows(content: bytes):
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    return iter(sheet.iter_rows(values_only=True))


def _day(cell: Any, name: str, number: int) -> dt.date:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    try:
        return dt.date.fromisoformat(str(cell).strip())
    except ValueError:
        raise FeedFormatError(f"{name} row {number}: date {cell!r} is not YYYY-MM-DD") from None


def _value(cell: Any, name: str, number: int) -> Decimal:
    try:
        value = Decimal(str(cell).strip())
    except InvalidOperation:
        raise FeedFormatError(f"{name} row {number}: value {cell!r} is not a decimal number") from None
    if not value.is_finite():
        raise FeedFormatError(f"{name} row {number}: value must be a finite number")
    return value


def store_points(session: Session, plugin: str, feed: str, points: list[FeedPoint]) -> int:
    """Upsert ``points`` of ``feed`` in the session's bank; returns how many were written."""
    if not points:
        return 0
    statement = insert(FeedPointRow).values([{"feed": feed, "day": p.day, "value": p.value, "plugin": plugin}
                                             for p in points])
    session.execute(statement.on_conflict_do_update(
        index_elements=[FeedPointRow.feed, FeedPointRow.day],
        set_={"value": statement.excluded.value, "plugin": statement.excluded.plugin, "fetched_at": func.now()}))
    return len(points)


def series(session: Session, feed: str, *, since: dt.date | None = None) -> list[FeedPoint]:
    query = select(FeedPointRow.day, FeedPointRow.value).where(FeedPointRow.feed == feed).order_by(FeedPointRow.day)
    if since is not None:
        query = query.where(FeedPointRow.day >= since)
    return [FeedPoint(day, value) for day, value in session.execute(query)]


def latest_vs_mean(session: Session, feed: str, months: int = 12) -> Decimal | None:
    """The latest value of ``feed`` divided by its mean over the ``months`` before it (4 decimals), or None
    without data: e.g. 1.08 means the price is 8% above its 12-month average."""
    points = series(session, feed)
    if not points:
        return None
    latest = points[-1]
    window_start = latest.day - dt.timedelta(days=round(months * 30.4375))
    window = [p.value for p in points if window_start <= p.day <= latest.day]
    mean = sum(window, Decimal(0)) / len(window)
    return (latest.value / mean).quantize(Decimal("0.0001")) if mean else None


def refresh(session: Session, host: Any, enabled: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Fetch every feed of the bank's enabled plugins and store the points; returns points written per feed.
    Each plugin's fetch runs isolated: a failing source is reported and the other feeds still refresh."""
    written = {}
    for plugin, feeds in host.call("register_industry_feeds", dict(enabled)):
        for feed in feeds or []:
            points = host.run_isolated(plugin, f"fetch:{feed.code}", feed.fetch, enabled.get(plugin, {}))
            if points is not None:
                written[feed.code] = store_points(session, plugin, feed.code, points)
    return written
