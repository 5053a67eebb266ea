"""Per-row numbers of the published metrics for one source and week, vectorised.

Rows are ``(taken_at, location_id, free minutes)`` in raw-file order. A location's rows form
runs of one unchanged free set (decoded states share the array while it is unchanged). Set
work is done once per run: the slots that differ from the location's previous run come from
a run x slot bit matrix per location, and each changed row's appointments and cancellations
from those few slots; a row inside a run repeats its run's counts, looked up once per run and
hour/day/week. Every rule follows ``docs/protocols/metrics.md`` of the shared folder
(16-minute rule, first/last free slot, Q1 single free slot, Q2 variant counters, carried
FREE/APPOINTED/previous bucket).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ..store.plausible import SLOT_BEFORE

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
_BIG = np.iinfo(np.int64).max
#: cells of a source's run x slot matrices past which changes are found by binary search
MATRIX_MAX = 1 << 27
#: a per-location lookup over the minute range is used while it is at most this many
#: times the number of slot values (a stray far-future slot falls back to sorting)
SPAN_FACTOR = 8


SLOT_BEFORE_MINUTES = int(SLOT_BEFORE.total_seconds()) // 60


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
    values: np.ndarray  # (len(NAMES), rows) int32


@dataclass
class Runs:
    """A source's rows as runs of an unchanged free set per location."""

    keys: list[str]  # location ids in first-seen order
    row_loc: np.ndarray  # location index of each row
    row_run: np.ndarray  # run of each row; runs are numbered location by location
    bucket: np.ndarray  # 15-minute bucket of each row, minutes since 1970
    runs: list[list[np.ndarray]]  # per location, the free minutes of each run in time order
    run_row: np.ndarray  # first row of each run


def build_runs(snapshots: Iterable[tuple[str, Mapping[str, np.ndarray]]]) -> Runs:
    """Runs of ``(taken_at, {location: free minutes})`` items; rows in item order, then in
    location order. A state with the previous item's locations costs only the locations
    whose array object changed (decoded states share the unchanged arrays)."""
    index: dict[str, int] = {}
    runs: list[list[np.ndarray]] = []
    run_rows: list[list[int]] = []
    row_loc: list[int] = []
    row_local: list[int] = []
    stamps: list[str] = []
    counts: list[int] = []
    prev: Mapping[str, np.ndarray] = {}
    locs: list[int] = []  # the item's rows: location index and run within the location
    local: list[int] = []
    slot: dict[str, int] = {}  # location -> its row within the item
    for stamp, state in snapshots:
        start = len(row_loc)
        if state is not prev:
            if state.keys() == prev.keys():
                for loc in [loc for loc, arr in state.items() if arr is not prev[loc]]:
                    li, arr = index[loc], state[loc]
                    if not _same(runs[li][-1], arr):
                        runs[li].append(arr)
                        run_rows[li].append(start + slot[loc])
                        local[slot[loc]] += 1
            else:
                locs, local, slot = [], [], {}
                for loc in sorted(state):
                    arr, li = state[loc], index.get(loc)
                    if li is None:
                        li = index[loc] = len(runs)
                        runs.append([arr])
                        run_rows.append([start + len(locs)])
                    elif not _same(runs[li][-1], arr):
                        runs[li].append(arr)
                        run_rows[li].append(start + len(locs))
                    slot[loc] = len(locs)
                    locs.append(li)
                    local.append(len(runs[li]) - 1)
            prev = state
        row_loc += locs
        row_local += local
        stamps.append(stamp)
        counts.append(len(locs))
    minute = np.array([s[:16] for s in stamps], dtype="datetime64[m]").astype(np.int64)
    n_run = np.array([len(r) for r in runs], dtype=np.int64)
    loc = np.array(row_loc, dtype=np.int64)
    return Runs(
        list(index),
        loc,
        (np.cumsum(n_run) - n_run)[loc] + np.array(row_local, dtype=np.int64),
        np.repeat(minute // 15 * 15, counts),
        runs,
        np.array([i for r in run_rows for i in r], dtype=np.int64),
    )


def _same(old: np.ndarray, new: np.ndarray) -> bool:
    if old is new:
        return True
    if len(old) != len(new):
        return False
    if old.dtype == new.dtype:
        return old.tobytes() == new.tobytes()
    return bool(np.array_equal(old, new))


def source_rows(rows: list[tuple[str, str, np.ndarray]], carry: dict[str, LocState]) -> SourceRows:
    """Metric numbers of every row; updates ``carry`` (keyed by location id) in place."""
    runs = build_runs(row_items(rows))
    return SourceRows(runs.keys, runs.row_loc, runs.bucket, metric_values(runs, carry))


def row_items(rows: Iterable[tuple[str, str, np.ndarray]]) -> Iterator[tuple[str, dict]]:
    """Rows as ``build_runs`` items: consecutive rows of one time with rising locations."""
    stamp, state = None, {}
    for t, loc, arr in rows:
        if t != stamp or (state and loc <= next(reversed(state))):
            if stamp is not None:
                yield stamp, state
            stamp, state = t, {}
        state[loc] = arr
    if stamp is not None:
        yield stamp, state


def _units(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour, day and ISO-week (Monday based) index of minutes since 1970-01-01 (a Thursday)."""
    day = minutes // 1440
    return minutes // 60, day, (day + 3) // 7


def _unit_start(fam: int, unit: np.ndarray) -> np.ndarray:
    """First minute of hour / day / ISO-week ``unit``."""
    return unit * 60 if fam == 0 else unit * 1440 if fam == 1 else (unit * 7 - 3) * 1440


def _member(gkey: np.ndarray, query: np.ndarray) -> np.ndarray:
    if not len(gkey):
        return np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(gkey, query), len(gkey) - 1)
    return gkey[pos] == query


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each start and length."""
    ends = np.cumsum(lens)
    return np.repeat(starts - ends + lens, lens) + np.arange(ends[-1] if len(ends) else 0)


@dataclass
class _Slots:
    """A source's runs flattened: slot values, their runs and their (location, slot) columns."""

    run_loc: np.ndarray
    run_local: np.ndarray
    n_run: np.ndarray  # runs per location
    lens: np.ndarray
    offsets: np.ndarray
    vals: np.ndarray  # as given (uint32 from the store)
    run_lo: np.ndarray  # smallest / largest slot of each run (int64; BIG / -1 when empty)
    run_hi: np.ndarray
    col: np.ndarray  # column of each value; columns sorted by location, then minute
    col_val: np.ndarray
    col_base: np.ndarray  # first column of each location
    n_col: np.ndarray


def _slots(runs: list[list[np.ndarray]]) -> _Slots:
    n_run = np.array([len(r) for r in runs], dtype=np.int64)
    flat = [a for r in runs for a in r]
    run_loc = np.repeat(np.arange(len(runs)), n_run)
    run_base = np.cumsum(n_run) - n_run
    run_local = np.arange(len(flat)) - run_base[run_loc]
    lens = np.fromiter(map(len, flat), np.int64, len(flat))
    offsets = np.cumsum(lens) - lens
    vals = np.concatenate(flat) if lens.sum() else _EMPTY
    nonempty = lens > 0
    run_lo = np.full(len(flat), _BIG, dtype=np.int64)
    run_hi = np.full(len(flat), -1, dtype=np.int64)
    run_lo[nonempty] = vals[offsets[nonempty]]
    run_hi[nonempty] = vals[offsets[nonempty] + lens[nonempty] - 1]
    if len(vals) > 1:
        down = np.flatnonzero(vals[1:] <= vals[:-1]) + 1  # allowed only where a run starts
        at = np.minimum(np.searchsorted(offsets, down), len(offsets) - 1)
        if not (offsets[at] == down).all():
            raise ValueError("free slots of a snapshot must be sorted and unique")
    lo = np.minimum.reduceat(run_lo, run_base) if len(flat) else _EMPTY
    hi = np.maximum.reduceat(run_hi, run_base) if len(flat) else _EMPTY
    span = np.where(hi >= lo, hi - lo + 1, 0)
    if span.sum() <= SPAN_FACTOR * (len(vals) + 512):
        # a lookup over each location's minute range: mark the values, number the marks
        span_base = np.cumsum(span) - span
        pos = np.repeat((span_base - np.minimum(lo, hi))[run_loc], lens)
        pos += vals
        mark = np.zeros(int(span.sum()), dtype=bool)
        mark[pos] = True
        at = np.flatnonzero(mark)
        lut = np.empty(len(mark), dtype=np.int32 if len(at) < 1 << 31 else np.int64)
        lut[at] = np.arange(len(at))
        col = lut[pos]
        col_loc = np.searchsorted(span_base + span, at, side="right")
        col_val = at - (span_base - lo)[col_loc]
    else:
        keys, col = np.unique(np.repeat(run_loc * _SHIFT, lens) + vals, return_inverse=True)
        col_loc, col_val = keys // _SHIFT, keys % _SHIFT
    n_col = np.bincount(col_loc, minlength=len(runs))
    col_base = np.cumsum(n_col) - n_col
    return _Slots(run_loc, run_local, n_run, lens, offsets, vals, run_lo, run_hi, col, col_val,
                  col_base, n_col)  # fmt: skip


def _changes(s: _Slots) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slots that differ from the location's previous run: (later run, column, added),
    ordered by run, then minute."""
    cells = s.n_run * s.n_col
    if cells.sum() > MATRIX_MAX:
        return _changes_searched(s)
    base = np.cumsum(cells) - cells
    run_base = np.cumsum(s.n_run) - s.n_run
    n_col = s.n_col[s.run_loc]
    # matrix cell of (run, column): base + local run * n_col + column - col_base
    first = (base - s.col_base)[s.run_loc] + s.run_local * n_col
    bits = np.zeros(int(cells.sum()), dtype=bool)
    cell = np.repeat(first, s.lens)
    cell += s.col
    bits[cell] = True
    diff = np.zeros(len(bits), dtype=bool)
    for li in np.flatnonzero((s.n_run > 1) & (s.n_col > 0)):
        b, n, c = base[li], cells[li], s.n_col[li]
        np.not_equal(bits[b + c : b + n], bits[b : b + n - c], out=diff[b + c : b + n])
    at = np.flatnonzero(diff)
    loc = np.searchsorted(base + cells, at, side="right")
    local, c = np.divmod(at - base[loc], s.n_col[loc])
    return run_base[loc] + local, s.col_base[loc] + c, bits[at]


def _changes_searched(s: _Slots) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_changes`` by binary search of each slot in the neighbouring runs."""
    gkey = np.repeat(np.arange(len(s.lens)) * _SHIFT, s.lens) + s.vals
    last = s.run_local == s.n_run[s.run_loc] - 1
    new = np.flatnonzero(np.repeat(s.run_local > 0, s.lens) & ~_member(gkey, gkey - _SHIFT))
    gone = np.flatnonzero(np.repeat(~last, s.lens) & ~_member(gkey, gkey + _SHIFT))
    run = np.r_[
        np.searchsorted(s.offsets, new, side="right") - 1,
        np.searchsorted(s.offsets, gone, side="right"),
    ]
    col = np.r_[s.col[new], s.col[gone]]
    order = np.lexsort((col, run))
    return run[order], col[order], np.r_[np.ones(len(new), bool), np.zeros(len(gone), bool)][order]


def metric_values(r: Runs, carry: dict[str, LocState]) -> np.ndarray:
    """(len(NAMES), rows) numbers of ``r``; updates ``carry`` (keyed by location id)."""
    n_rows = len(r.row_loc)
    values = np.zeros((len(NAMES), n_rows), dtype=np.int32)
    if not n_rows:
        return values
    s = _slots(r.runs)
    bucket, row_run = r.bucket, r.row_run
    n_loc = len(r.keys)
    run_base = np.cumsum(s.n_run) - s.n_run
    first_row = r.run_row[run_base]
    d_run, d_col, d_add = _changes(s)

    values[0, r.run_row[s.run_local > 0]] = 1
    values[3] = s.lens[row_run]
    order = np.argsort(r.row_loc, kind="stable")  # rows location by location, in time
    _window_counts(values, s, row_run, bucket, order)

    # countable rows: previous bucket of the location less than 16 minutes before
    prev_bucket = np.full(n_rows, np.iinfo(np.int64).min // 2, dtype=np.int64)
    prev_bucket[order[1:]] = bucket[order[:-1]]
    prev_bucket[first_row] = np.iinfo(np.int64).min // 2
    st_in = [carry.get(k) for k in r.keys]
    for li, st in enumerate(st_in):
        if st is not None and st.bucket is not None:
            prev_bucket[first_row[li]] = st.bucket
    countable = bucket - prev_bucket < 16

    # carried sets; stale = carried FREE slots that are no column of this week
    f_in = [st.free.astype(np.int64) if st is not None else _EMPTY for st in st_in]
    a_in = [st.appointed.astype(np.int64) if st is not None else _EMPTY for st in st_in]
    columns = np.unique(s.col_val) if any(len(f) for f in f_in) else _EMPTY
    stale = [f[~np.isin(f, columns, assume_unique=True)] if len(f) else f for f in f_in]
    stale_lo = np.array([x[0] if len(x) else _BIG for x in stale], dtype=np.int64)
    stale_hi = np.array([x[-1] if len(x) else -1 for x in stale], dtype=np.int64)

    # cancellations: a slot free again that was free (or appointed) before
    a_run, a_col = d_run[d_add], d_col[d_add]
    first_add = np.full(len(s.col_val), len(s.lens), dtype=np.int64)
    np.minimum.at(first_add, a_col, a_run)
    in_first = np.zeros(len(s.col_val), dtype=bool)
    first_runs = run_base[s.n_run > 0]
    in_first[s.col[_ranges(s.offsets[first_runs], s.lens[first_runs])]] = True
    seen = in_first[a_col] | (a_run > first_add[a_col])
    if any(len(f) or len(a) for f, a in zip(f_in, a_in, strict=True)):
        old = [
            i * _SHIFT + np.union1d(f, a) for i, (f, a) in enumerate(zip(f_in, a_in, strict=True))
        ]
        seen |= _member(np.concatenate(old), s.run_loc[a_run] * _SHIFT + s.col_val[a_col])
    canc = np.bincount(r.run_row[a_run[seen]], minlength=n_rows)

    # appointments: vanished slots that are not the first/last free one (or the only one),
    # grouped by run: a run's first row is the row that saw its slots vanish
    g_run = d_run[~d_add]
    g_loc = s.run_loc[g_run]
    runs = [g_run]
    gone = [s.col_val[d_col[~d_add]]]
    lo = [np.minimum(s.run_lo[g_run], stale_lo[g_loc])]
    hi = [np.maximum(s.run_hi[g_run - 1], stale_hi[g_loc])]
    # first rows of the week: walk against the carried state
    carried = np.flatnonzero([len(f) > 0 or len(a) > 0 for f, a in zip(f_in, a_in, strict=True)])
    for li in carried:
        i, f, a, k = first_row[li], f_in[li], a_in[li], run_base[li]
        cur = s.vals[s.offsets[k] : s.offsets[k] + s.lens[k]]
        canc[i] += np.isin(cur, a, assume_unique=True).sum()
        lost = f[np.isin(f, columns, assume_unique=True) & ~np.isin(f, cur, assume_unique=True)]
        runs.append(np.full(len(lost), k, dtype=np.int64))
        gone.append(lost)
        lo.append(np.full(len(lost), min(cur[0] if len(cur) else _BIG, stale_lo[li])))
        hi.append(np.full(len(lost), f[-1] if len(f) else -1))
    values[2] = np.where(countable, canc, 0)
    a_run, a_val, lo, hi = (np.concatenate(x) for x in (runs, gone, lo, hi))
    if len(carried):  # each part is sorted by run, then minute
        srt = np.argsort(a_run, kind="stable")
        a_run, a_val, lo, hi = a_run[srt], a_val[srt], lo[srt], hi[srt]
    a_row = r.run_row[a_run]
    keep = countable[a_row] & ((a_val > lo) == (a_val < hi))
    a_run, a_val, a_row = a_run[keep], a_val[keep], a_row[keep]
    values[1] = np.bincount(a_row, minlength=n_rows)
    _variant_counts(values, a_run, a_val, a_row, bucket)

    # carried out: FREE = last free set + stale; APPOINTED = once free, not free at the end
    last_runs = run_base + s.n_run - 1
    in_last = np.zeros(len(s.col_val), dtype=bool)
    in_last[s.col[_ranges(s.offsets[last_runs], s.lens[last_runs])]] = True
    not_last = np.flatnonzero(~in_last)
    appointed = np.split(s.col_val[not_last], np.searchsorted(not_last, s.col_base[1:]))
    last_row = order[np.cumsum(np.bincount(r.row_loc, minlength=n_loc)) - 1]
    # every later row's slots lie at or after its day - SLOT_BEFORE (the store refuses
    # others), so an appointed slot before that can never be free again: not carried
    horizon = int(bucket.max()) // 1440 * 1440 - SLOT_BEFORE_MINUTES if n_rows else None
    for li, loc in enumerate(r.keys):
        free = r.runs[li][-1].astype(np.int64)
        if len(f_in[li]) or len(a_in[li]):
            free = np.union1d(free, stale[li])
            once = s.col_val[s.col_base[li] : s.col_base[li] + s.n_col[li]]
            once = np.unique(np.concatenate([a_in[li], f_in[li], once]))
            appointed[li] = np.setdiff1d(once, free, assume_unique=True)
        if horizon is not None and len(appointed[li]):
            appointed[li] = appointed[li][appointed[li] >= horizon]
        carry[loc] = LocState(free, appointed[li], int(bucket[last_row[li]]))
    return values


def _window_counts(values, s: _Slots, row_run, bucket, order) -> None:
    """free_dates_X: slots of the row's run per relation, once per run and hour/day/week."""
    gkey = np.repeat(np.arange(len(s.lens)) * _SHIFT, s.lens)
    gkey += s.vals
    run, minute = row_run[order], bucket[order]
    other_run = np.r_[True, run[1:] != run[:-1]]
    out = np.empty((15, len(order)), dtype=values.dtype)
    for fam, (unit, step) in enumerate(zip(_units(minute), (60, 1440, 10080), strict=True)):
        new = np.flatnonzero(other_run | np.r_[True, unit[1:] != unit[:-1]])
        first = run[new] * _SHIFT + _unit_start(fam, unit[new])
        pos = np.searchsorted(gkey, first[:, None] + np.arange(0, 6 * step, step))
        counts = np.diff(pos, axis=1).T
        out[5 * fam : 5 * fam + 5] = np.repeat(counts, np.diff(new, append=len(order)), axis=1)
    values[4:19, order] = out


def _variant_counts(values, a_run, a_val, a_row, bucket) -> None:
    """appointments_X as published (Q2): only the run of the row's last counted appointment.

    The counted appointments come grouped by run (one row each), in minute order."""
    if not len(a_run):
        return
    head = np.r_[True, a_run[1:] != a_run[:-1]]
    group = np.cumsum(head) - 1
    last = np.r_[head[1:], True]
    rows = a_row[last]
    for fam, (slot_u, buck_u) in enumerate(zip(_units(a_val), _units(bucket), strict=True)):
        rel = slot_u - buck_u[a_row]
        last_rel = rel[last]
        run = np.bincount(group[rel == last_rel[group]], minlength=len(rows))
        for n in range(5):
            hit = last_rel == n
            values[19 + 5 * fam + n, rows[hit]] = run[hit]
