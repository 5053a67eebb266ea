"""Imported weeks as compact, self-contained segments: one compressed blob per source and week.

A published week holds ~24,000 snapshots of ~250 locations; as rows that is megabytes of
per-row overhead. A segment stores the snapshot times (delta-encoded), their statuses, and
per location only the changes: at which snapshot its free slots changed, which minutes were
added and which removed (sorted, delta-encoded), or that it vanished. A segment depends on
nothing outside itself, so weeks can be imported in any order and merged again.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from array import array
from datetime import datetime

import numpy as np

STATUS_CODES = {"ok": 0, "unchanged": 1}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
Snapshot = tuple[str, str, dict[str, np.ndarray]]  # taken_at, status, {location: minutes}


def _seconds(taken_at: list[str]) -> np.ndarray:
    stamps = np.array([t.replace(" ", "T") for t in taken_at], dtype="datetime64[s]")
    return stamps.astype(np.int64)


def _delta(values: list[np.ndarray]) -> np.ndarray:
    """Concatenate sorted runs, each run delta-encoded from its own first value."""
    if not values:
        return np.empty(0, dtype="<u4")
    return np.concatenate([np.diff(v.astype(np.int64), prepend=0) for v in values]).astype("<u4")


def encode(snapshots: list[Snapshot]) -> bytes:
    """Snapshots in time order -> segment bytes."""
    locations = sorted({loc for _, _, state in snapshots for loc in state})
    index = {loc: i for i, loc in enumerate(locations)}
    rec_snap, rec_loc, rec_present, n_add, n_rem, added, removed = [], [], [], [], [], [], []
    previous: dict[str, np.ndarray] = {}
    for i, (_, _, state) in enumerate(snapshots):
        for loc, minutes in state.items():
            old = previous.get(loc)
            if old is not None and np.array_equal(old, minutes):
                continue
            old = old if old is not None else np.empty(0, dtype="<u4")
            plus = np.setdiff1d(minutes, old, assume_unique=True)
            minus = np.setdiff1d(old, minutes, assume_unique=True)
            rec_snap.append(i)
            rec_loc.append(index[loc])
            rec_present.append(1)
            n_add.append(len(plus))
            n_rem.append(len(minus))
            added.append(plus)
            removed.append(minus)
        for loc in previous:
            if loc not in state:
                rec_snap.append(i)
                rec_loc.append(index[loc])
                rec_present.append(0)
                n_add.append(0)
                n_rem.append(0)
        previous = state
    ts = _seconds([t for t, _, _ in snapshots])
    arrays = {
        "ts": np.diff(ts, prepend=0),
        "status": np.array([STATUS_CODES[s] for _, s, _ in snapshots], dtype=np.uint8),
        "locations": np.array(locations, dtype=str),
        "rec_snap": np.array(rec_snap, dtype=np.int32),
        "rec_loc": np.array(rec_loc, dtype=np.int32),
        "rec_present": np.array(rec_present, dtype=np.uint8),
        "n_add": np.array(n_add, dtype=np.int32),
        "n_rem": np.array(n_rem, dtype=np.int32),
        "added": _delta(added),
        "removed": _delta(removed),
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


#: the added/removed minutes of a segment being written spill to a temporary file past this
SPOOL_BYTES = 64 << 20
#: slots (old and new) of one batch of changed states diffed at once
BATCH_CELLS = 1 << 21


class SegmentWriter:
    """Builds a segment one snapshot at a time, as ``encode`` would, in bounded memory.

    A state is a sorted array of positions into ``universe`` (the sorted minutes any state
    may hold). ``begin(taken_at)``, ``put(location, positions)`` per present location,
    ``end()``; ``finish()`` returns the segment bytes. A location given the very array
    object it had in the previous snapshot is unchanged at no cost; other states are diffed
    against their predecessors in batches (one merge of sorted keys), and the changes go to
    spool files.
    """

    def __init__(self, universe: np.ndarray):
        self.universe = np.asarray(universe, dtype="<u4")
        self.n_bits = len(self.universe)
        self.present: dict[str, tuple[object, np.ndarray]] = {}  # location -> (key, positions)
        self.index: dict[str, int] = {}
        self.times: list[str] = []
        self.statuses = np.empty(0, dtype=np.uint8)  # set by finish()
        self.rec = {k: array("i") for k in ("snap", "loc", "present", "add", "rem")}
        self.added = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
        self.removed = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
        self.seen: set[str] = set()
        # states put since the last batch: their new and old positions, snapshot, location,
        # and whether the location was absent before (recorded even with no slots)
        self._new: list[np.ndarray] = []
        self._old: list[np.ndarray] = []
        self._snap, self._loc, self._fresh = array("i"), array("i"), array("b")
        self._cells = 0

    def positions(self, minutes: np.ndarray) -> np.ndarray:
        """The positions in ``universe`` of sorted minutes (all of them in it)."""
        return np.searchsorted(self.universe, minutes)

    def begin(self, taken_at: str) -> None:
        self.times.append(taken_at)
        self.seen = set()

    def put(self, loc: str, positions: np.ndarray) -> bool:
        """Add a present location; False when it is already in this snapshot."""
        return self.put_keyed(loc, positions, lambda: positions)

    def put_run(self, locs: list[str], states: list[np.ndarray], new: list[int]) -> bool:
        """``put`` of many locations, where only the rows ``new`` may have a state other
        than the object their location had in the previous snapshot (if it was there);
        False when a location repeats in this snapshot."""
        seen, present = self.seen, self.present
        before = len(seen)
        seen.update(locs)
        if len(seen) != before + len(locs):
            return False
        for i in new:
            loc = locs[i]
            self._change(loc, states[i], np.asarray(states[i], dtype=np.int64), present.get(loc))
        absent = set(locs).difference(present)  # back, or seen first: recorded
        if absent:
            for i in (i for i, loc in enumerate(locs) if loc in absent):
                self._change(locs[i], states[i], np.asarray(states[i], dtype=np.int64), None)
        return True

    def put_keyed(self, loc: str, key: object, positions) -> bool:
        """``put`` where ``key`` stands for the state and ``positions()`` computes it only
        when ``key`` is not the object this location had in the previous snapshot."""
        if loc in self.seen:
            return False
        self.seen.add(loc)
        old = self.present.get(loc)
        if old is None or old[0] is not key:
            self._change(loc, key, np.asarray(positions(), dtype=np.int64), old)
        return True

    def _change(self, loc: str, key: object, new: np.ndarray, old) -> None:
        """Queue ``loc``'s new state; ``old``: its ``present`` entry, None if it was absent."""
        self._new.append(new)
        self._old.append(_NONE if old is None else old[1])
        self._fresh.append(old is None)
        self._snap.append(len(self.times) - 1)
        self._loc.append(self.index.setdefault(loc, len(self.index)))
        self.present[loc] = (key, new)
        self._cells += 2 * len(new) + 1
        if self._cells >= BATCH_CELLS:
            self._flush()

    def _flush(self) -> None:
        """Diff the batch's states against their predecessors and record the changes."""
        k, n = len(self._new), self.n_bits
        if not k:
            return
        # a state as keys row * n + position: every batch row's old and new keys sorted
        new_keys = _rows_of(self._new) * n + np.concatenate(self._new)
        old_keys = _rows_of(self._old) * n + np.concatenate(self._old)
        plus, minus = _sorted_difference(new_keys, old_keys)
        n_add = np.bincount(plus // max(n, 1), minlength=k)
        n_rem = np.bincount(minus // max(n, 1), minlength=k)
        plus_c, minus_c = plus % max(n, 1), minus % max(n, 1)
        fresh = np.frombuffer(self._fresh, dtype=np.int8).astype(bool)
        keep = np.flatnonzero(((n_add + n_rem) > 0) | fresh)
        rec = self.rec
        rec["snap"].extend(np.frombuffer(self._snap, dtype=np.int32)[keep].tolist())
        rec["loc"].extend(np.frombuffer(self._loc, dtype=np.int32)[keep].tolist())
        rec["present"].extend([1] * len(keep))
        rec["add"].extend(n_add[keep].tolist())
        rec["rem"].extend(n_rem[keep].tolist())
        self.added.write(_run_deltas(self.universe[plus_c], n_add).tobytes())
        self.removed.write(_run_deltas(self.universe[minus_c], n_rem).tobytes())
        self._new, self._old, self._cells = [], [], 0
        self._snap, self._loc, self._fresh = array("i"), array("i"), array("b")

    def end(self) -> None:
        if len(self.present) > len(self.seen):
            snap = len(self.times) - 1
            for loc in [loc for loc in self.present if loc not in self.seen]:
                for key, value in (("snap", snap), ("present", 0), ("add", 0), ("rem", 0)):
                    self.rec[key].append(value)
                self.rec["loc"].append(self.index.setdefault(loc, len(self.index)))
                del self.present[loc]

    def finish(self) -> bytes:
        self._flush()
        changes = np.bincount(np.frombuffer(self.rec["snap"], dtype=np.int32),
                              minlength=len(self.times))  # fmt: skip
        changes[:1] += 1  # the first snapshot is never "unchanged"
        self.statuses = np.where(changes > 0, STATUS_CODES["ok"], STATUS_CODES["unchanged"])
        self.statuses = self.statuses.astype(np.uint8)
        names = sorted(self.index)
        order = np.empty(len(names), dtype=np.int32)
        for new, loc in enumerate(names):
            order[self.index[loc]] = new
        rec = {k: np.frombuffer(v, dtype=np.int32) if len(v) else np.empty(0, np.int32)
               for k, v in self.rec.items()}  # fmt: skip
        arrays = {
            "ts": np.diff(_seconds(self.times), prepend=0),
            "status": self.statuses,
            "locations": np.array(names, dtype=str),
            "rec_snap": rec["snap"],
            "rec_loc": order[rec["loc"]],
            "rec_present": rec["present"].astype(np.uint8),
            "n_add": rec["add"],
            "n_rem": rec["rem"],
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for key, value in arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.ascontiguousarray(value))
            for key, spool in (("added", self.added), ("removed", self.removed)):
                size = spool.tell()
                spool.seek(0)
                with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                    header = {"descr": "<u4", "fortran_order": False, "shape": (size // 4,)}
                    np.lib.format.write_array_header_1_0(out, header)
                    shutil.copyfileobj(spool, out, 1 << 20)
                spool.close()
        return buf.getvalue()


def distinct_minutes(flat: np.ndarray, inverse: bool = False):
    """The sorted distinct values of ``flat`` (and, with ``inverse``, the index of each of its
    values there). A bitmap over the values' range does it in linear time; a range far wider
    than the values (slots years apart) is sorted instead."""
    if not len(flat):
        empty = np.empty(0, dtype=np.int64)
        return (empty, empty) if inverse else empty
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo >= (1 << 16) + 4 * len(flat):
        return np.unique(flat, return_inverse=inverse)
    offset = flat - flat.dtype.type(lo)
    seen = np.zeros(hi - lo + 1, dtype=bool)
    seen[offset] = True
    values = np.flatnonzero(seen) + lo
    if not inverse:
        return values
    index = np.cumsum(seen, dtype=np.int64)
    index -= 1
    return values, index[offset]


def _rows_of(states: list[np.ndarray]) -> np.ndarray:
    """The row index of each element of the concatenated ``states``."""
    lengths = np.fromiter(map(len, states), dtype=np.int64, count=len(states))
    return np.repeat(np.arange(len(states)), lengths)


_NONE = np.empty(0, dtype=np.int64)


def _sorted_difference(new: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(new - old, old - new) of two sorted arrays of unique non-negative keys.

    Tagged with their side and merged (a stable sort of two sorted runs is one linear
    merge), a key in both arrays sits next to itself; the others are the differences.
    """
    merged = np.concatenate((old * 2, new * 2 + 1))
    merged.sort(kind="stable")
    key = merged >> 1
    both = np.zeros(len(merged), dtype=bool)
    same = key[1:] == key[:-1]
    both[1:] |= same
    both[:-1] |= same
    single = merged[~both]
    side = (single & 1).astype(bool)
    return single[side] >> 1, single[~side] >> 1


def _run_deltas(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Runs of sorted values (``counts`` each), each delta-encoded from its own first value."""
    out = values.astype(np.int64)
    out[1:] -= values[:-1]
    starts = (np.cumsum(counts) - counts)[counts > 0]
    out[starts] = values[starts]
    return out.astype("<u4")


def times_of(blob: bytes) -> list[str]:
    """The snapshot times of a segment, without decoding its states."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        ts = np.cumsum(data["ts"]).astype("datetime64[s]")
    return [str(t).replace("T", " ") for t in ts]


def _runs(deltas: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The runs of ``_delta`` decoded at once, and where each run ends."""
    ends = np.cumsum(counts, dtype=np.int64)
    total = np.cumsum(deltas, dtype=np.int64)
    # each run's sum restarts at its first value: subtract the running sum before it
    before = np.concatenate(([0], total))[ends - counts]
    values = (total - np.repeat(before, counts)).astype("<u4")
    return values, ends.tolist()


def decode(blob: bytes) -> list[Snapshot]:
    """Segment bytes -> snapshots with their full states (arrays shared while unchanged).

    A record's removed minutes are in its location's state and its added ones are not (both
    writers guarantee it), so a state is the old one masked plus the new ones, sorted.
    """
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    ts = np.cumsum(arrays["ts"]).astype("datetime64[s]")
    times = [str(t).replace("T", " ") for t in ts]
    statuses = [STATUS_NAMES[s] for s in arrays["status"].tolist()]
    locations = [str(x) for x in arrays["locations"]]
    n_add = arrays["n_add"].astype(np.int64)
    n_rem = arrays["n_rem"].astype(np.int64)
    added, add_ends = _runs(arrays["added"], n_add)
    removed, rem_ends = _runs(arrays["removed"], n_rem)
    rec_snap = arrays["rec_snap"].astype(np.int64)
    order = np.argsort(rec_snap, kind="stable")  # per snapshot, in record order
    order = order[(rec_snap[order] >= 0) & (rec_snap[order] < len(times))]
    snap_of = rec_snap[order].tolist() + [len(times)]
    loc_of = arrays["rec_loc"][order].tolist()
    present = arrays["rec_present"][order].tolist()
    na, nr = n_add[order].tolist(), n_rem[order].tolist()
    a_end = [add_ends[r] for r in order.tolist()]
    m_end = [rem_ends[r] for r in order.tolist()]
    state: dict[str, np.ndarray] = {}
    out: list[Snapshot] = []
    j = 0
    for i, taken_at in enumerate(times):
        if snap_of[j] == i:
            state = dict(state)
            while snap_of[j] == i:
                loc = locations[loc_of[j]]
                if not present[j]:
                    state.pop(loc, None)
                    j += 1
                    continue
                old = state.get(loc)
                if old is None:
                    old = np.empty(0, dtype="<u4")
                new = old
                if nr[j]:
                    gone = np.zeros(len(old), dtype=bool)
                    gone[old.searchsorted(removed[m_end[j] - nr[j] : m_end[j]])] = True
                    new = old[~gone]
                if na[j]:
                    new = np.concatenate((new, added[a_end[j] - na[j] : a_end[j]]))
                    new.sort()
                state[loc] = new
                j += 1
        out.append((taken_at, statuses[i], state))
    return out


def with_statuses(snapshots: list[tuple[str, dict[str, np.ndarray]]]) -> list[Snapshot]:
    """Mark each snapshot ``unchanged`` when its state equals the previous one's."""
    out: list[Snapshot] = []
    previous: dict[str, np.ndarray] | None = None
    for taken_at, state in snapshots:
        same = (
            previous is not None
            and previous.keys() == state.keys()
            and all(np.array_equal(previous[k], v) for k, v in state.items())
        )
        out.append((taken_at, "unchanged" if same else "ok", state))
        previous = state
    return out


def iso_week(taken_at: str) -> str:
    iso = datetime.fromisoformat(taken_at).isocalendar()
    return f"{iso.year}-{iso.week:02d}"
