"""The run-based metric rows, the store read path and the CSV writer against plain references.

The reference walks every row slot by slot with Python sets, as ``docs/protocols/metrics.md``
states the rules (16-minute rule, first/last free slot, Q1, Q2, carried FREE/APPOINTED and
previous bucket); hypothesis feeds it and ``source_rows`` the same random weeks, including
carried state with stale slots, repeated and equal-but-new state arrays, two rows of one
location in a bucket, and the fallbacks (binary search instead of bit matrices, sorting
instead of a minute lookup).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.analysis import metric_rows, published
from office_schedule.analysis.metric_rows import NAMES, LocState, build_runs, source_rows
from office_schedule.store import SQLiteStore
from office_schedule.store.weeks import week_rows

T0 = int(np.datetime64("2021-07-18T21:00", "m").astype(np.int64))  # Sunday evening
EXAMPLES = settings(max_examples=120, deadline=None)


def _stamp(minute: int, second: int) -> str:
    return str(np.datetime64(minute, "m") + np.timedelta64(second, "s")).replace("T", " ")


def _units(m: int) -> tuple[int, int, int]:
    return m // 60, m // 1440, (m // 1440 + 3) // 7


def _relations(bucket: int, slot: int) -> list[int]:
    """Column offsets (0..14) of the h/d/w relations 0..4 of a slot to a bucket."""
    rel = [s - b for s, b in zip(_units(slot), _units(bucket), strict=True)]
    return [5 * f + n for f, n in enumerate(rel) if 0 <= n <= 4]


def reference(rows, carry: dict[str, LocState]):
    """(keys, values (len(NAMES), rows), carry out) walking the rows one by one."""
    columns = sorted({int(x) for _, _, a in rows for x in a})
    free = {k: set(map(int, s.free)) for k, s in carry.items()}
    appointed = {k: set(map(int, s.appointed)) for k, s in carry.items()}
    prev_b = {k: s.bucket for k, s in carry.items() if s.bucket is not None}
    pattern: dict[str, set] = {}
    keys: list[str] = []
    values = np.zeros((len(NAMES), len(rows)), dtype=np.int64)
    for i, (stamp, loc, arr) in enumerate(rows):
        if loc not in keys:
            keys.append(loc)
        b = int(np.datetime64(stamp[:16], "m").astype(np.int64)) // 15 * 15
        count = loc in prev_b and b - prev_b[loc] < 16
        prev_b[loc] = b
        cur = set(map(int, arr))
        fr, ap = free.setdefault(loc, set()), appointed.setdefault(loc, set())
        tally: dict[int, int] = {}
        for slot in columns:
            if slot in cur:
                fr.add(slot)
                if slot in ap:
                    ap.remove(slot)
                    values[2, i] += count
            elif slot in fr:
                edge = len(fr) > 1 and slot in (min(fr), max(fr))
                if count and not edge:
                    values[1, i] += 1
                    tally = {r: tally.get(r, 0) + 1 for r in _relations(b, slot)}
                fr.remove(slot)
                ap.add(slot)
        values[0, i] = bool(columns) and loc in pattern and pattern[loc] != cur
        pattern[loc] = cur
        values[3, i] = len(cur)
        for slot in cur:
            for r in _relations(b, slot):
                values[4 + r, i] += 1
        for r, n in tally.items():
            values[19 + r, i] = n
    out = dict(carry)
    for loc in keys:
        out[loc] = LocState(
            np.array(sorted(free[loc])), np.array(sorted(appointed[loc])), prev_b[loc]
        )
    return keys, values, out


@st.composite
def weeks(draw):
    """Rows of a few locations every 15-45 minutes, their free sets mutating, and a carry."""
    universe = sorted(draw(st.sets(st.integers(-180, 12 * 1440).map(lambda d: T0 + d // 5 * 5),
                                   min_size=1, max_size=24)))  # fmt: skip
    locs = draw(st.lists(st.sampled_from("pqrst"), min_size=1, max_size=4, unique=True))
    dtype = draw(st.sampled_from([np.uint32, np.int64]))
    state = {loc: np.array(sorted(draw(st.sets(st.sampled_from(universe)))), dtype=dtype)
             for loc in locs}  # fmt: skip
    rows, t = [], T0 + draw(st.integers(0, 40))
    for _ in range(draw(st.integers(1, 14))):
        for loc in sorted(locs):
            if draw(st.integers(0, 9)) == 0:
                continue  # no snapshot of this location
            how = draw(st.integers(0, 5))
            if how == 1:  # equal but a new array
                state[loc] = state[loc].copy()
            elif how >= 2:
                keep = [x for x in state[loc] if draw(st.integers(0, 4))]
                more = draw(st.sets(st.sampled_from(universe), max_size=3))
                state[loc] = np.array(sorted(set(keep) | more), dtype=dtype)
            rows.append((_stamp(t, draw(st.integers(0, 59))), loc, state[loc]))
        t += draw(st.sampled_from([0, 15, 15, 15, 30, 45]))
    rows.sort(key=lambda r: (r[0], r[1]))
    carry = {}
    for loc in draw(st.lists(st.sampled_from("pqrstu"), unique=True)):
        pool = universe + [T0 - 3000, T0 + 20000]  # slots of no column this week: stale
        f = draw(st.sets(st.sampled_from(pool)))
        a = draw(st.sets(st.sampled_from(pool))) - f
        b = draw(st.sampled_from([None, T0 - 15, T0 - 60, T0]))
        carry[loc] = LocState(np.array(sorted(f), np.int64), np.array(sorted(a), np.int64), b)
    return rows, carry


def _same_carry(a: dict[str, LocState], b: dict[str, LocState], rows=()) -> None:
    """``b`` is the reference's carry: its APPOINTED slots before the horizon of ``rows`` (no
    later row can hold them, see ``metric_rows``) are not carried."""
    horizon = None
    if rows:
        last = max(int(np.datetime64(stamp, "m").astype(np.int64)) for stamp, _, _ in rows)
        horizon = last // 1440 * 1440 - metric_rows.SLOT_BEFORE_MINUTES
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k].free, b[k].free), k
        want = b[k].appointed
        if horizon is not None and k in {loc for _, loc, _ in rows}:
            want = want[want >= horizon]
        assert np.array_equal(a[k].appointed, want), k
        assert a[k].bucket == b[k].bucket, k


@EXAMPLES
@given(weeks(), st.sampled_from(["matrix", "searched", "sorted"]))
def test_source_rows_equals_the_row_by_row_reference(week, path) -> None:
    rows, carry = week
    keys, want, want_carry = reference(rows, carry)
    got_carry = dict(carry)
    with pytest.MonkeyPatch.context() as mp:
        if path == "searched":
            mp.setattr(metric_rows, "MATRIX_MAX", 0)
        if path == "sorted":
            mp.setattr(metric_rows, "SPAN_FACTOR", 0)
        got = source_rows(rows, got_carry)
    assert got.keys == keys
    for m, name in enumerate(NAMES):
        assert got.values[m].tolist() == want[m].tolist(), name
    _same_carry(got_carry, want_carry, rows)


@EXAMPLES
@given(weeks(), st.integers(1, 12 * 1440))
def test_appointed_slots_past_the_horizon_change_no_later_count(first, later) -> None:
    """Not carrying APPOINTED slots before the horizon changes nothing in a later week whose
    slots are plausible (at or after their snapshot's day minus SLOT_BEFORE): the same
    slots offered again ``later`` minutes on, as far as still plausible."""
    rows_1, carry = first
    rows_2 = []
    for stamp, loc, arr in rows_1:
        taken = np.datetime64(stamp, "s") + np.timedelta64(later + 14 * 45, "m")
        floor = int(taken.astype("datetime64[D]").astype("datetime64[m]").astype(np.int64))
        arr = arr.astype(np.int64)
        rows_2.append((str(taken).replace("T", " "), loc, arr[arr >= floor - 1440]))
    pruned, kept = dict(carry), dict(carry)
    source_rows(rows_1, pruned)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metric_rows, "SLOT_BEFORE_MINUTES", 10**9)  # horizon far back: keep all
        source_rows(rows_1, kept)
    a, b = source_rows(rows_2, pruned), source_rows(rows_2, kept)
    assert a.values.tolist() == b.values.tolist()


def test_unsorted_slots_are_refused() -> None:
    rows = [("2021-07-12 00:00:00", "p", np.array([5, 3]))]
    with pytest.raises(ValueError, match="sorted and unique"):
        source_rows(rows, {})


@EXAMPLES
@given(weeks())
def test_store_read_path_equals_week_rows(tmp_path_factory, week) -> None:
    """``week_runs`` reads ``store.states`` directly; ``week_rows`` + sorting is the reference
    (same rows in the same order, same runs), and so is the whole published week."""
    rows, _ = week
    snaps: dict[str, dict] = {}
    for stamp, loc, arr in rows:
        snaps.setdefault(stamp, {})[loc] = arr.astype(np.uint32)
    if not snaps:
        return
    with SQLiteStore(tmp_path_factory.mktemp("s") / "x.db") as store:
        store.save_segment("src", "2021-28", [(t, "ok", s) for t, s in sorted(snaps.items())])
        got = published.week_runs(store, "src", None, 2021, 28)
        found = week_rows(store, "src", None, 2021, 28)
        files, _ = published.published_metrics(store, ["src"], 2021, 28)
    ordered = [(d, loc, found[(d, loc)]) for d, loc in sorted(found)]
    want = build_runs((d, {loc: a}) for d, loc, a in ordered)
    assert got.keys == want.keys
    for name in ("row_loc", "row_run", "bucket", "run_row"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    assert [[a.tolist() for a in r] for r in got.runs] == [
        [a.tolist() for a in r] for r in want.runs
    ]
    if not ordered:
        assert files == {}
        return
    values = source_rows(ordered, {}).values
    stamps = sorted({_stamp(int(b), 0) for b in want.bucket})
    lines = files["free_dates.csv"].decode().splitlines()
    assert lines[0] == "date," + ",".join(f"src/{k}" for k in want.keys)
    assert [line.split(",")[0] for line in lines[1:]] == stamps
    assert sum(int(c) for line in lines[1:] for c in line.split(",")[1:] if c) == values[3].sum()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_csv_writer_equals_polars(data) -> None:
    n_b, n_k = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    filled = np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=n_b * n_k,
                                               max_size=n_b * n_k)))  # fmt: skip
    big = data.draw(st.sampled_from([9, 99, 12345, 10**12]))
    cells = st.lists(st.integers(0, big), min_size=len(filled), max_size=len(filled))
    grids = np.array(data.draw(st.lists(cells, min_size=1, max_size=3)), dtype=np.int64)
    stamps = [f"2021-07-1{b % 10} 0{b % 10}:15:00" for b in range(n_b)]
    names = [f"s/{chr(97 + k)}" if k != 2 else 's/"x,y"' for k in range(n_k)]
    got = published._csv(stamps, names, filled, grids)
    assert got == [published._csv_polars(stamps, names, filled, g) for g in grids]
