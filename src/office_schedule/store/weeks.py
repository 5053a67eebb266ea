"""Reading the store week by week: the ISO weeks of the exchange and metrics files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import numpy as np

from .base import Store

#: families exported in 15-minute buckets (the union of the bucket's snapshots), as published
BUCKETED_FAMILIES = {"impfthueringen": 15}


def week_of(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def week_bounds(year: int, week: int) -> tuple[datetime, datetime]:
    monday = date.fromisocalendar(year, week, 1)
    start = datetime(monday.year, monday.month, monday.day)
    return start, start + timedelta(days=7)


def _bucket(taken_at: str, minutes: int) -> str:
    t = datetime.fromisoformat(taken_at)
    return t.replace(minute=t.minute // minutes * minutes, second=0).strftime("%Y-%m-%d %H:%M:%S")


def week_rows(
    store: Store, source_id: str, family: str | None, year: int, week: int
) -> dict[tuple[str, str], np.ndarray]:
    """{(date, location_id): free minutes} of one source and week, bucketed where published."""
    start, end = week_bounds(year, week)
    fmt = "%Y-%m-%d %H:%M:%S"
    rows: dict[tuple[str, str], np.ndarray] = {}
    bucket = BUCKETED_FAMILIES.get(family or "")
    for taken_at, _, state in store.states(source_id, start.strftime(fmt), end.strftime(fmt)):
        stamp = _bucket(taken_at, bucket) if bucket else taken_at
        for loc, minutes in state.items():
            key = (stamp, loc)
            rows[key] = np.union1d(rows[key], minutes) if key in rows else minutes
    return rows


def weeks_of_sources(
    store: Store,
    sources: Iterable[str],
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[tuple[int, int], list[str]]:
    """ISO week -> the sources with a snapshot that week (within [date_from, date_to))."""
    weeks: dict[tuple[int, int], list[str]] = defaultdict(list)
    for source_id in sorted(sources):
        seen = set()
        for day in store.snapshot_days(source_id):
            d = date.fromisoformat(day)
            if (date_from and d < date_from) or (date_to and d >= date_to):
                continue
            seen.add(week_of(d))
        for wk in sorted(seen):
            weeks[wk].append(source_id)
    return dict(weeks)
