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

from .cutoffs import Cutoff, cutoff_at, expired_mask
from .series import Track, to_minutes
from .series import as_array as _as_array

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


def _sorted(d: np.ndarray, s: np.ndarray, k: np.ndarray):
    order = np.lexsort((s, d))
    return d[order], s[order], k[order]


def _columns(locations: list[str], counts: list[int], d, s, k) -> pl.DataFrame:
    names = pl.Series(locations, dtype=pl.Utf8)
    return pl.DataFrame(
        {
            "location_id": names.gather(np.repeat(np.arange(len(locations)), counts)),
            "detected": pl.Series(d * 60_000_000).cast(pl.Datetime("us")),
            "slot": pl.Series(s * 60_000_000).cast(pl.Datetime("us")),
            "lead_minutes": pl.Series(s - d),
            # gathered from the four names: ``KINDS[k]`` would be a 36-byte numpy string per row
            "event": pl.Series(KINDS.tolist(), dtype=pl.Utf8).gather(k),
        }
    )


def _member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which elements of ``a`` are in sorted ``b`` (``np.isin`` without its overhead)."""
    n = len(b)
    if not n or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = b.searchsorted(a)
    np.minimum(pos, n - 1, out=pos)
    return b[pos] == a


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.union1d`` of sorted unique arrays."""
    if not len(b):
        return a
    if not len(a):
        return b
    out = np.concatenate((a, b))
    out.sort()
    dup = out[1:] == out[:-1]
    return out[np.concatenate(([True], ~dup))] if dup.any() else out


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
    """``vanished`` without the days on which all of at least ``day_min`` free slots vanished
    (both sorted)."""
    if len(vanished) < day_min:
        return vanished
    days_v = vanished // _DAY
    edges = np.flatnonzero(days_v[1:] != days_v[:-1]) + 1
    first = np.concatenate(([0], edges, [len(days_v)]))
    uv, cv = days_v[first[:-1]], first[1:] - first[:-1]
    bounds = before.searchsorted(np.concatenate((uv, uv + 1)) * _DAY)
    cb = bounds[len(uv) :] - bounds[: len(uv)]
    whole = (cv >= day_min) & (cv == cb)
    return vanished[~np.repeat(whole, cv)] if whole.any() else vanished


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


_FAR = 1 << 62  # "no horizon": after every slot


class _Detector:
    """``detect_events`` on a :class:`~.series.Track`: the rule's state between snapshots.

    Within a run of equal states only the first snapshots can do anything (a change, the
    confirmation of what vanished, the end of a held baseline); the rest only move
    ``prev_t``. A change against the previous run's state uses the track's precomputed
    differences; one against a held baseline computes them.
    """

    def __init__(self, cutoffs, opts: dict):
        self.cutoffs = cutoffs or None
        self.max_gap, self.grace = opts["max_gap_minutes"], opts["grace_minutes"]
        self.stale_minutes, self.day_min = opts["stale_minutes"], opts["day_min"]
        self.mass_min, self.mass_share = opts["mass_min"], opts["mass_share"]
        self.det: list[int] = []
        self.slot: list[np.ndarray] = []
        self.kind: list[int] = []
        self.prev: np.ndarray | None = None  # None: no snapshot yet
        self.prev_t = 0
        self.held = False  # prev is a baseline kept across an erratic snapshot
        self.pending, self.pend_t = _EMPTY, 0  # vanished at pend_t, awaiting confirmation
        self.clear = True  # no pending slot is in prev
        self.booked = _EMPTY  # confirmed booked slots, sorted
        self.booked_prev = _EMPTY  # those in prev

    def emit(self, t: int, slots: np.ndarray, code: int) -> None:
        self.det.append(t)
        self.slot.append(slots)
        self.kind.append(code)

    def run(self, tr: Track, carried: bool = False):
        """Take the snapshots of ``tr`` in order; ``carried``: its first snapshot is the
        last one taken before (a long range is fed a stretch at a time)."""
        if not len(tr):
            return self
        times = tr.times.tolist()
        starts, ends = tr.starts.tolist(), tr.ends().tolist()
        pre = self._precomputed(tr)
        if carried:
            self.rest_of_run(tr.states[0], times, 1, ends[0])
        else:
            self.prev, self.prev_t = tr.states[0], times[ends[0] - 1]
        for i, where in enumerate(pre, 1):
            cur, j = tr.states[i], starts[i]
            if self.held:
                self.change_against_held(times[j], cur)
            else:
                self.change(times[j], cur, tr.gone[i], tr.new[i], where)
            self.rest_of_run(cur, times, j + 1, ends[i])
        return self

    def rest_of_run(self, cur: np.ndarray, times: list[int], j: int, end: int) -> None:
        """Snapshots ``j`` to ``end`` repeat ``cur``."""
        while j < end and (self.held or len(self.pending)):
            if self.held:
                self.change_against_held(times[j], cur)
            else:  # the same state again: what vanished stays vanished
                self.confirm(cur, _EMPTY)
                self.prev_t = times[j]
            j += 1
        if j < end:
            self.prev_t = times[end - 1]

    def detach(self) -> None:
        """Copy the state kept between stretches out of the last Track's arrays."""
        for name in ("prev", "pending", "booked", "booked_prev"):
            arr = getattr(self, name)
            if arr is not None and arr.base is not None:
                setattr(self, name, arr.copy())

    def _precomputed(self, tr: Track) -> list[tuple[int, ...]]:
        """Per change i >= 1 against run i - 1: positions in its gone slots of t, t + grace
        and the horizon, slots of the old state in the covered range, positions of t in
        its new slots and new state, and the horizon."""
        rows = np.arange(1, tr.n_runs)
        t = tr.times[tr.starts[1:]]
        lo = t + self.grace
        lens = tr.states.lengths()[:-1]
        last = tr.states.flat[np.maximum(tr.states.off[1:-1] - 1, 0)] if len(tr.states.flat) else 0
        hi = np.where(lens > 0, (last // _DAY + 1) * _DAY - 1, _FAR)
        g_t = tr.gone.search(rows, t, "right")
        g_lo = tr.gone.search(rows, lo, "right")
        g_hi = tr.gone.search(rows, hi, "right")
        nb = tr.states.search(rows - 1, hi, "right") - tr.states.search(rows - 1, lo, "right")
        n_t = tr.new.search(rows, t, "right")
        c_t = tr.states.search(rows, t, "right")
        return list(zip(*(a.tolist() for a in (g_t, g_lo, g_hi, nb, n_t, c_t, hi)), strict=True))

    def change_against_held(self, t: int, cur: np.ndarray) -> None:
        prev = self.prev
        if len(cur) == len(prev) and np.array_equal(cur, prev):
            self.confirm(cur, _EMPTY)
            self.prev_t = t
            return
        gone = prev[~_member(prev, cur)]
        new = cur[~_member(cur, prev)]
        lo = t + self.grace
        hi = _horizon(prev)
        hi = _FAR if hi == np.inf else hi
        g = gone.searchsorted([t, lo, hi], "right").tolist()
        nb = int(np.diff(prev.searchsorted([lo, hi], "right"))[0])
        n_t, c_t = int(new.searchsorted(t, "right")), int(cur.searchsorted(t, "right"))
        self.change(t, cur, gone, new, (*g, nb, n_t, c_t, hi))

    def confirm(self, cur: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Pending slots still missing are booked; returns those that are back (``new``:
        ``cur - prev``, where a pending slot that is not in prev must be)."""
        pending = self.pending
        if not len(pending):
            return _EMPTY
        if self.clear and not len(new):
            gone, back = pending, _EMPTY
        else:
            found = _member(pending, new if self.clear else cur)
            gone, back = pending[~found], pending[found]
        if len(gone):
            self.emit(self.pend_t, gone, BOOKED)
            self.booked = _union(self.booked, gone)
        self.pending = _EMPTY
        return back

    def booked_in(self, cur: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Booked slots free in ``cur``: those in prev still there, and new ones."""
        back = new[_member(new, self.booked)] if len(new) else _EMPTY
        if len(self.booked_prev):
            kept = self.booked_prev[_member(self.booked_prev, cur)]
            if len(kept):
                back = _union(kept, back)
        return back

    def change(self, t: int, cur: np.ndarray, gone, new, where) -> None:
        """One snapshot whose state differs from ``prev``: ``gone``/``new`` are ``prev - cur``
        and ``cur - prev``, ``where`` their precomputed positions."""
        g_t, g_lo, g_hi, nb, n_t, c_t, hi = where
        prev, prev_t = self.prev, self.prev_t
        stale = bool(len(prev)) and prev[0] < prev_t - self.stale_minutes
        gap = t - prev_t > self.max_gap
        live = not (gap or stale)
        mass = False
        lo = t + self.grace
        if live:
            vanished = gone[g_lo:g_hi]
            cut = cutoff_at(self.cutoffs, t) if self.cutoffs else None
            if cut is not None and g_t < len(gone):  # slots that crossed the cutoff expired
                gone_t = gone[g_t:]
                expired = gone_t[expired_mask(cut, gone_t, prev_t, t, cur[c_t:])]
                if len(expired):
                    self.emit(t, expired, EXPIRED)
                    prev = prev[~_member(prev, expired)]
                    nb -= int(np.count_nonzero((expired > lo) & (expired <= hi)))
                    vanished = vanished[~_member(vanished, expired)]
            mass = nb >= self.mass_min and len(vanished) > self.mass_share * nb
        if mass:
            returned, self.clear = _EMPTY, False
        else:
            returned = self.confirm(cur, new)
        if gap and not stale:
            taken = _taken_in_gap(prev, cur, (prev_t, t), self.cutoffs, self.grace,
                                  self.mass_min, self.mass_share, self.day_min)  # fmt: skip
            self.booked = _union(self.booked, taken)
        booked = self.booked
        back = self.booked_in(cur, new) if len(booked) else _EMPTY
        near = _EMPTY  # booked, free again, but too soon to count: still booked and in cur
        if live:  # an erratic update hides slots; it does not show booked ones free
            if not mass:
                if len(vanished) >= self.day_min:
                    a, b = prev.searchsorted([lo, hi], "right").tolist()
                    vanished = _drop_whole_days(prev[a:b], vanished, self.day_min)
                self.pending, self.pend_t, self.clear = vanished, t, True
            if len(back):
                a = back.searchsorted(lo, "right")
                near, back = back[back.searchsorted(t, "right") : a], back[a:]
            if len(back):
                self.emit(t, back, CANCELLED)
            fresh = new[n_t:]
            if len(fresh) and (len(back) or len(returned)):
                fresh = fresh[~_member(fresh, back) & ~_member(fresh, returned)]
            if len(fresh):
                self.emit(t, fresh, RELEASED)
        if len(back):
            booked = booked[~_member(booked, back)]
        if len(booked) and booked[0] <= t:
            booked = booked[booked.searchsorted(t, "right") :]
        self.booked = booked
        if mass and not self.held:  # erratic for one snapshot? keep the baseline to compare with
            self.prev, self.held = _union(prev, cur), True
            self.booked_prev = booked[_member(booked, self.prev)] if len(booked) else _EMPTY
        else:
            self.prev, self.prev_t, self.held = cur, t, False
            self.booked_prev = near

    def arrays(self):
        """Detected times, slots and kinds emitted since the last call, in emission order."""
        if not self.det:
            return _EMPTY, _EMPTY, np.zeros(0, dtype=np.int8)
        counts = [len(s) for s in self.slot]
        d = np.repeat(np.array(self.det, dtype=np.int64), counts)
        k = np.repeat(np.array(self.kind, dtype=np.int8), counts)
        s = np.concatenate(self.slot).astype(np.int64)
        self.det, self.slot, self.kind = [], [], []
        return d, s, k


def _options(
    interval_minutes: float = 15,
    *,
    tolerance_minutes: float = 5,
    max_gap_minutes: float | None = None,
    grace_minutes: int = 15,
    stale_minutes: int = 60,
    mass_min: int = 10,
    mass_share: float = 0.5,
    day_min: int = 5,
) -> dict:
    """``detect_events``' options of the rule, with the default gap."""
    if max_gap_minutes is None:
        max_gap_minutes = 2 * interval_minutes + tolerance_minutes
    return {
        "max_gap_minutes": max_gap_minutes, "grace_minutes": grace_minutes,
        "stale_minutes": stale_minutes, "mass_min": mass_min, "mass_share": mass_share,
        "day_min": day_min,
    }  # fmt: skip


def detect_events(
    snapshots: Track | Iterable[tuple[str | datetime | int, Sequence[int] | np.ndarray]],
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
    """Events of one location from ``(time, free slot minutes)`` pairs (or a ``Track``).

    ``cutoffs`` (``learn_cutoffs``) tell which disappearances are expiries.
    """
    track = snapshots if isinstance(snapshots, Track) else Track.from_pairs(snapshots)
    opts = _options(
        interval_minutes, tolerance_minutes=tolerance_minutes, max_gap_minutes=max_gap_minutes,
        grace_minutes=grace_minutes, stale_minutes=stale_minutes, mass_min=mass_min,
        mass_share=mass_share, day_min=day_min,
    )  # fmt: skip
    d, s, k = _Detector(cutoffs, opts).run(track).arrays()
    if not len(d):
        return pl.DataFrame(schema=SCHEMA)
    return _columns([location_id], [len(d)], *_sorted(d, s, k))


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
    d, s, k = _reference(snapshots)
    if not len(d):
        return pl.DataFrame(schema=SCHEMA)
    return _columns([location_id], [len(d)], d, s, k)


def _reference(snapshots) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``reference_events`` as sorted (detected, slot, kind) arrays."""
    return _sorted(*_ReferenceRule().feed(snapshots).arrays())


class _ReferenceRule:
    """The published dataset's rule, fed snapshots in time order (in as many calls as wanted)."""

    def __init__(self) -> None:
        self.det: list[np.ndarray] = []
        self.slot: list[np.ndarray] = []
        self.kind: list[np.ndarray] = []
        self.prev: np.ndarray | None = None
        self.last_raw = self.last = None
        self.prev_bucket = 0
        self.appointed = _EMPTY

    def feed(self, snapshots) -> _ReferenceRule:
        prev, prev_bucket, appointed = self.prev, self.prev_bucket, self.appointed
        last_raw, last = self.last_raw, self.last
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
                        self._emit(t, keep, BOOKED)
                if counts and len(back):
                    self._emit(t, back, CANCELLED)
                if len(back):
                    appointed = appointed[~_member(appointed, back)]
                if len(vanished):
                    appointed = np.union1d(appointed, vanished)
            prev, prev_bucket = cur, bucket
        self.prev, self.prev_bucket, self.appointed = prev, prev_bucket, appointed
        self.last_raw, self.last = last_raw, last
        return self

    def _emit(self, t: int, slots: np.ndarray, code: int) -> None:
        self.det.append(np.full(len(slots), t, dtype=np.int64))
        self.slot.append(slots)
        self.kind.append(np.full(len(slots), code, dtype=np.int8))

    def arrays(self):
        """Detected times, slots and kinds emitted since the last call."""
        if not self.det:
            return _EMPTY, _EMPTY, np.zeros(0, dtype=np.int8)
        out = tuple(np.concatenate(c) for c in (self.det, self.slot, self.kind))
        self.det, self.slot, self.kind = [], [], []
        return out

    def detach(self) -> None:
        """Copy the state kept between stretches out of the last Track's arrays."""
        if self.prev is not None and self.prev.base is not None:
            self.prev = self.last = self.prev.copy()


__all__ = [
    "detect_events",
    "reference_events",
    "to_minutes",
]
