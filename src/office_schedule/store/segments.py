"""Imported weeks as compact, self-contained segments: one compressed blob per source and week.

A published week holds ~24,000 snapshots of ~250 locations; as rows that is megabytes of
per-row overhead. A segment stores the snapshot times (delta-encoded), their statuses, and
per location only the changes: at which snapshot its free slots changed, which minutes were
added and which removed (sorted, delta-encoded), or that it vanished. A segment depends on
nothing outside itself, so weeks can be imported in any order and merged again.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
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


def decode(blob: bytes) -> list[Snapshot]:
    """Segment bytes -> snapshots with their full states (arrays shared while unchanged)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    ts = np.cumsum(arrays["ts"]).astype("datetime64[s]")
    times = [str(t).replace("T", " ") for t in ts]
    locations = [str(x) for x in arrays["locations"]]
    add_ends = np.cumsum(arrays["n_add"])
    rem_ends = np.cumsum(arrays["n_rem"])
    added, removed = arrays["added"].astype(np.int64), arrays["removed"].astype(np.int64)
    records: dict[int, list[int]] = {}
    for r, snap in enumerate(arrays["rec_snap"].tolist()):
        records.setdefault(snap, []).append(r)
    state: dict[str, np.ndarray] = {}
    out: list[Snapshot] = []
    for i, taken_at in enumerate(times):
        if i in records:
            state = dict(state)
            for r in records[i]:
                loc = locations[int(arrays["rec_loc"][r])]
                if not arrays["rec_present"][r]:
                    state.pop(loc, None)
                    continue
                a1 = int(add_ends[r])
                a0 = a1 - int(arrays["n_add"][r])
                m1 = int(rem_ends[r])
                m0 = m1 - int(arrays["n_rem"][r])
                plus = np.cumsum(added[a0:a1]).astype("<u4")
                minus = np.cumsum(removed[m0:m1]).astype("<u4")
                old = state.get(loc, np.empty(0, dtype="<u4"))
                kept = np.setdiff1d(old, minus, assume_unique=True) if len(minus) else old
                state[loc] = np.union1d(kept, plus).astype("<u4") if len(plus) else kept
        out.append((taken_at, STATUS_NAMES[int(arrays["status"][i])], state))
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


def load(conn: sqlite3.Connection, source_id: str, week: str) -> list[Snapshot]:
    row = conn.execute(
        "SELECT data FROM segments WHERE source_id = ? AND week = ?", (source_id, week)
    ).fetchone()
    return decode(row[0]) if row else []


def save(conn: sqlite3.Connection, source_id: str, week: str, snapshots: list[Snapshot]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO segments (source_id, week, first_at, last_at, n_ok, n_unchanged, "
        "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            source_id,
            week,
            snapshots[0][0],
            snapshots[-1][0],
            sum(s == "ok" for _, s, _ in snapshots),
            sum(s == "unchanged" for _, s, _ in snapshots),
            encode(snapshots),
        ),
    )


#: decoded segments by (source, week, digest of the blob); analysis reads a week several times
_DECODED: OrderedDict[tuple[str, str, str], list[Snapshot]] = OrderedDict()
_DECODED_MAX = 64


def _decoded(source_id: str, week: str, blob: bytes) -> list[Snapshot]:
    key = (source_id, week, hashlib.blake2b(blob, digest_size=16).hexdigest())
    if key in _DECODED:
        _DECODED.move_to_end(key)
        return _DECODED[key]
    snaps = _DECODED[key] = decode(blob)
    while len(_DECODED) > _DECODED_MAX:
        _DECODED.popitem(last=False)
    return snaps


def iter_range(
    conn: sqlite3.Connection, source_id: str, start: str, end: str
) -> Iterator[Snapshot]:
    """Snapshots of the source's segments with ``start <= taken_at < end``, in time order."""
    for week, blob in conn.execute(
        "SELECT week, data FROM segments WHERE source_id = ? AND last_at >= ? AND first_at < ? "
        "ORDER BY first_at",
        (source_id, start, end),
    ).fetchall():
        for snap in _decoded(source_id, week, blob):
            if start <= snap[0] < end:
                yield snap
