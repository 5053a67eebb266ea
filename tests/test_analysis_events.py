"""Event rules on hand-made sequences, the reference rule, insights and a small accuracy check."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from office_schedule.analysis.events import detect_events, reference_events, to_minutes
from office_schedule.analysis.insights import city_of, insights
from office_schedule.analysis.stream import store_events
from office_schedule.catalog.catalog import Source
from office_schedule.model import Location, ParsedSnapshot

T0 = to_minutes("2021-07-12 08:00:00")
DAY2 = T0 + 1440  # tomorrow 08:00
SLOTS = [DAY2 + 15 * i for i in range(8)]


def seq(*states, gaps=None):
    """Snapshots 15 minutes apart (or at the given minute offsets)."""
    times = gaps or [15 * i for i in range(len(states))]
    return [(T0 + t, np.array(s, dtype=np.int64)) for t, s in zip(times, states, strict=True)]


def events(snaps, kinds=("booked", "cancelled"), **kw):
    return [e for e in detect_events(snaps, **kw)["event"].to_list() if e in kinds]


def test_booking_confirmed_and_detected_at_first_missing_snapshot():
    s = SLOTS
    df = detect_events(seq(s, s[:3] + s[4:], s[:3] + s[4:]))
    assert df["event"].to_list() == ["booked"]
    assert df["detected"][0] == datetime(2021, 7, 12, 8, 15)
    assert df["slot"][0] == datetime(2021, 7, 13, 8, 45)
    assert df["lead_minutes"][0] == 1440 + 30


def test_flicker_is_neither_booked_nor_cancelled():
    s = SLOTS
    assert events(seq(s, s[:3] + s[4:], s, s)) == []


def test_unconfirmed_at_end_and_first_snapshot_report_nothing():
    s = SLOTS
    assert events(seq(s)) == []
    assert events(seq(s, s[1:])) == []


def test_cancellation_of_a_booked_slot_and_not_of_new_slots():
    s = SLOTS
    df = detect_events(seq(s[:7], s[:3] + s[4:7], s[:3] + s[4:7], s[:7], s))
    assert df["event"].to_list() == ["booked", "cancelled", "released"]
    assert df["detected"][1] == datetime(2021, 7, 12, 8, 45)


def test_gap_reports_nothing():
    s = SLOTS
    snaps = seq(s, s, s[1:], s[1:], gaps=[0, 15, 75, 90])
    assert events(snaps) == []
    assert events(snaps, max_gap_minutes=90) == ["booked"]


def test_moving_window_start_and_end_are_not_events():
    near = [T0 + 20, T0 + 25]  # pass within the grace period
    s = near + SLOTS
    later = SLOTS + [DAY2 + 1440 + 15 * i for i in range(3)]  # a new day appears
    assert events(seq(s, SLOTS + later[8:], SLOTS + later[8:])) == []


def test_mass_change_and_whole_day_withdrawal_are_not_bookings():
    s = SLOTS + [DAY2 + 1440 + 15 * i for i in range(6)]
    assert events(seq(s, s[:3], s[:3])) == []  # 11 of 14 gone
    assert events(seq(s, s[:8], s[:8])) == []  # the second day (6 slots) withdrawn
    assert events(seq(s, s[1:], s[1:])) == ["booked"]


def test_erratic_snapshot_keeps_the_baseline():
    s = SLOTS + [DAY2 + 1440 + 15 * i for i in range(6)]
    b = s[:4] + s[5:]  # s[4] booked while the office published an erratic snapshot
    df = detect_events(seq(s, s[:3], b, b))
    assert df["event"].to_list() == ["booked"]
    assert df["slot"][0] == datetime(2021, 7, 13, 9, 0)
    assert df["detected"][0] == datetime(2021, 7, 12, 8, 30)  # first reliable snapshot
    # a booked slot freed while the erratic snapshot hid it: cancelled when seen again
    c = s[:4] + s[5:]
    df = detect_events(seq(s, c, c, s[:3], s, s))
    assert df["event"].to_list() == ["booked", "cancelled"]
    assert df["detected"][1] == datetime(2021, 7, 12, 9, 0)


def test_stale_office_bulk_update_is_not_events():
    past = [T0 - 300]  # a slot five hours in the past: the office stopped updating
    s = past + SLOTS
    assert events(seq(s, s, s[:1] + SLOTS[2:], SLOTS[2:])) == []


def test_reference_rule_small_example():
    a, b, c = SLOTS[:3]
    snaps = seq([a, b, c], [a, c], [c], [b, c], [], [c], gaps=[0, 15, 30, 45, 60, 105])
    df = reference_events(snaps)
    assert df["event"].to_list() == ["booked", "cancelled", "booked"]
    assert df["slot"].to_list()[2] == datetime(2021, 7, 13, 8, 30)


def test_reference_counts_flicker_ours_not():
    s = SLOTS
    snaps = seq(s, s[:3] + s[4:], s)
    assert reference_events(snaps)["event"].to_list() == ["booked", "cancelled"]
    assert events(snaps) == []


def _fill_store(store):
    start = datetime(2021, 7, 12, 8, 0)
    free = [start + timedelta(days=1, minutes=15 * i) for i in range(8)]
    states = [free, free[:2] + free[3:], free[:2] + free[3:], free]
    for i, slots in enumerate(states):
        taken = start + timedelta(minutes=15 * i)
        parsed = ParsedSnapshot({"10": Location("10", "A", slots=tuple(slots))})
        store.save_snapshot(
            "stadtx", taken, taken.timestamp(), raw=parsed.to_truth(), parsed=parsed
        )


def test_store_events_and_insights(store):
    _fill_store(store)
    ev = store_events(store, ["stadtx"])
    assert ev.columns == ["source_id", "location_id", "detected", "slot", "lead_minutes", "event"]
    assert ev["event"].to_list() == ["booked", "cancelled"]
    catalog = {"stadtx": Source("stadtx", "Stadt Xhausen", "tevis", "https://x")}
    assert city_of("stadtx", catalog) == "Xhausen"
    out = insights(store, catalog, ["stadtx"], by="city")
    summary = out["summary"].row(0, named=True)
    assert summary["city"] == "Xhausen"
    assert (summary["appointments"], summary["cancellations"]) == (1, 1)
    assert summary["cancellation_rate"] == 1.0
    assert summary["slots_offered"] == 8
    assert out["slot_hour"]["hour"].to_list() == [8]
    assert out["lead_time"]["median_days"][0] == (1440 + 30 - 15) / 1440
    for name in ("daily", "weekly", "booking_hour", "booking_weekday", "busiest_hours"):
        assert isinstance(out[name], pl.DataFrame) and out[name].height >= 1
    by_loc = insights(store, None, ["stadtx"], by="location")["summary"]
    assert by_loc["location"].to_list() == ["stadtx/10"]


def test_accuracy_clean_scenario():
    # loaded from its file: bench/ on sys.path would shadow libraries for later tests
    path = Path(__file__).resolve().parents[1] / "bench" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("bench_accuracy", path)
    accuracy = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = accuracy  # dataclasses look their module up by name
    spec.loader.exec_module(accuracy)

    runs, log = accuracy.simulate("clean", {}, days=2, n_sources=3)
    truth = accuracy.observable_truth(runs, log)
    res = accuracy.score(accuracy.detections(runs, "ours"), truth, accuracy.truth_frame(log))
    for precision, recall, _, _ in res.values():
        assert precision >= 0.95 and recall >= 0.95


def test_slot_taken_during_a_gap_is_cancelled_when_it_comes_back():
    s = SLOTS
    gone = s[:3] + s[4:]
    snaps = seq(s, gone, gone, s, gaps=[0, 60, 75, 90])  # s[3] booked within the 60-min gap
    df = detect_events(snaps)
    assert events(snaps) == ["cancelled"]  # the booking's time is unknown: not reported
    assert df.filter(pl.col("event") == "cancelled")["slot"][0] == datetime(2021, 7, 13, 8, 45)
    # most slots withdrawn across a gap (rule 5) and published again are not cancellations
    many = SLOTS + [DAY2 + 1440 + 15 * i for i in range(6)]
    left = many[:3]
    assert events(seq(many, left, left, many, gaps=[0, 60, 75, 90])) == []
