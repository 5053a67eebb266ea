"""Per-row numbers of the published metrics for one source and week, vectorised.

Rows are ``(taken_at, location_id, free minutes)`` in raw-file order. Only rows whose free set
differs from the location's previous row do set work; every rule follows
``docs/protocols/metrics.md`` of the shared folder (16-minute rule, first/last free slot,
Q1 single free slot, Q2 variant counters, carried FREE/APPOINTED/previous bucket).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPANS = tuple(f"{n}{u}" for u in "hdw" for n in range(5))
#: per-row columns: changed, appointments, cancellations, free_dates, free_dates_X, appointments_X
NAMES = (
    "changed",
    "appointments",
    "cancellations",
    "free_dates",
    *(f"free_dates_{s}" for s in SPANS),
    *(f"appointments_{s}" for s in SPANS),
)
_SHIFT = np.int64(1 << 32)
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass
class LocState:
    """State carried to the next week: FREE set, APPOINTED set, previous bucket (minutes)."""

    free: np.ndarray
    appointed: np.ndarray
    bucket: int | None


@dataclass
class SourceRows:
    keys: list[str]  # location ids of the source, index = row_loc values
    row_loc: np.ndarray
    bucket: np.ndarray  # 15-minute bucket of each row, minutes since 1970
    stamp: list[str]  # raw taken_at of each row
    values: np.ndarray  # (rows, len(NAMES)) int64


def _units(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour, day and ISO-week (Monday based) index of minutes since 1970-01-01 (a Thursday)."""
    day = minutes // 1440
    return minutes // 60, day, (day + 3) // 7


def _bounds(bucket: np.ndarray) -> list[np.ndarray]:
    """Start minutes of relation 0..5 per family (h, d, w) for each bucket."""
    h, d, w = _units(bucket)
    n = np.arange(6)
    return [
        (h[:, None] + n) * 60,
        (d[:, None] + n) * 1440,
        ((w[:, None] + n) * 7 - 3) * 1440,
    ]


def _expand(segs: np.ndarray, offsets: np.ndarray, lens: np.ndarray) -> tuple:
    """Element positions of the segments ``segs``: (owner index into segs, element index)."""
    n = lens[segs]
    owner = np.repeat(np.arange(len(segs)), n)
    start = np.repeat(offsets[segs] - np.cumsum(n) + n, n)
    return owner, start + np.arange(int(n.sum()))


def _member(gkey: np.ndarray, query: np.ndarray) -> np.ndarray:
    if not len(gkey):
        return np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(gkey, query), len(gkey) - 1)
    return gkey[pos] == query


def source_rows(rows: list[tuple[str, str, np.ndarray]], carry: dict[str, LocState]) -> SourceRows:
    """Metric numbers of every row; updates ``carry`` (keyed by location id) in place."""
    n_rows = len(rows)
    loc_index: dict[str, int] = {}
    last_arr: list[np.ndarray] = []
    last_seg: list[int] = []
    seg_arrays: list[np.ndarray] = []
    row_loc = np.empty(n_rows, dtype=np.int64)
    row_seg = np.empty(n_rows, dtype=np.int64)
    row_prev = np.empty(n_rows, dtype=np.int64)
    for i, (_, loc, arr) in enumerate(rows):
        li = loc_index.setdefault(loc, len(loc_index))
        if li == len(last_arr):
            last_arr.append(arr)
            last_seg.append(-1)
            prev = -1
        else:
            prev = last_seg[li]
            old = last_arr[li]
            if old is arr or (len(old) == len(arr) and np.array_equal(old, arr)):
                row_loc[i], row_seg[i], row_prev[i] = li, prev, prev
                continue
            last_arr[li] = arr
        seg = len(seg_arrays)
        seg_arrays.append(arr)
        last_seg[li] = seg
        row_loc[i], row_seg[i], row_prev[i] = li, seg, prev
    keys = list(loc_index)
    stamp = [r[0] for r in rows]
    minute = np.array([s[:16] for s in stamp], dtype="datetime64[m]").astype(np.int64)
    bucket = minute // 15 * 15
    values = np.zeros((n_rows, len(NAMES)), dtype=np.int64)
    if not n_rows:
        return SourceRows(keys, row_loc, bucket, stamp, values)

    lens = np.array([len(a) for a in seg_arrays], dtype=np.int64)
    vals = np.concatenate(seg_arrays).astype(np.int64) if lens.sum() else _EMPTY
    offsets = np.cumsum(lens) - lens
    gkey = np.repeat(np.arange(len(lens), dtype=np.int64), lens) * _SHIFT + vals
    if len(gkey) > 1 and not np.all(np.diff(gkey) > 0):
        raise ValueError("free slots of a snapshot must be sorted and unique")
    columns = np.unique(vals)

    # free_dates and free_dates_X: searchsorted of relation bounds inside each row's segment
    values[:, 3] = lens[row_seg]
    for fam, bounds in enumerate(_bounds(bucket)):
        pos = np.searchsorted(gkey, row_seg[:, None] * _SHIFT + bounds)
        values[:, 4 + 5 * fam : 9 + 5 * fam] = np.diff(pos, axis=1)

    first = row_prev < 0
    changed = ~first & (row_seg != row_prev)
    if len(columns):
        values[:, 0] = changed

    # countable rows: previous bucket of the location less than 16 minutes before
    prev_bucket = np.full(n_rows, np.iinfo(np.int64).min // 2, dtype=np.int64)
    order = np.lexsort((np.arange(n_rows), row_loc))
    same = np.r_[False, row_loc[order][1:] == row_loc[order][:-1]]
    prev_bucket[order[same]] = bucket[order][:-1][same[1:]]
    stale: list[np.ndarray] = []
    firsts = np.flatnonzero(first)
    for i in firsts:
        st = carry.get(keys[row_loc[i]])
        if st is not None and st.bucket is not None:
            prev_bucket[i] = st.bucket
    countable = bucket - prev_bucket < 16

    # per-location carried sets
    f_in, a_in = [], []
    for loc in keys:
        st = carry.get(loc)
        f = st.free.astype(np.int64) if st is not None else _EMPTY
        f_in.append(f)
        a_in.append(st.appointed.astype(np.int64) if st is not None else _EMPTY)
        stale.append(f[~np.isin(f, columns, assume_unique=True)])
    big = np.iinfo(np.int64).max
    stale_lo = np.array([s[0] if len(s) else big for s in stale], dtype=np.int64)
    stale_hi = np.array([s[-1] if len(s) else -1 for s in stale], dtype=np.int64)

    # changed rows: elements added and removed against the previous segment
    ch = np.flatnonzero(changed)
    owner, el = _expand(row_seg[ch], offsets, lens)
    added_row = ch[owner][~_member(gkey, row_prev[ch][owner] * _SHIFT + vals[el])]
    added_val = vals[el][~_member(gkey, row_prev[ch][owner] * _SHIFT + vals[el])]
    owner, el = _expand(row_prev[ch], offsets, lens)
    gone = ~_member(gkey, row_seg[ch][owner] * _SHIFT + vals[el])
    rem_row, rem_val = ch[owner][gone], vals[el][gone]
    padded = np.r_[vals, 0]
    seg_lo = np.where(lens > 0, padded[offsets], big)
    seg_hi = np.where(lens > 0, padded[np.maximum(offsets + lens - 1, 0)], -1)
    row_lo = np.minimum(seg_lo[row_seg], stale_lo[row_loc])
    row_hi = np.maximum(seg_hi[np.maximum(row_prev, 0)], stale_hi[row_loc])

    # first rows of the week: walk against the carried state
    canc = np.zeros(n_rows, dtype=np.int64)
    seen_keys = []
    r0_rows, r0_vals = [], []
    for i in firsts:
        li = int(row_loc[i])
        cur = vals[offsets[row_seg[i]] : offsets[row_seg[i]] + lens[row_seg[i]]]
        f, a = f_in[li], a_in[li]
        canc[i] = np.isin(cur, a, assume_unique=True).sum()
        gone0 = f[np.isin(f, columns, assume_unique=True) & ~np.isin(f, cur, assume_unique=True)]
        r0_rows.append(np.full(len(gone0), i, dtype=np.int64))
        r0_vals.append(gone0)
        row_hi[i] = f[-1] if len(f) else -1
        seen_keys.append(li * _SHIFT + np.union1d(np.union1d(f, a), cur))
    seen = np.unique(np.concatenate(seen_keys)) if seen_keys else _EMPTY

    # cancellations: a slot free again that was free (or appointed) before
    akey = row_loc[added_row] * _SHIFT + added_val
    srt = np.lexsort((added_row, akey))
    dup = np.r_[False, akey[srt][1:] == akey[srt][:-1]]
    is_canc = np.empty(len(akey), dtype=bool)
    is_canc[srt] = dup | _member(seen, akey[srt])
    canc += np.bincount(added_row[is_canc], minlength=n_rows)
    values[:, 2] = np.where(countable, canc, 0)

    # appointments: vanished slots that are not the first/last free one (or the only one)
    a_row = np.concatenate([rem_row, *r0_rows])
    a_val = np.concatenate([rem_val, *r0_vals])
    keep = countable[a_row] & ((a_val > row_lo[a_row]) == (a_val < row_hi[a_row]))
    a_row, a_val = a_row[keep], a_val[keep]
    srt = np.lexsort((a_val, a_row))
    a_row, a_val = a_row[srt], a_val[srt]
    values[:, 1] = np.bincount(a_row, minlength=n_rows)
    _variant_counts(values, a_row, a_val, bucket)
    _carry_out(keys, row_loc, f_in, a_in, stale, bucket, carry, vals, offsets, lens, row_seg)
    return SourceRows(keys, row_loc, bucket, stamp, values)


def _variant_counts(values, a_row, a_val, bucket) -> None:
    """appointments_X as published (Q2): only the run of the row's last counted appointment."""
    if not len(a_row):
        return
    last = np.r_[a_row[1:] != a_row[:-1], True]
    rows = a_row[last]
    for fam, (slot_u, buck_u) in enumerate(zip(_units(a_val), _units(bucket), strict=True)):
        rel = slot_u - buck_u[a_row]
        last_rel = np.zeros(len(bucket), dtype=np.int64)
        last_rel[rows] = rel[last]
        run = np.bincount(a_row[rel == last_rel[a_row]], minlength=len(bucket))
        for n in range(5):
            hit = rows[last_rel[rows] == n]
            values[hit, 19 + 5 * fam + n] = run[hit]


def _carry_out(keys, row_loc, f_in, a_in, stale, bucket, carry, vals, offsets, lens, seg):
    """FREE = last free set + stale; APPOINTED = everything once free and not free at the end."""
    last_row = np.full(len(keys), -1, dtype=np.int64)
    last_row[row_loc] = np.arange(len(row_loc))
    ever: list[list[np.ndarray]] = [[] for _ in keys]
    for s in np.unique(np.stack([row_loc, seg], axis=1), axis=0):
        ever[s[0]].append(vals[offsets[s[1]] : offsets[s[1]] + lens[s[1]]])
    for li, loc in enumerate(keys):
        i = last_row[li]
        cur = vals[offsets[seg[i]] : offsets[seg[i]] + lens[seg[i]]]
        once = np.unique(np.concatenate([a_in[li], f_in[li], *ever[li]]))
        appointed = np.setdiff1d(once, np.union1d(cur, stale[li]), assume_unique=True)
        carry[loc] = LocState(np.union1d(cur, stale[li]), appointed, int(bucket[i]))
