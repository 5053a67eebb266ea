"""Which snapshot and slot times are plausible; everything else is refused before storing.

A snapshot time must lie in [``EARLIEST``, now + ``FUTURE_SKEW``]: nothing was recorded
before 2020, and a day of skew covers clock and time-zone errors of the recorder. A slot
must lie in [the snapshot's day − ``SLOT_BEFORE``, snapshot + ``SLOT_AFTER``]: offices list
today's remaining slots (and a slot of yesterday may still show just after midnight, or
through a time-zone slip), and no booking system publishes more than about a year ahead,
so 400 days leaves room without letting a year-9999 slot in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import OfficeScheduleError
from ..model import ParsedSnapshot

EARLIEST = datetime(2020, 1, 1)
FUTURE_SKEW = timedelta(days=1)
SLOT_BEFORE = timedelta(days=1)
SLOT_AFTER = timedelta(days=400)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ImplausibleTime(OfficeScheduleError):
    """A snapshot or slot time outside the plausible window."""


def latest_snapshot(now: datetime) -> datetime:
    return now + FUTURE_SKEW


def snapshot_ok(taken_at: datetime, now: datetime) -> bool:
    return EARLIEST <= taken_at <= latest_snapshot(now)


def slot_window(taken_at: datetime) -> tuple[datetime, datetime]:
    """[first, last] plausible slot time of a snapshot taken at ``taken_at``."""
    day = taken_at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - SLOT_BEFORE, taken_at + SLOT_AFTER


def check_snapshot_time(taken_at: datetime, now: datetime, where: str) -> None:
    if not snapshot_ok(taken_at, now):
        raise ImplausibleTime(
            f"{where}: implausible snapshot time {taken_at:{TIME_FORMAT}} "
            f"(allowed {EARLIEST:%Y-%m-%d} .. {latest_snapshot(now):{TIME_FORMAT}})"
        )


def check_parsed(parsed: ParsedSnapshot, taken_at: datetime, where: str) -> None:
    """Refuse a parser result with a slot outside ``slot_window(taken_at)``."""
    lo, hi = slot_window(taken_at)
    for loc_id, loc in parsed.locations.items():
        if not loc.slots or lo <= min(loc.slots) and max(loc.slots) <= hi:
            continue
        for slot in loc.slots:
            if not lo <= slot <= hi:
                raise ImplausibleTime(
                    f"implausible slot time {slot:{TIME_FORMAT}} of location {loc_id} "
                    f"in a snapshot taken {taken_at:{TIME_FORMAT}} at {where}"
                )
