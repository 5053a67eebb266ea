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


class SegmentWriter:
    """Builds a segment one snapshot at a time, as ``encode`` would, in bounded memory.

    A location's state is a bitmask over ``universe`` (the sorted minutes any state may
    hold), so the writer keeps one small bitmask per location; the changes go to spool
    files. ``begin(taken_at)``, ``put(location, mask)`` per present location, ``end()``;
    ``finish()`` returns the segment bytes.
    """

    def __init__(self, universe: np.ndarray):
        self.universe = np.asarray(universe, dtype="<u4")
        self.n_bits = len(self.universe)
        self.zero = bytes((self.n_bits + 7) // 8)
        self.previous: dict[str, bytes] = {}
        self.index: dict[str, int] = {}
        self.times: list[str] = []
        self.statuses = array("B")
        self.rec = {k: array("i") for k in ("snap", "loc", "present", "add", "rem")}
        self.added = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
        self.removed = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
        self.seen: set[str] = set()
        self._changes = 0

    def mask(self, minutes: np.ndarray) -> bytes:
        bits = np.zeros(self.n_bits, dtype=bool)
        bits[np.searchsorted(self.universe, minutes)] = True
        return np.packbits(bits).tobytes()

    def begin(self, taken_at: str) -> None:
        self.times.append(taken_at)
        self.seen = set()
        self._changes = 0

    def _record(self, loc: str, present: int, plus=None, minus=None) -> None:
        rec = self.rec
        rec["snap"].append(len(self.times) - 1)
        rec["loc"].append(self.index.setdefault(loc, len(self.index)))
        rec["present"].append(present)
        for key, values, spool in (("add", plus, self.added), ("rem", minus, self.removed)):
            rec[key].append(0 if values is None else len(values))
            if values is not None and len(values):
                deltas = values.copy()
                deltas[1:] -= values[:-1]  # sorted: no wrap-around
                spool.write(deltas.tobytes())
        self._changes += 1

    def put(self, loc: str, mask: bytes) -> bool:
        """Add a present location; False when it is already in this snapshot."""
        if loc in self.seen:
            return False
        self.seen.add(loc)
        old = self.previous.get(loc)
        if old == mask:
            return True
        o = np.frombuffer(old or self.zero, dtype=np.uint8)
        n = np.frombuffer(mask, dtype=np.uint8)
        plus = self.universe[np.unpackbits(n & ~o, count=self.n_bits).nonzero()[0]]
        minus = self.universe[np.unpackbits(o & ~n, count=self.n_bits).nonzero()[0]]
        self._record(loc, 1, plus, minus)
        self.previous[loc] = mask
        return True

    def end(self) -> None:
        if len(self.previous) > len(self.seen):
            for loc in [loc for loc in self.previous if loc not in self.seen]:
                self._record(loc, 0)
                del self.previous[loc]
        first = len(self.times) == 1
        self.statuses.append(STATUS_CODES["ok" if self._changes or first else "unchanged"])

    def finish(self) -> bytes:
        names = sorted(self.index)
        order = np.empty(len(names), dtype=np.int32)
        for new, loc in enumerate(names):
            order[self.index[loc]] = new
        rec = {k: np.frombuffer(v, dtype=np.int32) if len(v) else np.empty(0, np.int32)
               for k, v in self.rec.items()}  # fmt: skip
        arrays = {
            "ts": np.diff(_seconds(self.times), prepend=0),
            "status": np.frombuffer(self.statuses, dtype=np.uint8),
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
