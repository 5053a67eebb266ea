"""Counting events per hour, per day of lead time and per hour of day (report, dashboard)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

LEAD_CAP_DAYS = 60  # lead-time histograms: the last bar holds this many days and more
_HOUR_US = 3_600_000_000


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def hour_range(daily: pl.DataFrame, start: str, end: str) -> tuple[datetime | None, int]:
    """First hour and number of hours: the days with data, clipped to ``start``/``end``."""
    if daily.is_empty():
        return None, 0
    lo = datetime.combine(daily["date"].min(), datetime.min.time())
    hi = datetime.combine(daily["date"].max(), datetime.min.time()) + timedelta(days=1)
    s, e = _parse(start), _parse(end)
    if s is not None and s > lo:
        lo = s.replace(minute=0, second=0, microsecond=0)
    if e is not None and e < hi:
        hi = e
    return lo, max(0, -(-int((hi - lo).total_seconds()) // 3600))


def per_hour(ev: pl.DataFrame, key: str, lo: datetime | None, n: int) -> dict:
    """``{(group, event): counts per hour}``."""
    if lo is None or not n or ev.is_empty():
        return {}
    lo_us = int((lo - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    hours = (pl.col("detected").cast(pl.Int64) - lo_us) // _HOUR_US
    grouped = (
        ev.with_columns(hours.alias("h"))
        .filter((pl.col("h") >= 0) & (pl.col("h") < n))
        .group_by(key, "event")
        .agg(pl.col("h"))
    )
    return {
        (group, event): np.bincount(np.asarray(h, dtype=np.int64), minlength=n)
        for group, event, h in grouped.iter_rows()
    }


def lead_counts(booked: pl.DataFrame) -> np.ndarray:
    """Appointments per day of lead time (the last bin: ``LEAD_CAP_DAYS`` and more)."""
    days = booked["lead_minutes"].to_numpy() // 1440
    return np.bincount(np.clip(days, 0, LEAD_CAP_DAYS), minlength=LEAD_CAP_DAYS + 1)


def hour_counts(frame: pl.DataFrame, col: str) -> np.ndarray:
    """Rows per hour of day of a datetime column."""
    return np.bincount(frame[col].dt.hour().to_numpy().astype(np.int64), minlength=24)
