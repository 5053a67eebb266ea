"""The fast event, cutoff and segment code against straightforward references.

The references below follow each rule snapshot by snapshot with plain set operations
(``np.isin``, ``np.setdiff1d``, ``np.union1d``), as the code did before it worked on runs of
equal states; hypothesis feeds both the same state sequences.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.analysis import cutoffs as fast_cutoffs
from office_schedule.analysis.cutoffs import CLOCK_SPREAD, MAX_DAY_OFFSET, Cutoff, cutoff_at
from office_schedule.analysis.events import SCHEMA, detect_events
from office_schedule.analysis.insights import _distinct
from office_schedule.analysis.series import Track, minutes_of, to_minutes
from office_schedule.store import segments

DAY = 1440
T0 = to_minutes("2021-07-12 07:00:00")  # a Monday
EXAMPLES = settings(max_examples=150, deadline=None)


# -- references ------------------------------------------------------------------------------
def _minus(a, b):
    return a[~np.isin(a, b)]


def _range(a, lo, hi):
    return a[(a > lo) & (a <= hi)]


def _horizon(a):
    return (int(a[-1]) // DAY + 1) * DAY - 1 if len(a) else np.inf


def _whole_days(before, vanished, day_min):
    if len(vanished) < day_min:
        return vanished
    days = vanished // DAY
    uv, cv = np.unique(days, return_counts=True)
    ub, cb = np.unique(before // DAY, return_counts=True)
    whole = uv[(cv >= day_min) & (cv == cb[np.searchsorted(ub, uv)])]
    return vanished[~np.isin(days, whole)]


def _expired(cut, slots, t1, t2, after):
    mask = np.zeros(len(slots), dtype=bool)
    if cut.lead is not None:
        mask |= slots - t2 < cut.lead
    if cut.day is not None:
        offset, clock = cut.day
        when = (slots // DAY - offset) * DAY + clock
        at = (t2 >= when - CLOCK_SPREAD) & (t1 < when + CLOCK_SPREAD)
        mask |= at & ~np.isin(slots // DAY, after // DAY)
    return mask


def ref_detect(snaps, cutoffs=None, max_gap=35, grace=15, stale=60, mass_min=10, share=0.5,
               day_min=5):  # fmt: skip
    out = []  # (detected, slot, kind) in emission order
    prev, prev_t, held = None, 0, False
    pending, pend_t, booked = np.zeros(0, np.int64), 0, np.zeros(0, np.int64)
    for t, raw in snaps:
        cur = np.unique(np.asarray(raw, dtype=np.int64))
        if prev is None:
            prev, prev_t = cur, t
            continue
        same = np.array_equal(cur, prev)
        is_stale = len(prev) > 0 and prev[0] < prev_t - stale
        gap = t - prev_t > max_gap
        live = same or not (gap or is_stale)
        mass = False
        if live and not same:
            lo, hi = t + grace, _horizon(prev)
            cut = cutoff_at(cutoffs, t) if cutoffs else None
            if cut is not None:
                gone = _minus(_range(prev, t, np.inf), cur)
                expired = gone[_expired(cut, gone, prev_t, t, _range(cur, t, np.inf))]
                out += [(t, s, "expired") for s in expired.tolist()]
                prev = _minus(prev, expired)
            before = _range(prev, lo, hi)
            vanished = _minus(before, cur)
            mass = len(before) >= mass_min and len(vanished) > share * len(before)
        returned = np.zeros(0, np.int64)
        if len(pending) and not mass:
            returned = pending[np.isin(pending, cur)]
            gone = _minus(pending, cur)
            out += [(pend_t, s, "booked") for s in gone.tolist()]
            booked = np.union1d(booked, gone)
            pending = np.zeros(0, np.int64)
        if same:
            prev_t = t
            continue
        if gap and not is_stale:
            taken = _taken(prev, cur, prev_t, t, cutoffs, grace, mass_min, share, day_min)
            booked = np.union1d(booked, taken)
        back = booked[np.isin(booked, cur)]
        if live:
            if not mass:
                pending, pend_t = _whole_days(before, vanished, day_min), t
            back = back[back > lo]
            out += [(t, s, "cancelled") for s in back.tolist()]
            new = _minus(_minus(_minus(_range(cur, t, np.inf), prev), back), returned)
            out += [(t, s, "released") for s in new.tolist()]
        booked = _minus(booked, back)
        booked = booked[booked > t]
        if mass and not held:
            prev, held = np.union1d(prev, cur), True
        else:
            prev, prev_t, held = cur, t, False
    out.sort(key=lambda e: (e[0], e[1]))  # stable: emission order among equal keys
    return out


def _taken(prev, cur, prev_t, t, cutoffs, grace, mass_min, share, day_min):
    before = _range(prev, t + grace, _horizon(prev))
    vanished = _minus(before, cur)
    cut = cutoff_at(cutoffs, t) if cutoffs else None
    if cut is not None and len(vanished):
        vanished = vanished[~_expired(cut, vanished, prev_t, t, _range(cur, t, np.inf))]
    if len(before) >= mass_min and len(vanished) > share * len(before):
        return np.zeros(0, np.int64)
    return _whole_days(before, vanished, day_min)


def ref_learn_cutoff(snaps):
    snaps = [(t, np.unique(np.asarray(a, dtype=np.int64))) for t, a in snaps]
    vanishings = []
    for (t1, a1), (t2, a2) in zip(snaps, snaps[1:], strict=False):
        gone = _minus(a1[a1 > t2], a2)
        if not np.array_equal(a1, a2) and len(gone):
            vanishings.append((t1, t2, gone, a2))
    lead = _ref_lead(snaps, vanishings)
    day = _ref_day(vanishings)
    if lead is None and day is None:
        return None
    if lead is not None and day is not None:
        by_lead = _ref_explained(vanishings, Cutoff(lead=lead[0]))
        by_day = _ref_explained(vanishings, Cutoff(day=day[0]))
        both = len(by_lead & by_day)
        if both >= 0.8 * len(by_lead):
            lead = None
        elif both >= 0.8 * len(by_day):
            day = None
    return Cutoff(lead[0] if lead else None, day[0] if day else None, int(snaps[0][0]),
                  round(lead[1], 3) if lead else 0.0, lead[2] if lead else 0,
                  day[1] if day else 0)  # fmt: skip


def _ref_explained(vanishings, cut):
    return {(t2, int(s)) for t1, t2, g, a in vanishings for s in g[_expired(cut, g, t1, t2, a)]}


def _ref_lead(snaps, vanishings):
    leads = np.array([int(a[a > t][0]) - t for t, a in snaps if (a > t).any()], dtype=np.int64)
    if len(leads) < 20:
        return None
    ordered = np.sort(leads)
    cut = int(ordered[min(len(ordered) - 1, max(2, int(0.005 * len(ordered))))])
    if cut < fast_cutoffs.MIN_LEAD:
        return None
    floor = float(np.mean((leads >= cut - 5) & (leads < cut + 16)))
    expiring = sum(int(np.sum((g - t2 < cut) & (g - t1 >= cut - 5)))
                   for t1, t2, g, _ in vanishings)  # fmt: skip
    if floor < fast_cutoffs.MIN_FLOOR_SHARE or expiring < fast_cutoffs.MIN_EXPIRIES:
        return None
    return cut, floor, expiring


def _ref_day(vanishings):
    seen: dict[int, list] = {}
    for _t1, t2, gone, after in vanishings:
        day = int(gone[0] // DAY)
        nearest = after[after > t2]
        if len(nearest) and nearest[0] // DAY <= day:
            continue
        offset = day - t2 // DAY
        if 0 <= offset <= MAX_DAY_OFFSET:
            seen.setdefault(offset, []).append((t2 % DAY, day))
    best = None
    for offset, events in seen.items():
        for clock in sorted({c for c, _ in events}):
            near = [(c, d) for c, d in events if abs(c - clock) <= CLOCK_SPREAD]
            days = len({d for _, d in near})
            if days >= fast_cutoffs.MIN_DAYS and days >= 0.5 * len({d for _, d in events}):
                if best is None or days > best[1]:
                    best = ((offset, int(np.median([c for c, _ in near]))), days)
    return best


def ref_learn_cutoffs(snaps):
    weeks: dict[int, list] = {}
    for t, a in snaps:
        weeks.setdefault((t + 3 * DAY) // (7 * DAY), []).append((t, a))
    out, current = [], None
    for w in sorted(weeks):
        value = ref_learn_cutoff(weeks[w]) or current
        if value is None and len(weeks) > 1 and w == min(weeks):
            value = ref_learn_cutoff(snaps)
        if value is None or (current is not None and fast_cutoffs._same(value, current)):
            continue
        current = Cutoff(value.lead, value.day, int(weeks[w][0][0]), value.floor_share,
                         value.expiries, value.days)  # fmt: skip
        out.append(current)
    return out


# -- generated offices -----------------------------------------------------------------------
@st.composite
def offices(draw, days=3):
    """Snapshots of one office: a slot grid, bookings, returns, withdrawals, erratic and
    stale updates, gaps, repeated states (same array or an equal copy)."""
    step = draw(st.sampled_from([15, 30, 60]))
    grid = np.array([T0 + d * DAY + 60 + step * i for d in range(days + 2)
                     for i in range(draw(st.integers(1, 10)))], dtype=np.int64)  # fmt: skip
    lead = draw(st.sampled_from([None, 30, 120, 600]))
    day_cut = draw(st.sampled_from([None, (0, 420), (1, 19 * 60)]))
    expiry = Cutoff(lead=lead, day=day_cut).expiry(grid)
    free = set(draw(st.lists(st.sampled_from(grid.tolist()), max_size=len(grid))))
    t, out, last = T0, [], None
    for _ in range(draw(st.integers(1, 60))):
        t += draw(st.sampled_from([15, 15, 15, 15, 0, 5, 30, 45, 90, 300]))
        action = draw(st.sampled_from(["same", "copy", "book", "book", "free", "erratic",
                                       "withdraw", "stale", "empty"]))  # fmt: skip
        if action == "book" and free:
            free -= set(draw(st.lists(st.sampled_from(sorted(free)), max_size=4)))
        elif action == "free":
            free |= set(draw(st.lists(st.sampled_from(grid.tolist()), max_size=6)))
        elif action == "withdraw" and free:
            day = draw(st.sampled_from(sorted({s // DAY for s in free})))
            free = {s for s in free if s // DAY != day}
        state = np.array(sorted(s for s in free if s > t and expiry[grid == s][0] > t),
                         dtype=np.int64)  # fmt: skip
        if action == "erratic":
            state = state[: len(state) // 3]
        elif action == "stale":
            state = np.concatenate(([t - 200], state))
        elif action == "empty":
            state = state[:0]
        if action == "same" and last is not None:
            state = last
        elif action == "copy" and last is not None:
            state = last.copy()
        out.append((t, state))
        last = state
    return out


@st.composite
def regular_offices(draw):
    """Snapshots every 15 minutes for days of an office with a lead or day cutoff, a few
    bookings and returns, and sometimes a missed snapshot: enough to learn the cutoff."""
    days = draw(st.integers(2, 9))
    grid = np.array([T0 + d * DAY + 60 + 30 * i for d in range(days + 3) for i in range(12)])
    cut = draw(
        st.sampled_from(
            [
                Cutoff(lead=120),
                Cutoff(lead=30),
                Cutoff(day=(1, 14 * 60)),
                Cutoff(day=(0, 420)),
                Cutoff(lead=240, day=(1, 19 * 60)),
            ]
        )
    )
    expiry = cut.expiry(grid)
    taken = dict(
        draw(
            st.lists(
                st.tuples(st.sampled_from(grid.tolist()), st.integers(0, days * 96)), max_size=40
            )
        )
    )
    back = dict(
        draw(
            st.lists(
                st.tuples(st.sampled_from(sorted(taken) or [0]), st.integers(0, days * 96)),
                max_size=10,
            )
        )
    )
    skip = set(draw(st.lists(st.integers(0, days * 96), max_size=8)))
    out = []
    for k in range(days * 96):
        if k in skip:
            continue
        t = T0 + 15 * k
        free = [s for s, e in zip(grid.tolist(), expiry, strict=True) if s > t and e > t
                and not (taken.get(s, 1 << 30) <= k < back.get(s, 1 << 30))]  # fmt: skip
        out.append((t, np.array(free, dtype=np.int64)))
    return out


def _fast(snaps, **kw):
    df = detect_events(snaps, **kw)
    assert df.schema == pl.Schema(SCHEMA)
    d = df["detected"].dt.epoch("s").to_numpy() // 60
    s = df["slot"].dt.epoch("s").to_numpy() // 60
    return list(zip(d.tolist(), s.tolist(), df["event"].to_list(), strict=True))


@EXAMPLES
@given(offices(), st.sampled_from([None, 20, 35, 60]))
def test_detect_events_equals_the_reference(snaps, max_gap):
    kw = {} if max_gap is None else {"max_gap_minutes": max_gap}
    assert _fast(snaps, **kw) == ref_detect(snaps, max_gap=max_gap or 35)


@EXAMPLES
@given(
    offices(),
    st.sampled_from(
        [
            [Cutoff(lead=60)],
            [Cutoff(day=(1, 19 * 60))],
            [Cutoff(lead=120, day=(0, 420))],
            [Cutoff(lead=30), Cutoff(lead=300, since=T0 + DAY)],
        ]
    ),
)
def test_detect_events_with_cutoffs_equals_the_reference(snaps, cuts):
    assert _fast(snaps, cutoffs=cuts) == ref_detect(snaps, cutoffs=cuts)


@EXAMPLES
@given(offices(days=9))
def test_learned_cutoffs_equal_the_reference(snaps):
    assert fast_cutoffs.learn_cutoffs(snaps) == ref_learn_cutoffs(snaps)
    assert fast_cutoffs.learn_cutoff(snaps) == ref_learn_cutoff(snaps)
    cuts = ref_learn_cutoffs(snaps)
    assert _fast(snaps, cutoffs=cuts) == ref_detect(snaps, cutoffs=cuts)


@settings(max_examples=25, deadline=None)
@given(regular_offices())
def test_cutoffs_and_expiries_of_regular_offices_equal_the_reference(snaps):
    cuts = ref_learn_cutoffs(snaps)
    assert fast_cutoffs.learn_cutoffs(snaps) == cuts
    assert _fast(snaps, cutoffs=cuts) == ref_detect(snaps, cutoffs=cuts)


@EXAMPLES
@given(offices())
def test_track_differences_and_runs(snaps):
    track = Track.from_pairs(snaps)
    pairs = track.pairs()
    assert [t for t, _ in pairs] == [t for t, _ in snaps]
    for (_, a), (_, b) in zip(snaps, pairs, strict=True):
        assert np.array_equal(np.unique(a), b)
    for i in range(1, track.n_runs):
        a, b = track.states[i - 1], track.states[i]
        assert not np.array_equal(a, b)
        assert np.array_equal(track.gone[i], np.setdiff1d(a, b))
        assert np.array_equal(track.new[i], np.setdiff1d(b, a))


@given(st.lists(st.lists(st.integers(0, 3000), max_size=30), max_size=20),
       st.lists(st.tuples(st.integers(-1, 25), st.integers(-50, 3100)), max_size=30),
       st.sampled_from(["left", "right"]))  # fmt: skip
def test_rows_search_is_searchsorted_of_each_row(rows, probes, side):
    track = Track(np.arange(len(rows)), np.arange(len(rows)), [np.array(r) for r in rows])
    states = track.states
    for r, v in probes:
        if 0 <= r < len(states):
            got = states.search([r], [v], side)[0]
            assert got == np.searchsorted(states[r], v, side)


def test_huge_minute_spans_fall_back_to_row_by_row():
    states = [np.array([0, 5, 1 << 61]), np.array([5, 1 << 61]), np.array([5, 7, 1 << 61])]
    track = Track(np.arange(3), np.arange(3), states)
    assert track.states.key is None
    assert [track.gone[i].tolist() for i in (1, 2)] == [[0], []]
    assert [track.new[i].tolist() for i in (1, 2)] == [[], [7]]
    assert track.states.search([0, 2, 2], [6, 7, 1 << 62], "right").tolist() == [2, 2, 3]


@given(st.lists(st.lists(st.integers(0, 1 << 20), max_size=40), min_size=1, max_size=8))
def test_distinct_counts_like_unique(arrays):
    arrays = [np.array(a, dtype=np.uint32) for a in arrays]
    assert _distinct(arrays) == len(np.unique(np.concatenate(arrays)))


def test_minutes_of_is_to_minutes():
    times = ["2021-07-12 08:00:59", "2021-07-12T23:59:00", "2021-07-13", "1999-12-31 00:01"]
    assert minutes_of(times).tolist() == [to_minutes(t) for t in times]
    assert minutes_of([5, np.int64(7)]).tolist() == [5, 7]


# -- segments --------------------------------------------------------------------------------
def ref_decode(blob):
    """Segment bytes -> snapshots, record by record with set operations."""
    import io

    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        a = {k: data[k] for k in data.files}
    names = [str(x) for x in a["locations"]]
    add_end, rem_end = np.cumsum(a["n_add"]), np.cumsum(a["n_rem"])
    ts = np.cumsum(a["ts"]).astype("datetime64[s]")
    state, out = {}, []
    for i, t in enumerate(ts):
        rows = np.flatnonzero(a["rec_snap"] == i)
        if len(rows):
            state = dict(state)
        for r in rows:
            loc = names[a["rec_loc"][r]]
            if not a["rec_present"][r]:
                state.pop(loc, None)
                continue
            added = a["added"][add_end[r] - a["n_add"][r] : add_end[r]]
            removed = a["removed"][rem_end[r] - a["n_rem"][r] : rem_end[r]]
            plus, minus = np.cumsum(added.astype(np.int64)), np.cumsum(removed.astype(np.int64))
            old = state.get(loc, np.empty(0, "<u4"))
            kept = np.setdiff1d(old, minus) if len(minus) else old
            state[loc] = np.union1d(kept, plus).astype("<u4") if len(plus) else kept
        out.append((str(t).replace("T", " "), segments.STATUS_NAMES[int(a["status"][i])], state))
    return out


@st.composite
def week_states(draw):
    names = ["a", "b", "c", "d"]
    out, state = [], {}
    for i in range(draw(st.integers(1, 25))):
        state = dict(state)
        for loc in draw(st.lists(st.sampled_from(names), max_size=3)):
            if draw(st.booleans()) and loc in state:
                del state[loc]  # vanishes
            else:
                free = draw(st.lists(st.integers(0, 400), max_size=25))
                state[loc] = np.unique(np.array(free, dtype=np.uint32) + 26_000_000)
        out.append((f"2021-07-12 {i // 4:02d}:{i % 4 * 15:02d}:05", state))
    return segments.with_statuses(out)


@EXAMPLES
@given(week_states(), st.booleans())
def test_decode_equals_the_reference(snaps, by_writer):
    if by_writer:  # the bounded-memory writer makes the same format
        universe = np.unique(np.concatenate([np.zeros(0, np.uint32)] +
                             [v for _, _, s in snaps for v in s.values()]))  # fmt: skip
        writer = segments.SegmentWriter(universe)
        for taken_at, _, state in snaps:
            writer.begin(taken_at)
            for loc, minutes in state.items():
                writer.put(loc, writer.positions(minutes))
            writer.end()
        blob = writer.finish()
    else:
        blob = segments.encode(snaps)
    fast, ref = segments.decode(blob), ref_decode(blob)
    assert [(t, s) for t, s, _ in fast] == [(t, s) for t, s, _ in ref]
    last_fast: dict = {}
    last_ref: dict = {}
    for (_, _, f), (_, _, r) in zip(fast, ref, strict=True):
        assert list(f) == list(r)
        for loc in r:
            assert f[loc].dtype == r[loc].dtype and np.array_equal(f[loc], r[loc])
            # unchanged locations keep their array object (callers test ``is``)
            assert (last_fast.get(loc) is f[loc]) == (last_ref.get(loc) is r[loc])
        last_fast, last_ref = f, r
