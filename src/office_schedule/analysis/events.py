"""Appointments and cancellations inferred from successive snapshots of one location.

Our rule (``detect_events``), applied to each location's snapshots in time order:

1. **First snapshot**: a baseline only; nothing is reported.
2. **Covered range**: between two snapshots only slots later than the newer snapshot's
   time plus ``grace_minutes`` count, and for bookings only slots not after the last
   published day of the older snapshot. Slots that fall off the start because time
   passed and new days that appear at the end of the look-ahead window are therefore
   not events; days that vanish from the end are caught by rule 5.
3. **Gaps**: when two snapshots are more than ``max_gap_minutes`` apart (default
   ``2 × interval + tolerance``) the pair reports nothing; the newer snapshot is the new
   baseline. Slots that vanished across the gap (not by rules 5 or 8) are remembered as
   taken: one coming back later is a cancellation.
4. **Stale offices**: when the older snapshot still lists a free slot that began more
   than ``stale_minutes`` before it was taken, the office had stopped updating; the
   bulk change when it resumes reports nothing.
5. **Mass changes**: when at least ``mass_min`` slots were free in the covered range and
   more than ``mass_share`` of them vanish at once, the pair is an office withdrawal or
   an erratic update, not bookings: it reports nothing. The older snapshot stays the
   baseline for the next one: if the change was erratic (the slots are back), the next
   pair is judged against the state before it, so bookings and cancellations hidden by
   the erratic snapshot are still found, detected at the first reliable snapshot; if
   the change persists (withdrawal), the newer snapshot becomes the baseline and the
   vanished slots are never bookings. Likewise a day whose free slots
   (at least ``day_min``) all vanish at once was withdrawn by the office (closed that
   day): its slots are not bookings.
6. **Booked** (appointment): a slot free in the older snapshot and missing in the newer
   one, *confirmed* by still being missing in the snapshot after that. A slot that is
   gone for one snapshot and back in the next (flicker) is neither booked nor
   cancelled. The detection time is the first snapshot without the slot, so the
   booking happened between the previous snapshot and ``detected``.
7. **Cancelled**: a slot we reported booked (or saw taken across a gap) that is free
   again. Slots never seen booked (withdrawn blocks coming back, slots booked before the
   first snapshot) are not cancellations.
8. **Expired**: a slot that vanishes as it crosses the location's booking cutoff
   (``cutoffs.py``: "30 min before", "19:00 the day before", learned from the data) was
   withdrawn by the office, not booked. It is reported at once, as its own kind, and
   taken out of the slots the mass and whole-day rules look at.
9. **Released**: a slot that appears (not a cancellation, not a flickering slot coming
   back), e.g. a new day or a block the office publishes at a fixed time.

``reference_events`` implements the published dataset's counting rule for comparison
(docs/protocols/metrics.md section 4): no confirmation, 16-minute rule on 15-minute
buckets, first/last free slot excluded (with its quirks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from .cutoffs import Cutoff, cutoff_at, expired_mask, learn_cutoffs
from .series import as_array as _as_array
from .series import location_series, to_minutes

SCHEMA = {
    "location_id": pl.Utf8,
    "detected": pl.Datetime("us"),
    "slot": pl.Datetime("us"),
    "lead_minutes": pl.Int64,
    "event": pl.Utf8,
}
_DAY = 1440
_EMPTY = np.zeros(0, dtype=np.int64)
#: event codes of the internal arrays -> the ``event`` column
KINDS = np.array(["cancelled", "booked", "expired", "released"])
CANCELLED, BOOKED, EXPIRED, RELEASED = range(4)


def _frame(location_id: str, det: list, slot: list, kind: list) -> pl.DataFrame:
    """Events as a DataFrame from lists of minute arrays."""
    if not det:
        return pl.DataFrame(schema=SCHEMA)
    d = np.concatenate(det)
    s = np.concatenate(slot)
    k = np.concatenate(kind)
    order = np.lexsort((s, d))
    d, s, k = d[order], s[order], k[order]
    return pl.DataFrame(
        {
            "location_id": pl.Series([location_id] * len(d), dtype=pl.Utf8),
            "detected": pl.Series(d * 60_000_000).cast(pl.Datetime("us")),
            "slot": pl.Series(s * 60_000_000).cast(pl.Datetime("us")),
            "lead_minutes": pl.Series(s - d),
            "event": pl.Series(KINDS[k], dtype=pl.Utf8),
        }
    )


def _member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which elements of ``a`` are in sorted ``b`` (``np.isin`` without its overhead)."""
    if not len(b) or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = np.searchsorted(b, a)
    pos[pos == len(b)] = len(b) - 1
    return b[pos] == a


def _in_range(arr: np.ndarray, lo: int, hi: float) -> np.ndarray:
    """Elements of sorted ``arr`` with ``lo < x <= hi``."""
    a = np.searchsorted(arr, lo, side="right")
    b = len(arr) if hi == np.inf else np.searchsorted(arr, hi, side="right")
    return arr[a:b]


def _horizon(arr: np.ndarray) -> float:
    """End of the last published day (last minute of the day of the latest free slot)."""
    if not len(arr):
        return np.inf
    return (int(arr[-1]) // _DAY + 1) * _DAY - 1


def _drop_whole_days(before: np.ndarray, vanished: np.ndarray, day_min: int) -> np.ndarray:
    """``vanished`` without the days on which all of at least ``day_min`` free slots vanished."""
    if len(vanished) < day_min:
        return vanished
    days_v = vanished // _DAY
    uv, cv = np.unique(days_v, return_counts=True)
    ub, cb = np.unique(before // _DAY, return_counts=True)
    whole = uv[(cv >= day_min) & (cv == cb[np.searchsorted(ub, uv)])]
    return vanished[~np.isin(days_v, whole)] if len(whole) else vanished


def _taken_in_gap(prev, cur, times, cutoffs, grace, mass_min, mass_share, day_min):
    """Slots booked during a gap: not reported (when is unknown), but known to be taken, so
    that their coming back later is a cancellation."""
    prev_t, t = times
    before = _in_range(prev, t + grace, _horizon(prev))
    vanished = before[~_member(before, cur)]
    cut = cutoff_at(cutoffs, t) if cutoffs else None
    if cut is not None and len(vanished):
        vanished = vanished[~expired_mask(cut, vanished, prev_t, t, _in_range(cur, t, np.inf))]
    if len(before) >= mass_min and len(vanished) > mass_share * len(before):
        return _EMPTY  # withdrawn or erratic, as rule 5 says
    return _drop_whole_days(before, vanished, day_min)


def detect_events(
    snapshots: Iterable[tuple[str | datetime | int, Sequence[int] | np.ndarray]],
    interval_minutes: float = 15,
    *,
    location_id: str = "",
    tolerance_minutes: float = 5,
    max_gap_minutes: float | None = None,
    grace_minutes: int = 15,
    stale_minutes: int = 60,
    mass_min: int = 10,
    mass_share: float = 0.5,
    day_min: int = 5,
    cutoffs: Sequence[Cutoff] | None = None,
) -> pl.DataFrame:
    """Events of one location from ``(time, free slot minutes)`` pairs.

    ``cutoffs`` (``learn_cutoffs``) tell which disappearances are expiries.
    """
    if max_gap_minutes is None:
        max_gap_minutes = 2 * interval_minutes + tolerance_minutes
    det: list[np.ndarray] = []
    slot: list[np.ndarray] = []
    kind: list[np.ndarray] = []
    prev: np.ndarray | None = None
    last_raw = last = None  # the previous raw array and its checked copy
    prev_t = 0
    held = False  # prev is a baseline kept across an erratic snapshot
    pending, pend_t = _EMPTY, 0  # vanished at pend_t, awaiting confirmation
    booked = _EMPTY  # confirmed booked slots, sorted

    def emit(times: int, slots: np.ndarray, code: int) -> None:
        det.append(np.full(len(slots), times, dtype=np.int64))
        slot.append(slots)
        kind.append(np.full(len(slots), code, dtype=np.int8))

    for t_raw, raw in snapshots:
        t = to_minutes(t_raw)
        cur = last if raw is last_raw else _as_array(raw)
        last_raw, last = raw, cur
        if prev is None:
            prev, prev_t = cur, t
            continue
        same = cur is prev or (len(cur) == len(prev) and np.array_equal(cur, prev))
        stale = bool(len(prev)) and prev[0] < prev_t - stale_minutes
        gap = t - prev_t > max_gap_minutes
        live = same or not (gap or stale)
        mass = False
        if live and not same:
            lo, hi = t + grace_minutes, _horizon(prev)
            cut = cutoff_at(cutoffs, t) if cutoffs else None
            if cut is not None:  # slots that crossed the cutoff expired, whoever looked
                gone = _in_range(prev, t, np.inf)
                gone = gone[~_member(gone, cur)]
                expired = gone[expired_mask(cut, gone, prev_t, t, _in_range(cur, t, np.inf))]
                if len(expired):
                    emit(t, expired, EXPIRED)
                    prev = prev[~_member(prev, expired)]
            before = _in_range(prev, lo, hi)
            vanished = before[~_member(before, cur)]
            mass = len(before) >= mass_min and len(vanished) > mass_share * len(before)
        returned = _EMPTY
        if len(pending) and not mass:  # confirm (an erratic snapshot defers it)
            found = _member(pending, cur)
            gone, returned = pending[~found], pending[found]
            if len(gone):
                emit(pend_t, gone, BOOKED)
                booked = np.union1d(booked, gone)
            pending = _EMPTY
        if same:
            prev_t = t
            continue
        if gap and not (same or stale):
            taken = _taken_in_gap(prev, cur, (prev_t, t), cutoffs, grace_minutes, mass_min,
                                  mass_share, day_min)  # fmt: skip
            booked = np.union1d(booked, taken)
        back = booked[_member(booked, cur)] if len(booked) else _EMPTY
        if live:  # an erratic update hides slots; it does not show booked ones free
            if not mass:
                pending, pend_t = _drop_whole_days(before, vanished, day_min), t
            back = _in_range(back, lo, np.inf)
            if len(back):
                emit(t, back, CANCELLED)
            new = _in_range(cur, t, np.inf)
            new = new[~_member(new, prev)]
            new = new[~_member(new, back) & ~_member(new, returned)]
            if len(new):
                emit(t, new, RELEASED)
        if len(back):
            booked = booked[~_member(booked, back)]
        if len(booked) and booked[0] <= t:
            booked = booked[np.searchsorted(booked, t, side="right") :]
        if mass and not held:  # erratic for one snapshot? keep the baseline to compare with
            prev, held = np.union1d(prev, cur), True
        else:
            prev, prev_t, held = cur, t, False
    return _frame(location_id, det, slot, kind)


def reference_events(
    snapshots: Iterable[tuple[str | datetime | int, Sequence[int] | np.ndarray]],
    *,
    location_id: str = "",
) -> pl.DataFrame:
    """The published dataset's rule: every disappearance a booking, every return a cancellation.

    Counts only when the previous row's 15-minute bucket is less than 16 minutes earlier;
    a vanished slot is not counted when it is the first (no earlier slot free now) or the
    last (no later slot free before) free slot, unless it is both (the Q1 quirk).
    """
    det: list[np.ndarray] = []
    slot: list[np.ndarray] = []
    kind: list[np.ndarray] = []
    prev: np.ndarray | None = None
    last_raw = last = None
    prev_bucket = 0
    appointed = _EMPTY
    for t_raw, raw in snapshots:
        t = to_minutes(t_raw)
        bucket = t - t % 15
        cur = last if raw is last_raw else _as_array(raw)
        last_raw, last = raw, cur
        if prev is None:
            prev, prev_bucket = cur, bucket
            continue
        counts = bucket - prev_bucket < 16
        if cur is not prev and not (len(cur) == len(prev) and np.array_equal(cur, prev)):
            back = appointed[_member(appointed, cur)] if len(appointed) else _EMPTY
            vanished = prev[~_member(prev, cur)]
            if counts and len(vanished):
                is_first = len(cur) == 0 or vanished < cur[0]
                is_last = vanished == prev[-1]
                keep = vanished[(is_first == is_last)]
                if len(keep):
                    det.append(np.full(len(keep), t, dtype=np.int64))
                    slot.append(keep)
                    kind.append(np.ones(len(keep), dtype=np.int8))
            if counts and len(back):
                det.append(np.full(len(back), t, dtype=np.int64))
                slot.append(back)
                kind.append(np.zeros(len(back), dtype=np.int8))
            if len(back):
                appointed = appointed[~_member(appointed, back)]
            if len(vanished):
                appointed = np.union1d(appointed, vanished)
        prev, prev_bucket = cur, bucket
    return _frame(location_id, det, slot, kind)


def store_events(
    store,
    source_ids: Iterable[str],
    start: str = "",
    end: str = "9999",
    *,
    rule: str = "ours",
    **options,
) -> pl.DataFrame:
    """Events of every location of ``source_ids`` between ``start`` and ``end`` (taken_at).

    ``rule="reference"`` uses the published dataset's rule; ``options`` go to
    ``detect_events`` (e.g. ``interval_minutes``, ``max_gap_minutes``). Our rule learns
    each location's booking cutoff from the same snapshots first.
    """
    frames = []
    for sid in source_ids:
        for loc, snaps in location_series(store, sid, start, end).items():
            if rule == "reference":
                df = reference_events(snaps, location_id=loc)
            else:
                df = detect_events(snaps, location_id=loc, cutoffs=learn_cutoffs(snaps), **options)
            if df.height:
                frames.append(df.with_columns(pl.lit(sid).alias("source_id")))
    cols = ["source_id", *SCHEMA]
    if not frames:
        return pl.DataFrame(schema={"source_id": pl.Utf8, **SCHEMA})
    return pl.concat(frames).select(cols)


def store_cutoffs(store, source_ids: Iterable[str], start: str = "", end: str = "9999"):
    """The learned cutoffs of every location: one row per location and period."""
    rows = []
    for sid in source_ids:
        for loc, snaps in location_series(store, sid, start, end).items():
            for c in learn_cutoffs(snaps):
                rows.append(
                    (sid, loc, c.describe(), c.lead, c.day[0] if c.day else None,
                     c.day[1] if c.day else None, c.since * 60_000_000, c.floor_share,
                     c.expiries, c.days, c.sure)
                )  # fmt: skip
    schema = {
        "source_id": pl.Utf8, "location_id": pl.Utf8, "cutoff": pl.Utf8,
        "lead_minutes": pl.Int64, "day_offset": pl.Int64, "day_minute": pl.Int64,
        "since": pl.Int64, "floor_share": pl.Float64, "expiries": pl.Int64,
        "days": pl.Int64, "sure": pl.Utf8,
    }  # fmt: skip
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return df.with_columns(pl.col("since").cast(pl.Datetime("us")))


__all__ = [
    "detect_events",
    "reference_events",
    "store_cutoffs",
    "store_events",
    "to_minutes",
]
