"""A location's snapshots as time-ordered ``(minutes since 1970, sorted free slots)``."""

from __future__ import annotations

from datetime import datetime

import numpy as np


def to_minutes(t: str | datetime | int | np.integer) -> int:
    """Minutes since 1970 (naive local) of a snapshot time."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    if isinstance(t, datetime):
        return int(np.datetime64(t, "m").astype(np.int64))
    return int(np.datetime64(t.replace(" ", "T")[:16], "m").astype(np.int64))


def as_array(slots) -> np.ndarray:
    arr = np.asarray(slots, dtype=np.int64)
    if arr.size > 1 and np.any(arr[1:] <= arr[:-1]):
        arr = np.unique(arr)
    return arr


def location_series(store, source_id: str, start: str, end: str) -> dict[str, list]:
    """``{location: [(minutes, free array), ...]}`` from the store; absent = no snapshot."""
    series: dict[str, list] = {}
    seen: dict[str, tuple] = {}  # the store hands back the same array while a set is unchanged
    for taken_at, _status, locs in store.states(source_id, start, end):
        t = to_minutes(taken_at)
        for loc, arr in locs.items():
            known = seen.get(loc)
            if known is None or known[0] is not arr:
                known = seen[loc] = (arr, as_array(arr))
            series.setdefault(loc, []).append((t, known[1]))
    return series
