"""Events and cutoffs read a week at a time equal those of the whole range at once.

``store_events`` and ``store_cutoffs`` feed each location's rule one ISO week after the
other (``analysis/stream.py``); the references below take each location's whole range as
one Track, as the code did before. Hypothesis builds stores of several weeks: offices with a
lead or day cutoff, ranges that start mid-week (a first week too short to learn from),
missed snapshots, bookings, returns, withdrawals, erratic snapshots and locations that are
absent for a while.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from office_schedule.analysis import store_cutoffs, store_events
from office_schedule.analysis.cutoffs import Cutoff, learn_cutoffs
from office_schedule.analysis.events import (
    SCHEMA,
    _columns,
    _Detector,
    _options,
    _reference,
    _sorted,
)
from office_schedule.analysis.series import iter_location_tracks, to_minutes
from office_schedule.store import SQLiteStore

DAY = 1440
T0 = to_minutes("2021-07-12 00:00:00")  # a Monday
CUTS = [Cutoff(lead=120), Cutoff(day=(1, 14 * 60)), Cutoff(lead=240, day=(0, 420)), None]


@st.composite
def office(draw, first: int, snapshots: int):
    """Free slots of one office at snapshots ``first, first + 15, ...`` (None: absent)."""
    days = snapshots // 96 + 4
    grid = np.array([first - first % DAY + d * DAY + 8 * 60 + 30 * i
                     for d in range(days) for i in range(draw(st.integers(2, 12)))])  # fmt: skip
    cut = draw(st.sampled_from(CUTS))
    expiry = cut.expiry(grid) if cut is not None else grid
    n = snapshots
    taken = dict(draw(st.lists(st.tuples(st.sampled_from(grid.tolist()), st.integers(0, n)),
                               max_size=60)))  # fmt: skip
    back = dict(draw(st.lists(st.tuples(st.sampled_from(sorted(taken) or [0]),
                                        st.integers(0, n)), max_size=15)))  # fmt: skip
    odd = dict(draw(st.lists(st.tuples(st.integers(0, n), st.sampled_from(
        ["erratic", "empty", "withdraw", "stale"])), max_size=8)))  # fmt: skip
    absent = draw(st.lists(st.tuples(st.integers(0, n), st.integers(1, 400)), max_size=2))
    out: list[np.ndarray | None] = []
    last = None
    for k in range(n):
        t = first + 15 * k
        if any(a <= k < a + length for a, length in absent):
            out.append(None)
            continue
        state = np.array([s for s, e in zip(grid.tolist(), expiry.tolist(), strict=True)
                          if s > t and e > t and not (taken.get(s, 1 << 40) <= k
                                                      < back.get(s, 1 << 40))],
                         dtype=np.int64)  # fmt: skip
        action = odd.get(k)
        if action == "erratic":
            state = state[: len(state) // 3]
        elif action == "empty":
            state = state[:0]
        elif action == "withdraw" and len(state):
            state = state[state // DAY != state[0] // DAY]
        elif action == "stale":
            state = np.concatenate(([t - 200], state))
        if last is not None and np.array_equal(last, state):
            state = last  # the store hands back the same array while unchanged
        out.append(state)
        last = state
    return out


@st.composite
def stores(draw):
    """``(first minute, snapshot times kept, per location its states)``."""
    # often late in a week: a first week too short to learn a cutoff from
    day = draw(st.sampled_from([0, 2, 4, 5, 6, 6, 6]))
    first = T0 + day * DAY + draw(st.sampled_from([0, 7 * 60, 23 * 60, 23 * 60]))
    snapshots = draw(st.integers(20, 3 * 7 * 96))
    skip = set(draw(st.lists(st.integers(0, snapshots - 1), max_size=12)))
    gaps = draw(st.lists(st.tuples(st.integers(0, snapshots), st.integers(2, 200)), max_size=2))
    keep = [k for k in range(snapshots)
            if k not in skip and not any(a <= k < a + n for a, n in gaps)]  # fmt: skip
    offices = {
        loc: draw(office(first, snapshots)) for loc in ("10", "20")[: draw(st.integers(1, 2))]
    }
    return first, keep, offices


def _text(minutes: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def _fill(store, first, keep, offices) -> None:
    weeks: dict[str, list] = {}
    for k in keep:
        t = first + 15 * k
        state = {loc: states[k] for loc, states in offices.items() if states[k] is not None}
        year, week, _ = (datetime(1970, 1, 1) + timedelta(minutes=t)).isocalendar()
        weeks.setdefault(f"{year}-{week:02d}", []).append((_text(t), "ok", state))
    with store.transaction():
        for week, snaps in weeks.items():
            store.save_segment("city", week, snaps)


def whole_range_events(store, rule: str = "ours") -> pl.DataFrame:
    """The events as before: each location's whole range one Track, cutoffs learned on it."""
    locations, counts, parts = [], [], []
    for loc, track in iter_location_tracks(store, "city", "", "9999"):
        if rule == "reference":
            arrays = _reference(track.pairs())
        else:
            detector = _Detector(learn_cutoffs(track), _options()).run(track)
            arrays = _sorted(*detector.arrays())
        if len(arrays[0]):
            locations.append(loc)
            counts.append(len(arrays[0]))
            parts.append(arrays)
    if not parts:
        return pl.DataFrame(schema={"source_id": pl.Utf8, **SCHEMA})
    d, s, k = (np.concatenate(col) for col in zip(*parts, strict=True))
    df = _columns(locations, counts, d, s, k)
    return df.select(pl.lit("city", dtype=pl.Utf8).alias("source_id"), *SCHEMA)


@settings(max_examples=40, deadline=None)
@given(stores())
def test_weekly_events_and_cutoffs_equal_the_whole_range(tmp_path_factory, data):
    with SQLiteStore(tmp_path_factory.mktemp("s") / "s.db") as store:
        _fill(store, *data)
        for rule in ("ours", "reference"):
            got = store_events(store, ["city"], rule=rule)
            assert got.equals(whole_range_events(store, rule)), rule
        cutoffs = store_cutoffs(store, ["city"])
        expected = [
            (loc, c.describe(), c.since * 60_000_000)
            for loc, track in iter_location_tracks(store, "city", "", "9999")
            for c in learn_cutoffs(track)
        ]
        got_cutoffs = cutoffs.select("location_id", "cutoff", pl.col("since").dt.epoch("us")).rows()
        assert got_cutoffs == expected


def test_spilled_events_equal_the_events_in_memory(tmp_path, monkeypatch):
    """Across several files (a location's events never split) and sources, in order."""
    from office_schedule.analysis import stream

    monkeypatch.setattr(stream, "SPILL_ROWS", 5)
    first = T0 + 3 * DAY
    grid = np.array([first + d * DAY + 9 * 60 + 30 * i for d in range(1, 12) for i in range(8)])
    offices = {}
    for loc, step in (("10", 7), ("20", 11), ("30", 13)):
        states, free = [], set(grid.tolist())
        for k in range(7 * 96):
            if k % step == 0 and free:
                free.discard(sorted(free)[k % len(free)])
            t = first + 15 * k
            states.append(np.array(sorted(s for s in free if s > t + 60), dtype=np.int64))
        offices[loc] = states
    with SQLiteStore(tmp_path / "s.db") as store:
        _fill(store, first, list(range(7 * 96)), offices)
        store.save_segment("town", "2021-28", [("2021-07-15 08:00:00", "ok", {"1": grid[:3]})])
        expected = store_events(store, ["city", "town"])
        assert expected.height > 3 * 5
        with stream.spilled_events(store, ["city", "town"]) as ev:
            assert isinstance(ev, pl.LazyFrame)
            assert ev.collect().equals(expected)
        with stream.spilled_events(store, ["nowhere"]) as ev:
            assert ev.collect().schema == expected.schema
    stream.release_memory()
