"""Booking cutoffs: learned from snapshots, turned into expiries, shown by the CLI, simulated."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from office_schedule.analysis.cutoffs import Cutoff, cutoff_at, learn_cutoff, learn_cutoffs
from office_schedule.analysis.events import detect_events, to_minutes
from office_schedule.cli import main
from office_schedule.model import Location, ParsedSnapshot
from office_schedule.simulate.behaviour import BEHAVIOURS
from office_schedule.simulate.model import SimWorld

T0 = to_minutes("2021-07-12 00:00:00")  # a Monday
DAY = 1440


def grid(days=range(0, 8)):
    """Slots every 30 minutes, 08:00-15:30, on the given days after T0."""
    return np.array([T0 + d * DAY + 480 + 30 * i for d in days for i in range(16)])


def office(lead=None, day=None, booked=(), hours=3 * 24, start=0):
    """Snapshots every 15 minutes of an office with a cutoff and some booked slots."""
    slots = grid()
    cut = Cutoff(lead=lead, day=day)
    expiry = cut.expiry(slots)
    taken = set(booked)
    out = []
    for t in range(T0 + start, T0 + start + hours * 60, 15):
        free = slots[(slots > t) & (expiry > t)]
        out.append((t, np.array([s for s in free if (s, t) not in taken and s not in taken])))
    return out


def test_lead_cutoff_is_learned_from_the_floor_and_the_expiries():
    cut = learn_cutoff(office(lead=120))
    assert cut is not None and cut.day is None
    assert abs(cut.lead - 120) <= 15
    assert cut.expiries >= 20 and cut.sure == "sure"
    assert "2 h" in cut.describe()


def test_day_cutoff_is_learned_when_whole_days_vanish_at_one_clock():
    cut = learn_cutoff(office(day=(1, 14 * 60), hours=5 * 24))
    assert cut is not None and cut.lead is None
    offset, clock = cut.day
    assert offset == 1 and abs(clock - 14 * 60) <= 15
    assert "the day before" in cut.describe()


def test_no_cutoff_when_slots_stay_until_their_start():
    assert learn_cutoff(office()) is None


def test_expired_slots_are_not_appointments():
    snaps = office(lead=120)
    plain = detect_events(snaps)  # without cutoffs: every expiry is a "booking"
    assert (plain["event"] == "booked").sum() > 20
    ev = detect_events(snaps, cutoffs=learn_cutoffs(snaps))
    kinds = ev["event"].value_counts().to_dict(as_series=False)
    counts = dict(zip(kinds["event"], kinds["count"], strict=True))
    assert counts.get("booked", 0) == 0 and counts["expired"] > 20
    assert ev.filter(pl.col("event") == "expired")["lead_minutes"].max() <= 120


def test_a_real_booking_next_to_expiries_is_still_found():
    slot = int(T0 + 2 * DAY + 600)  # day 2, 10:00, booked on day 0 at 12:00
    snaps = office(lead=120)
    snaps = [(t, a[a != slot] if t >= T0 + 720 else a) for t, a in snaps]
    ev = detect_events(snaps, cutoffs=learn_cutoffs(snaps))
    booked = ev.filter(pl.col("event") == "booked")
    assert booked.height == 1
    assert booked["slot"][0] == datetime(2021, 7, 14, 10, 0)


def test_cutoffs_per_week_carry_and_change():
    first = office(lead=60, hours=7 * 24)
    second = [(t + 7 * DAY, a + 7 * DAY) for t, a in office(lead=24 * 60, hours=7 * 24)]
    cuts = learn_cutoffs(first + second)
    assert len(cuts) == 2
    assert all(abs(c.lead - want) <= 15 for c, want in zip(cuts, (60, 1440), strict=True))
    assert cuts[1].since == T0 + 7 * DAY
    assert cutoff_at(cuts, T0 + 3 * DAY) is cuts[0]
    assert cutoff_at(cuts, T0 + 9 * DAY) is cuts[1]
    assert cutoff_at(cuts, T0 - DAY) is cuts[0]  # before the first: the first
    assert cutoff_at([], T0) is None
    same = learn_cutoffs(first + [(t + 7 * DAY, a + 7 * DAY) for t, a in first])
    assert len(same) == 1  # a value that continues is not repeated


def _fill(store):
    for t, free in office(lead=120, hours=2 * 24):
        taken = datetime(1970, 1, 1) + timedelta(minutes=int(t))
        slots = tuple(datetime(1970, 1, 1) + timedelta(minutes=int(s)) for s in free)
        parsed = ParsedSnapshot({"10": Location("10", "A", slots=slots)})
        store.save_snapshot(
            "stadtx", taken, taken.timestamp(), raw=parsed.to_truth(), parsed=parsed
        )


def test_events_and_cutoffs_commands(store, tmp_path):
    _fill(store)
    db = str(store.path)
    runner = CliRunner()
    out = runner.invoke(main, ["events", "--db", db, "-i", "stadtx"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[0] == "source_id,location_id,detected,slot,lead_minutes,kind"
    kinds = {line.rsplit(",", 1)[1] for line in lines[1:]}
    assert "expired" in kinds and "booked" not in kinds
    target = tmp_path / "ev.parquet"
    args = ["events", "--db", db, "-i", "stadtx", "--format", "parquet", "--out", str(target)]
    out = runner.invoke(main, args, catch_exceptions=False)
    assert out.exit_code == 0 and pl.read_parquet(target).height == len(lines) - 1
    out = runner.invoke(main, ["events", "--db", db, "-i", "stadtx", "--format", "parquet"])
    assert out.exit_code == 2 and "--out" in out.output
    ref = runner.invoke(main, ["events", "--db", db, "-i", "stadtx", "--rule", "reference"])
    # the published rule skips the first free slot, which is the one expiring each time
    assert ref.exit_code == 0 and ref.output.startswith("source_id,")
    out = runner.invoke(
        main, ["insights", "--db", db, "-i", "stadtx", "--cutoffs", "--format", "json"],
        catch_exceptions=False,
    )  # fmt: skip
    rows = json.loads(out.output)["cutoffs"]
    assert len(rows) == 1 and rows[0]["location_id"] == "10"
    assert abs(rows[0]["lead_minutes"] - 120) <= 15


def test_simulated_cutoffs_are_what_the_office_publishes():
    world = SimWorld(seed=3, n_sources=2, frozen=True, behaviour="cutoff-lead")
    now = datetime(2026, 5, 4, 9, 0)
    for src in world.sources.values():
        for lid, loc in src.locations.items():
            assert loc.cutoff_lead is not None
            for m in world.published_day(src, lid, now.date(), now):
                assert m - (9 * 60) >= loc.cutoff_lead
    evening = SimWorld(seed=3, n_sources=1, frozen=True, behaviour="cutoff-evening")
    src = next(iter(evening.sources.values()))
    lid = next(iter(src.locations))
    tomorrow = (now + timedelta(days=1)).date()
    assert evening.published_day(src, lid, tomorrow, now.replace(hour=19, minute=5)) == []


def test_behaviours_are_deterministic_and_named():
    with pytest.raises(ValueError, match="unknown behaviour"):
        SimWorld(seed=1, n_sources=1, behaviour="nope")
    assert "realistic" in BEHAVIOURS and "plain" in BEHAVIOURS
    a = SimWorld(seed=5, n_sources=3, behaviour="realistic")
    b = SimWorld(seed=5, n_sources=3, behaviour="realistic")
    plain = SimWorld(seed=5, n_sources=3)
    for sid, src in a.sources.items():
        assert list(src.locations) == list(plain.sources[sid].locations)
        for lid, loc in src.locations.items():
            other = b.sources[sid].locations[lid]
            assert (loc.cutoff_lead, loc.cutoff_day, loc.release_clock) == (
                other.cutoff_lead, other.cutoff_day, other.release_clock,
            )  # fmt: skip
