"""A location's snapshots as time-ordered ``(minutes since 1970, sorted free slots)``.

Most successive snapshots repeat their state, so a :class:`Track` keeps one state per run of
equal snapshots and, for each change, the slots that vanished and those that appeared, all
computed at once per location.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime

import numpy as np

_EMPTY = np.zeros(0, dtype=np.int64)


def to_minutes(t: str | datetime | int | np.integer) -> int:
    """Minutes since 1970 (naive local) of a snapshot time."""
    if isinstance(t, (int, np.integer)):
        return int(t)
    if isinstance(t, datetime):
        return int(np.datetime64(t, "m").astype(np.int64))
    return int(np.datetime64(t.replace(" ", "T")[:16], "m").astype(np.int64))


def minutes_of(times: list) -> np.ndarray:
    """``to_minutes`` of many times at once."""
    if times and all(type(t) is str for t in times):
        text = [t.replace(" ", "T")[:16] for t in times]
        return np.array(text, dtype="datetime64[m]").astype(np.int64)
    return np.array([to_minutes(t) for t in times], dtype=np.int64)


def as_array(slots) -> np.ndarray:
    arr = np.asarray(slots, dtype=np.int64)
    if arr.size > 1 and np.any(arr[1:] <= arr[:-1]):
        arr = np.unique(arr)
    return arr


def _flatten(states: list) -> tuple[np.ndarray, np.ndarray]:
    """States as one int64 array and row offsets, each row made sorted and unique."""
    off = np.zeros(len(states) + 1, dtype=np.int64)
    if not states:
        return _EMPTY, off
    np.cumsum([len(s) for s in states], out=off[1:])
    flat = np.concatenate(states, dtype=np.int64, casting="unsafe")
    if len(flat) > 1:
        bad = flat[1:] <= flat[:-1]
        inner = off[1:-1]
        bad[inner[(inner > 0) & (inner < len(flat))] - 1] = False  # a row may start lower
        if bad.any():
            rows = np.unique(np.searchsorted(off, np.flatnonzero(bad) + 1, side="right") - 1)
            fixed = {int(r): np.unique(flat[off[r] : off[r + 1]]) for r in rows}
            parts = [fixed.get(r, flat[off[r] : off[r + 1]]) for r in range(len(states))]
            return _flatten(parts)
    return flat, off


class Rows:
    """Sorted rows in one flat int64 array (row ``i`` from ``off[i]`` to ``off[i + 1]``),
    searched all at once through the sorted keys ``row * span + value - lo``."""

    def __init__(self, flat: np.ndarray, off: np.ndarray):
        self.flat, self.off = flat, off
        self.lo = int(flat.min()) if len(flat) else 0
        self.span = int(flat.max()) - self.lo + 1 if len(flat) else 1
        top = len(off) * self.span
        self.key = None
        if top < 1 << 62:
            dtype = np.int32 if top < 1 << 31 else np.int64
            step = np.arange(len(off) - 1, dtype=np.int64) * self.span - self.lo
            self.key = np.repeat(step.astype(dtype), np.diff(off))
            np.add(self.key, flat, out=self.key, casting="unsafe")

    def __len__(self) -> int:
        return len(self.off) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.off[i] : self.off[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.off)

    def search(self, rows: np.ndarray, values: np.ndarray, side: str = "left") -> np.ndarray:
        """Where ``values`` go in their ``rows``, as ``np.searchsorted`` of each row."""
        rows = np.asarray(rows, dtype=np.int64)
        values = np.asarray(values)
        if values.dtype.kind == "f":  # the same position among integers
            values = np.floor(values) if side == "right" else np.ceil(values)
        values = values.astype(np.int64)
        if self.key is None:
            pairs = zip(rows.tolist(), values.tolist(), strict=True)
            return np.array([self[r].searchsorted(v, side) for r, v in pairs], dtype=np.int64)
        rel = values - self.lo
        rel = np.clip(rel, 0, self.span) if side == "left" else np.clip(rel, -1, self.span - 1)
        needles = (rows * self.span + rel).astype(self.key.dtype)
        return self.key.searchsorted(needles, side) - self.off[rows]


def _row_diffs(rows: Rows):
    """For each row ``i``: the values of row ``i - 1`` not in row ``i`` (gone) and those of
    row ``i`` not in row ``i - 1`` (new), as flat arrays with row offsets (row 0: none)."""
    n_rows, off, key = len(rows), rows.off, rows.key
    if n_rows < 2 or not len(rows.flat):
        empty = (_EMPTY, np.zeros(n_rows + 1, dtype=np.int64))
        return empty, empty
    if key is None:
        return _pair_diffs(rows)
    # merged with the keys of the previous row moved onto this one, a value in both rows
    # is an equal pair
    span = rows.span
    both = np.empty(len(key) + int(off[-2]), dtype=key.dtype)
    both[: len(key)] = key
    np.add(key[: off[-2]], span, out=both[len(key) :])
    both.sort(kind="stable")  # two sorted runs: a merge
    pair = np.zeros(len(both) + 1, dtype=bool)
    np.equal(both[1:], both[:-1], out=pair[1:-1])
    single = both[~(pair[:-1] | pair[1:])]
    pos = key.searchsorted(single)
    pos[pos == len(key)] = 0
    mine = key[pos] == single  # in the row itself: new, else gone from the row before
    out = []
    for picked in (single[~mine], single[mine]):
        picked = picked.astype(np.int64)
        row = picked // span
        ends = np.searchsorted(row, np.arange(n_rows + 1, dtype=np.int64))
        out.append((picked - row * span + rows.lo, ends))
    gone, new = out
    first_row = new[1][1]  # row 0's values are not new
    return gone, (new[0][first_row:], np.maximum(new[1] - first_row, 0))


def _pair_diffs(rows: Rows):
    gone, new = [], []
    for i in range(1, len(rows)):
        a, b = rows[i - 1], rows[i]
        gone.append(np.setdiff1d(a, b, assume_unique=True))
        new.append(np.setdiff1d(b, a, assume_unique=True))
    out = []
    for parts in (gone, new):
        ends = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=ends[2:])
        out.append((np.concatenate(parts), ends))
    return out[0], out[1]


class Track:
    """One location's snapshots: ``times`` of every snapshot (time-ordered minutes), runs of
    equal states, run ``i`` starting at snapshot ``starts[i]`` with state ``states[i]``, and
    for ``i >= 1`` what vanished (``gone[i]``) and appeared (``new[i]``) since run ``i - 1``."""

    def __init__(self, times: np.ndarray, starts: np.ndarray, states: list):
        self.times = np.asarray(times, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        flat, off = _flatten(states)
        rows = Rows(flat, off)
        (gone, gone_off), (new, new_off) = _row_diffs(rows)
        same = np.flatnonzero((np.diff(gone_off) == 0) & (np.diff(new_off) == 0))
        same = same[same > 0]
        if len(same):  # a run equal to the one before it is part of it
            keep = np.ones(len(starts), dtype=bool)
            keep[same] = False
            starts = starts[keep]
            lens = np.diff(off)
            off = np.concatenate(([0], np.cumsum(lens[keep])))
            rows = Rows(flat[np.repeat(keep, lens)], off)
            bounds = np.append(np.flatnonzero(keep), len(keep))
            gone_off, new_off = gone_off[bounds], new_off[bounds]
        self.starts, self.states = starts, rows
        self.gone, self.new = Rows(gone, gone_off), Rows(new, new_off)

    @classmethod
    def from_pairs(cls, snapshots: Iterable) -> Track:
        """From ``(time, free slots)`` pairs; a state repeated by the same object is one run."""
        times, starts, states = [], [], []
        last = object()
        for t, raw in snapshots:
            if raw is not last:
                starts.append(len(times))
                states.append(as_array(raw))
                last = raw
            times.append(t)
        return cls(minutes_of(times), np.asarray(starts, dtype=np.int64), states)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def n_runs(self) -> int:
        return len(self.starts)

    def ends(self) -> np.ndarray:
        """One past the last snapshot of each run."""
        return np.append(self.starts[1:], len(self.times))

    def run_of_snapshots(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_runs), self.ends() - self.starts)

    def pairs(self) -> list[tuple[int, np.ndarray]]:
        """``(minutes, state)`` of every snapshot, the same array while a run lasts."""
        states = [self.states[i] for i in range(self.n_runs)]
        runs = self.run_of_snapshots().tolist()
        return [(t, states[r]) for t, r in zip(self.times.tolist(), runs, strict=True)]

    def part(self, index: np.ndarray) -> Track:
        """The snapshots at the sorted positions ``index``."""
        if len(index) == len(self.times):
            return self
        runs = self.run_of_snapshots()[index]
        first = np.flatnonzero(np.diff(runs, prepend=-1) != 0)
        return Track(self.times[index], first, [self.states[r] for r in runs[first].tolist()])


def iter_location_tracks(
    store, source_id: str, start: str, end: str
) -> Iterator[tuple[str, Track]]:
    """``(location, Track)`` of a source over the whole range, each Track made when asked
    for (a Track is about three times the store's arrays it is built from)."""
    for chunk in _chunks(store.states(source_id, start, end), None):
        for loc, track, _carried in chunk:
            yield loc, track


def iter_week_tracks(
    store, source_id: str, start: str, end: str, only: set[str] | None = None
) -> Iterator[Iterator[tuple[str, Track, bool]]]:
    """Per ISO week (Monday-aligned, of the snapshot times) of a source's snapshots,
    ``(location, Track, carried)`` of each location seen in it (``only`` those): when
    ``carried``, the Track begins with the location's last snapshot before the week, so
    that the change into the week is in it. A long range is read a week at a time; each
    week's Tracks are made as they are asked for."""
    yield from _chunks(store.states(source_id, start, end), _week_of_day, only)


def _week_of_day(day: str) -> int:
    """Monday-aligned week number of a ``YYYY-MM-DD`` (as ``cutoffs._week`` of its times)."""
    return (date.fromisoformat(day).toordinal() - 1) // 7


def _chunks(states, week_of, only=None):
    """``states`` cut where ``week_of(day)`` changes (never when None), as track lists."""
    taken: list[str] = []
    runs: dict[str, list] = {}  # location -> [first snapshot, end snapshot, array] per run
    carry: dict[str, tuple[str, np.ndarray]] = {}  # location -> last (time, state) before
    last_locs: dict | None = None
    day = week = None
    for taken_at, _status, locs in states:
        if week_of is not None and taken_at[:10] != day:
            day = taken_at[:10]
            if week != (week := week_of(day)) and taken:
                chunk = _tracks(taken, runs, carry, only)
                yield chunk
                for _ in chunk:  # what the caller left, for the carried snapshots
                    pass
                taken, runs, last_locs = [], {}, None
        k = len(taken)
        taken.append(taken_at)
        if locs is last_locs:  # the store hands back the same dict and arrays while unchanged
            continue
        if last_locs is not None and last_locs.keys() != locs.keys():
            for loc in last_locs.keys() - locs.keys():
                runs[loc][-1][1] = k
        for loc, arr in locs.items():
            mine = runs.get(loc)
            if mine is None:
                runs[loc] = [[k, None, arr]]
            elif mine[-1][2] is not arr or mine[-1][1] is not None:
                if mine[-1][1] is None:
                    mine[-1][1] = k
                mine.append([k, None, arr])
        last_locs = locs
    if taken:
        yield _tracks(taken, runs, carry, only)


def _tracks(taken: list[str], runs: dict, carry: dict, only) -> Iterator[tuple[str, Track, bool]]:
    """The Tracks of one chunk, each made when asked for; ``carry`` takes each location's
    last snapshot."""
    minutes = minutes_of(taken)
    for loc in list(runs):
        mine = runs.pop(loc)  # its arrays are freed once no other location shares them
        end = len(taken) if mine[-1][1] is None else mine[-1][1]
        before = carry.get(loc)
        carry[loc] = (taken[end - 1], mine[-1][2])
        if only is not None and loc not in only:
            continue
        lo = np.array([r[0] for r in mine], dtype=np.int64)
        hi = np.array([len(taken) if r[1] is None else r[1] for r in mine], dtype=np.int64)
        lens = hi - lo
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        index = np.repeat(lo - starts, lens) + np.arange(lens.sum())
        times, states = minutes[index], [r[2] for r in mine]
        if before is not None:
            times = np.concatenate((minutes_of([before[0]]), times))
            starts, states = np.concatenate(([0], starts + 1)), [before[1], *states]
        track = Track(times, starts, states)
        del mine, states
        yield loc, track, before is not None
