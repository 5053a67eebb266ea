"""Local time of the offices: every slot and snapshot time is naive Europe/Berlin time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Europe/Berlin")


def local_now() -> datetime:
    """Current wall-clock time in Europe/Berlin, naive, second precision."""
    return datetime.now(OFFICE_TZ).replace(tzinfo=None, microsecond=0)


def local_from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, OFFICE_TZ).replace(tzinfo=None, microsecond=0)
